"""``sei.gpaw``: a GPAW PBE plane-wave single point (energy, forces, stress) as a CalcJob.

GPAW is the open-source DFT engine of the embedded profile. The job runs the standalone script
``aiida_sei/runners/gpaw_singlepoint.py`` with the code's Python, which must have GPAW.
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.data import FrameData
from aiida_sei.runners import RUNNER_DIRECTORY
from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError

RUNNER = 'gpaw_singlepoint.py'
INPUT_FILE = 'aiida_input.json'
STRUCTURE_FILE = 'structure.extxyz'
RESULTS_FILE = 'results.json'
LOG_FILE = 'gpaw.txt'

#: Parameters the runner needs; values in eV (ecut, smearing width).
REQUIRED_PARAMETERS = ('ecut', 'xc', 'smearing', 'convergence', 'maxiter', 'mixer')


def validate_structure(structure, _):
    try:
        catalogue.check_atoms(structure.get_ase())
    except StructureInputError as exception:
        return str(exception)
    return None


def validate_parameters(parameters, _):
    missing = [key for key in REQUIRED_PARAMETERS if key not in parameters.get_dict()]
    if missing:
        return f'GPAW parameters lack {", ".join(missing)}'
    if not parameters['ecut'] > 0 or not parameters['maxiter'] > 0:
        return 'ecut and maxiter must be positive'
    return None


def validate_kpoints(kpoints, _):
    try:
        mesh, offset = kpoints.get_kpoints_mesh()
    except AttributeError:
        return 'kpoints must be a mesh (KpointsData.set_kpoints_mesh)'
    if any(int(n) < 1 for n in mesh) or any(offset):
        return f'kpoints must be a Gamma-centred mesh of positive integers, got {mesh} offset {offset}'
    return None


class GpawCalculation(CalcJob):
    """Single point with GPAW (PW mode): the labelled frame and GPAW's own metadata."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='Structure to label.')
        spec.input('kpoints', valid_type=orm.KpointsData, validator=validate_kpoints, help='Gamma-centred k-point mesh.')
        spec.input('parameters', valid_type=orm.Dict, validator=validate_parameters, help='GPAW settings: ecut (eV), xc, smearing (eV), convergence, maxiter, mixer.')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system, condition, origin for the frame.')
        options = spec.inputs['metadata']['options']
        options['parser_name'].default = 'sei.gpaw'
        options['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
        options['withmpi'].default = False
        options['output_filename'].default = 'aiida.out'
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.output('misc', valid_type=orm.Dict, help='GPAW version, SCF iterations, Fermi level, wall time.')
        spec.exit_code(301, 'ERROR_OUTPUT_MISSING', message='GPAW wrote no results file: it crashed or was killed (see gpaw.txt and the scheduler output).')
        spec.exit_code(302, 'ERROR_OUTPUT_CORRUPT', message='The results file could not be read: {message}')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before GPAW finished.')
        spec.exit_code(410, 'ERROR_SCF_NOT_CONVERGED', message='The SCF cycle did not converge within maxiter steps.')
        spec.exit_code(420, 'ERROR_INVALID_FRAME', message='GPAW returned an unusable frame: {message}')

    def prepare_for_submission(self, folder):
        atoms = self.inputs.structure.get_ase()
        atoms.write(folder.get_abs_path(STRUCTURE_FILE), format='extxyz')
        mesh, _ = self.inputs.kpoints.get_kpoints_mesh()
        with folder.open(INPUT_FILE, 'w') as handle:
            json.dump({'parameters': self.inputs.parameters.get_dict(), 'kpoints': [int(n) for n in mesh]}, handle, indent=2)
        folder.insert_path(str(RUNNER_DIRECTORY / RUNNER), RUNNER)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [RUNNER]
        codeinfo.stdout_name = self.metadata.options.output_filename

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [RESULTS_FILE, LOG_FILE, self.metadata.options.output_filename]
        return calcinfo
