"""``sei.ase_md`` parser: the runner's frames -> one TrajectoryData with energies, results -> misc.

A blown-up run keeps the frames it wrote before the non-finite step as its trajectory, and the
failure becomes the exit code.
"""

from __future__ import annotations

import json
import pathlib

import ase.io
import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.ase_md import RESULTS_FILE, TRAJECTORY_FILE, md_settings
from aiida_sei.parsers import missing_output


def trajectory_node(images, timestep_fs: float) -> orm.TrajectoryData:
    """Frames as one TrajectoryData: times in ps, potential energies (eV), temperatures (K)."""
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
    trajectory.set_array('energies', np.array([image.info['epot'] for image in images], float))
    trajectory.set_array('temperatures', np.array([image.info['temperature'] for image in images], float))
    return trajectory


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
            self.out('trajectory', trajectory_node(images, timestep))
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
