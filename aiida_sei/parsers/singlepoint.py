"""Shared parser of the single-point CalcJobs: results.json -> FrameData + misc."""

from __future__ import annotations

import json

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.singlepoint import RESULTS_FILE
from aiida_sei.data import FrameData
from aiida_sei.parsers import missing_output
from aiida_sei.science.frames import Frame, FrameError, settings_hash


class SinglePointParser(Parser):
    """Turns a finished single point into a labelled frame; failures into exit codes.

    Subclasses say which backend made the frame, whether it is DFT, and which inputs define
    the settings (for the frame's ``settings_hash``).
    """

    is_dft: bool

    def backend(self) -> str:
        raise NotImplementedError

    def settings(self) -> dict:
        raise NotImplementedError

    def status_exit_code(self, results: dict) -> ExitCode | None:
        """Exit code for a runner status other than 'ok' (subclasses add engine failures)."""
        return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f'unknown status {results.get("status")!r}')

    def settings_of_run(self, results: dict) -> dict:
        """Settings only the run knows (GPAW: the setups' fingerprints), added to settings()."""
        return {}

    def final_atoms(self, results: dict):
        """The structure the results belong to: the input's (a relaxation moves it)."""
        return self.node.inputs.structure.get_ase()

    def misc(self, results: dict) -> dict:
        """What of the results goes into `misc`: all but what the frame holds."""
        return {key: value for key, value in results.items() if key not in ('forces', 'stress')}

    def extra_outputs(self, results: dict, atoms) -> dict:
        """Outputs besides `misc` and the frame (GPAW: a relaxation's `structure`, the DOS)."""
        return {}

    def parse(self, **kwargs) -> ExitCode | None:
        try:
            results = json.loads(self.retrieved.base.repository.get_object_content(RESULTS_FILE))
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_OUTPUT_MISSING)
        except json.JSONDecodeError as exception:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=str(exception))

        self.out('misc', orm.Dict(self.misc(results)))
        try:
            atoms = self.final_atoms(results)
            extra = self.extra_outputs(results, atoms)
        except (KeyError, TypeError, ValueError) as exception:  # truncated or tampered: no frame, structure or DOS from them
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f'incomplete results: {exception!r}')
        for label, node in extra.items():
            self.out(label, node)
        if results.get('status') != 'ok':
            return self.status_exit_code(results)
        try:
            frame = self._frame(results, atoms)
        except (FrameError, KeyError, ValueError) as exception:
            return self.exit_codes.ERROR_INVALID_FRAME.format(message=str(exception))
        self.out('frame', frame)
        return None

    def _frame(self, results: dict, atoms) -> FrameData:
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
        backend, settings = self.backend(), {**self.settings(), **self.settings_of_run(results)}
        # converged: a single point whose SCF did not converge ends in an exit code, never a frame
        return FrameData(frame, backend=backend, is_dft=self.is_dft, settings=settings, settings_hash=settings_hash(backend, settings),
                         converged=True, **metadata)
