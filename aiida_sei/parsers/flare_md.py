"""``sei.flare_md`` parser: the segment's results -> MD state, thinned trajectory, uncertainties
and, when the uncertainty called for DFT, the triggering structure."""

from __future__ import annotations

import io
import json

import ase.io
import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.flare_md import RESULTS_FILE, STATE_OUT, TRAJECTORY_FILE
from aiida_sei.data.md_state import MdStateData
from aiida_sei.parsers import missing_output
from aiida_sei.science.md_segment import MdState


def trajectory_node(images, timestep_fs: float) -> orm.TrajectoryData:
    """Thinned frames as one TrajectoryData (times in ps, maximum uncertainty per frame)."""
    steps = np.array([image.info['step'] for image in images])
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(
        symbols=images[0].get_chemical_symbols(),
        positions=np.array([image.positions for image in images]),
        cells=np.array([image.cell.array for image in images]),
        stepids=steps,
        pbc=[bool(p) for p in images[0].pbc],
        times=steps * timestep_fs / 1000.0,
    )
    trajectory.set_array('max_uncertainty', np.array([image.info['max_uncertainty'] for image in images]))
    return trajectory


class FlareMdParser(Parser):
    """Outputs of a segment; a blown-up MD or missing files become exit codes."""

    def parse(self, **kwargs) -> ExitCode | None:
        retrieved = self.retrieved.base.repository
        try:
            results = json.loads(retrieved.get_object_content(RESULTS_FILE))
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_OUTPUT_MISSING)
        except json.JSONDecodeError as exception:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=str(exception))

        self.out('misc', orm.Dict({k: v for k, v in results.items() if k != 'uncertainties'}))
        if results['status'] == 'unstable':
            return self.exit_codes.ERROR_MD_UNSTABLE.format(message=results['message'])
        try:
            state = MdState.from_json(retrieved.get_object_content(STATE_OUT))
        except (FileNotFoundError, json.JSONDecodeError, KeyError) as exception:
            return self.exit_codes.ERROR_OUTPUT_CORRUPT.format(message=f'{STATE_OUT}: {exception}')

        self.out('state', MdStateData(state))
        uncertainties = orm.ArrayData()
        uncertainties.set_array('uncertainties', np.array(results['uncertainties'], float))
        self.out('uncertainties', uncertainties)
        if results['triggered']:
            self.out('trigger', orm.StructureData(ase=state.atoms))
        text = retrieved.get_object_content(TRAJECTORY_FILE)
        if text.strip():  # empty when the segment was shorter than `thin` steps
            images = ase.io.read(io.StringIO(text), index=':', format='extxyz')
            self.out('trajectory', trajectory_node(images, self.node.inputs.parameters['timestep_fs']))
        return None
