"""``sei.flare_md``: one active-learning MD segment with a FLARE SGP, as a job that can run on a
cluster node.

The job copies the runner ``aiida_sei/runners/flare_md.py`` and the two pure modules it needs
(``science/sgp.py``, ``science/md_segment.py``, as the package ``sei_md``) into its folder, so
the machine that runs it needs FLARE and ASE, not aiida-sei. It starts from an ``sei.md_state``
(continued exactly) or from a structure (momenta drawn from the seed).
"""

from __future__ import annotations

import io
import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import set_serial_defaults
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data.md_state import MdStateData
from aiida_sei.data.sgp import SgpModelData
from aiida_sei.runners import RUNNER_DIRECTORY
from aiida_sei.science import md_segment

RUNNER = 'flare_md.py'
SCIENCE_DIRECTORY = RUNNER_DIRECTORY.parent / 'science'
INPUT_FILE = 'aiida_input.json'
RESULTS_FILE = 'results.json'
STATE_IN, STATE_OUT = 'state.json', 'state_out.json'
TRAJECTORY_FILE = 'trajectory.extxyz'

#: parameter -> (check, what it must be); `pressure_GPa` absent or null means NVT.
PARAMETERS = {
    'max_steps': (lambda v: isinstance(v, int) and v >= 1, 'an integer >= 1'),
    'threshold': (lambda v: _number(v) and v > 0, 'a number > 0'),
    'temperature_K': (lambda v: _number(v) and v > 0, 'a number > 0'),
    'timestep_fs': (lambda v: _number(v) and v > 0, 'a number > 0'),
    'pressure_GPa': (lambda v: v is None or _number(v), 'a number or null (NVT)'),
    'seed': (lambda v: isinstance(v, int) and v >= 0, 'an integer >= 0'),
    'thin': (lambda v: isinstance(v, int) and v >= 1, 'an integer >= 1'),
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def validate_parameters(parameters, _):
    values = parameters.get_dict()
    unknown = set(values) - set(PARAMETERS)
    if unknown:
        return f'unknown MD parameters {sorted(unknown)}; known: {", ".join(PARAMETERS)}'
    for name, (check, what) in PARAMETERS.items():
        if name not in values and name != 'pressure_GPa':
            return f'MD parameter `{name}` is missing'
        if name in values and (isinstance(values[name], bool) or not check(values[name])):
            return f'MD parameter `{name}` must be {what}, got {values[name]!r}'
    return None


def validate_inputs(inputs, namespace):
    if any(port not in namespace for port in ('structure', 'state', 'sgp')):
        return None  # exposed in part by a work chain, which passes the rest itself
    if ('structure' in inputs) == ('state' in inputs):
        return 'give exactly one of `structure` (a new run) and `state` (a run to continue)'
    start = inputs['state'].get_state().atoms if 'state' in inputs else inputs['structure'].get_ase()
    missing = set(start.get_chemical_symbols()) - set(inputs['sgp'].species)
    if missing:
        return f'the SGP knows {", ".join(inputs["sgp"].species)} but the structure also has {", ".join(sorted(missing))}'
    return None


class FlareMdCalculation(CalcJob):
    """SGP MD until the largest per-atom uncertainty passes ``threshold`` or ``max_steps`` end."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'md'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('sgp', valid_type=SgpModelData, help='The FLARE SGP that drives the MD.')
        spec.input('structure', valid_type=orm.StructureData, required=False, validator=validate_structure, help='Start of a new run.')
        spec.input('state', valid_type=MdStateData, required=False, help='State of a run to continue.')
        spec.input('parameters', valid_type=orm.Dict, validator=validate_parameters, help=f'MD settings: {", ".join(PARAMETERS)}.')
        spec.inputs.validator = validate_inputs
        set_serial_defaults(spec, 'sei.flare_md')
        spec.output('state', valid_type=MdStateData, help='Where the MD stopped, to continue from.')
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False, help='Every `thin`-th frame, with its maximum uncertainty.')
        spec.output('uncertainties', valid_type=orm.ArrayData, help='Per-atom uncertainties of the last frame.')
        spec.output('trigger', valid_type=orm.StructureData, required=False, help='The last frame, when its uncertainty called for DFT.')
        spec.output('misc', valid_type=orm.Dict, help='Steps, whether triggered, maximum uncertainty, versions, wall time.')
        spec.exit_code(301, 'ERROR_OUTPUT_MISSING', message='The runner wrote no results: it crashed or was killed (see aiida.out).')
        spec.exit_code(302, 'ERROR_OUTPUT_CORRUPT', message='The results could not be read: {message}')
        spec.exit_code(310, 'ERROR_MD_UNSTABLE', message='The MD blew up: {message}')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before the segment finished.')

    def _start_state(self) -> md_segment.MdState:
        if 'state' in self.inputs:
            return self.inputs.state.get_state()
        parameters = self.inputs.parameters.get_dict()
        return md_segment.initial_state(self.inputs.structure.get_ase(), parameters['temperature_K'], parameters['seed'])

    def prepare_for_submission(self, folder):
        with folder.open(INPUT_FILE, 'w') as handle:
            json.dump({'md': self.inputs.parameters.get_dict()}, handle, indent=2)
        with folder.open('sgp.json', 'w') as handle:
            handle.write(self.inputs.sgp.get_content())
        with folder.open(STATE_IN, 'w') as handle:
            handle.write(self._start_state().to_json())
        folder.insert_path(str(RUNNER_DIRECTORY / RUNNER), RUNNER)
        package = folder.get_subfolder('sei_md', create=True)
        package.create_file_from_filelike(io.StringIO(''), '__init__.py', mode='w')
        for module in ('sgp.py', 'md_segment.py'):
            package.insert_path(str(SCIENCE_DIRECTORY / module), module)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [RUNNER]
        codeinfo.stdout_name = self.metadata.options.output_filename
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [RESULTS_FILE, STATE_OUT, TRAJECTORY_FILE, self.metadata.options.output_filename]
        return calcinfo
