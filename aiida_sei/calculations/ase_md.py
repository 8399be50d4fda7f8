"""``sei.ase_md``: MD with nequip's ASE calculator on a compiled Allegro model.

The quick path (no LAMMPS build, any Python with nequip and ASE) and the reference for
``sei.lammps``: same parameter names and units, same outputs where they make sense. The job
copies the runner ``aiida_sei/runners/ase_md.py``, the structure and the compiled model into its
folder; the machine that runs it needs nequip and ASE, not aiida-sei.
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import set_serial_defaults
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import CompiledModelData
from aiida_sei.runners import RUNNER_DIRECTORY

RUNNER = 'ase_md.py'
INPUT_FILE = 'aiida_input.json'
STRUCTURE_FILE = 'structure.extxyz'
MODEL_FILE = 'model.nequip.pt2'
RESULTS_FILE = 'results.json'
TRAJECTORY_FILE = 'trajectory.extxyz'

DEFAULTS = {
    'ensemble': 'npt',           # npt (Melchionna: Nosé-Hoover + Parrinello-Rahman) or nvt (Nosé-Hoover chain)
    'temperature': 300.0,        # K; initial velocities are drawn at this temperature
    'pressure': 0.0,             # GPa (NPT only)
    'timestep': 1.0,             # fs
    'steps': 1000,
    'thermostat_damping': 0.1,   # ps (paper)
    'barostat_damping': 1.0,     # ps (paper)
    'bulk_modulus': 30.0,        # GPa: sets the barostat mass with barostat_damping (Li6PS5Cl ~ 30 GPa)
    'seed': 12345,               # initial velocities
    'dump_interval': 100,        # steps between trajectory frames
}
ENSEMBLES = ('npt', 'nvt')
POSITIVE = ('temperature', 'timestep', 'thermostat_damping', 'barostat_damping', 'bulk_modulus')
INTEGERS = {'steps': 1, 'dump_interval': 1, 'seed': 0}  # name -> smallest value


def md_settings(parameters: dict) -> dict:
    """The defaults updated with ``parameters``; raises ValueError for unknown or bad values."""
    unknown = set(parameters) - set(DEFAULTS)
    if unknown:
        raise ValueError(f'unknown MD parameters {sorted(unknown)}; known: {", ".join(DEFAULTS)}')
    settings = {**DEFAULTS, **parameters}
    if settings['ensemble'] not in ENSEMBLES:
        raise ValueError(f'ensemble must be one of {ENSEMBLES}, got {settings["ensemble"]!r}')
    for key in POSITIVE:
        if isinstance(settings[key], bool) or not isinstance(settings[key], (int, float)) or not settings[key] > 0:
            raise ValueError(f'{key} must be a positive number, got {settings[key]!r}')
    for key, smallest in INTEGERS.items():
        if isinstance(settings[key], bool) or not isinstance(settings[key], int) or settings[key] < smallest:
            raise ValueError(f'{key} must be an integer >= {smallest}, got {settings[key]!r}')
    return settings


def validate_parameters(value, _):
    try:
        md_settings(value.get_dict())
    except ValueError as exception:
        return str(exception)
    return None


def validate_inputs(inputs, namespace):
    """A model compiled for ASE whose species cover the structure's."""
    if any(port not in namespace for port in ('structure', 'model')):
        return None  # exposed in part by a work chain, which passes the rest itself
    model, structure = inputs['model'], inputs['structure']
    if model.target != 'ase':
        return f'the model is compiled for {model.target!r}; sei.ase_md needs one compiled with --target ase'
    missing = set(structure.get_symbols_set()) - set(model.species or [])
    if missing:
        return f'the structure holds {", ".join(sorted(missing))}, which the model lacks (model species: {", ".join(model.species or [])})'
    return None


class AseMdCalculation(CalcJob):
    """NVT or NPT MD with nequip's ASE calculator: trajectory with energies and run information."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'model_md'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='Initial structure (periodic).')
        spec.input('model', valid_type=CompiledModelData, help='Allegro model compiled with --target ase for the machine that runs the MD.')
        spec.input('parameters', valid_type=orm.Dict, default=lambda: orm.Dict({}), validator=validate_parameters,
                   help=f'MD settings (K, GPa, fs, ps): {", ".join(DEFAULTS)}.')
        spec.inputs.validator = validate_inputs
        set_serial_defaults(spec, 'sei.ase_md')
        spec.output('trajectory', valid_type=orm.TrajectoryData, required=False,
                    help='Every dump_interval-th frame: positions, cells (Å), steps, times (ps), energies (eV), temperatures (K).')
        spec.output('misc', valid_type=orm.Dict, help='nequip/ASE/torch versions, atoms, steps, wall time (s), atom-steps per second.')
        spec.exit_code(301, 'ERROR_OUTPUT_MISSING', message='The runner wrote no results: it crashed or was killed (see aiida.out).')
        spec.exit_code(302, 'ERROR_TRAJECTORY_MISSING', message='The runner wrote no trajectory frame.')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before the MD finished.')
        spec.exit_code(410, 'ERROR_MD_UNSTABLE', message='The MD blew up: {message}')

    def prepare_for_submission(self, folder):
        settings = md_settings(self.inputs.parameters.get_dict())
        with folder.open(INPUT_FILE, 'w') as handle:
            json.dump({'md': settings}, handle, indent=2)
        self.inputs.structure.get_ase().write(folder.get_abs_path(STRUCTURE_FILE), format='extxyz')
        folder.insert_path(str(RUNNER_DIRECTORY / RUNNER), RUNNER)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [RUNNER]
        codeinfo.stdout_name = self.metadata.options.output_filename
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        # the model is a node already: copied from the repository, not stored again
        calcinfo.local_copy_list = [(self.inputs.model.uuid, self.inputs.model.filename, MODEL_FILE)]
        calcinfo.retrieve_list = [RESULTS_FILE, self.metadata.options.output_filename]
        # the frames end up in the trajectory node; the raw file need not be kept as well
        calcinfo.retrieve_temporary_list = [TRAJECTORY_FILE]
        return calcinfo
