"""Shared base of the single-point CalcJobs (`sei.gpaw`, `sei.ase`).

Each runs a standalone runner script from ``aiida_sei/runners`` with the code's Python: the
structure goes in as extxyz, the settings as JSON, and the runner writes ``results.json``
(energy eV, forces eV/Å, stress eV/Å^3, status) that the matching parser turns into a frame.
"""

from __future__ import annotations

import json

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import set_serial_defaults
from aiida_sei.data import FrameData
from aiida_sei.runners import RUNNER_DIRECTORY
from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError

INPUT_FILE = 'aiida_input.json'
STRUCTURE_FILE = 'structure.extxyz'
RESULTS_FILE = 'results.json'


def validate_structure(structure, _):
    """Species of the study only, no overlapping atoms (checked before submission)."""
    try:
        catalogue.check_atoms(structure.get_ase())
    except StructureInputError as exception:
        return str(exception)
    return None


class SinglePointCalculation(CalcJob):
    """Energy, forces and stress of one structure; subclasses name the runner and its input."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'label'

    _runner_script: str
    _log_files: tuple[str, ...] = ()

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='Structure to label.')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system, condition, origin for the frame.')
        set_serial_defaults(spec)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.output('misc', valid_type=orm.Dict, help='Engine version, timing and engine-specific results.')
        spec.exit_code(301, 'ERROR_OUTPUT_MISSING', message='The runner wrote no results file: the code crashed or was killed (see the retrieved logs).')
        spec.exit_code(302, 'ERROR_OUTPUT_CORRUPT', message='The results file could not be read: {message}')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before the code finished.')
        spec.exit_code(420, 'ERROR_INVALID_FRAME', message='The code returned an unusable frame: {message}')

    def runner_input(self) -> dict:
        """The JSON the runner reads next to the structure."""
        raise NotImplementedError

    def prepare_for_submission(self, folder):
        self.inputs.structure.get_ase().write(folder.get_abs_path(STRUCTURE_FILE), format='extxyz')
        with folder.open(INPUT_FILE, 'w') as handle:
            json.dump(self.runner_input(), handle, indent=2)
        folder.insert_path(str(RUNNER_DIRECTORY / self._runner_script), self._runner_script)

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [self._runner_script]
        codeinfo.stdout_name = self.metadata.options.output_filename

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.retrieve_list = [RESULTS_FILE, *self._log_files, self.metadata.options.output_filename]
        return calcinfo
