"""``sei.ase_md`` parser: the runner's frames -> one TrajectoryData with energies, results -> misc.

A blown-up run keeps the frames it wrote before the non-finite step as its trajectory, and the
failure becomes the exit code.
"""

from __future__ import annotations

import json
import pathlib

import ase.io
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.ase_md import RESULTS_FILE, TRAJECTORY_FILE, md_settings
from aiida_sei.parsers import missing_output, trajectory_from_images



class AseMdParser(Parser):
    """misc and trajectory; missing files and blown-up MD become exit codes."""

    def parse(self, **kwargs) -> ExitCode | None:
        try:
            results = json.loads(self.retrieved.base.repository.get_object_content(RESULTS_FILE))
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_OUTPUT_MISSING)
        self.out('misc', orm.Dict(results))
        images = self._frames(kwargs.get('retrieved_temporary_folder'))
        if images:
            timestep = md_settings(self.node.inputs.parameters.get_dict())['timestep']
            self.out('trajectory', trajectory_from_images(images, timestep, {'energies': 'epot', 'temperatures': 'temperature'}))
        if results['status'] == 'unstable':
            return self.exit_codes.ERROR_MD_UNSTABLE.format(message=results['message'])
        if not images:
            return self.exit_codes.ERROR_TRAJECTORY_MISSING
        return None

    @staticmethod
    def _frames(temporary_folder) -> list:
        if temporary_folder is None:
            return []
        path = pathlib.Path(temporary_folder) / TRAJECTORY_FILE
        if not path.is_file() or not path.read_text().strip():
            return []
        return ase.io.read(path, index=':', format='extxyz')
