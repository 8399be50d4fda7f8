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
from aiida_sei.parsers import missing_output, trajectory_from_images
from aiida_sei.science.md_segment import MdState



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
            self.out('trajectory', trajectory_from_images(images, self.node.inputs.parameters['timestep_fs'], {'max_uncertainty': 'max_uncertainty'}))
        return None
