"""``sei.gpaw`` parser: results.json of the GPAW runner -> FrameData + misc."""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.gpaw import RESULTS_FILE
from aiida_sei.data import FrameData
from aiida_sei.science.frames import Frame, FrameError, settings_hash


class GpawParser(Parser):
    """Turns a finished GPAW single point into a labelled frame; failures into exit codes."""

    def parse(self, **kwargs) -> ExitCode | None:
        try:
            results = json.loads(self.retrieved.base.repository.get_object_content(RESULTS_FILE))
        except FileNotFoundError:
            if self.node.exit_status == self.node.process_class.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status:
                return self.exit_codes.ERROR_OUT_OF_WALLTIME
            return self.exit_codes.ERROR_OUTPUT_MISSING
        except json.JSONDecodeError as exception:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=str(exception))

        misc = {k: v for k, v in results.items() if k not in ('forces', 'stress')}
        self.out('misc', orm.Dict(misc))
        if results.get('status') == 'scf_not_converged':
            return self.exit_codes.ERROR_SCF_NOT_CONVERGED
        if results.get('status') != 'ok':
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f'unknown status {results.get("status")!r}')
        try:
            frame = self._frame(results)
        except (FrameError, KeyError, ValueError) as exception:
            return self.exit_codes.ERROR_INVALID_FRAME.format(message=str(exception))
        self.out('frame', frame)
        return None

    def _frame(self, results: dict) -> FrameData:
        atoms = self.node.inputs.structure.get_ase()
        frame = Frame(
            numbers=atoms.numbers,
            positions=atoms.positions,
            cell=atoms.cell.array,
            pbc=atoms.pbc,
            energy=float(results['energy']),
            forces=np.array(results['forces'], float),
            stress=np.array(results['stress'], float),
        )
        metadata = self.node.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.node.inputs else {}
        settings = {'parameters': self.node.inputs.parameters.get_dict(), 'kpoints': self.node.inputs.kpoints.get_kpoints_mesh()[0]}
        return FrameData(frame, backend='gpaw', is_dft=True, settings_hash=settings_hash('gpaw', settings), **metadata)
