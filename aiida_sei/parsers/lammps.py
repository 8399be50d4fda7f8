"""``sei.lammps`` parser: log -> thermo table and run information, dump -> one TrajectoryData.

Whatever LAMMPS wrote before failing is kept as outputs too (a blown-up MD is easier to read
with its last frames; a run its walltime cut is joined with its continuation), and the failure
becomes the exit code. ``misc`` records which restart file a continuation can start from.
"""

from __future__ import annotations

import pathlib

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.parsers import missing_output
from aiida_sei.science import lammps_md
from aiida_sei.science.lammps_output import LammpsLog, iter_dump, parse_log

#: LAMMPS thermo header -> (array name, factor to the output's units)
THERMO_COLUMNS = {
    'Step': ('step', 1.0),
    'Temp': ('temperature', 1.0),
    'Press': ('pressure', 1.0 / lammps_md.BAR_PER_GPA),
    'Volume': ('volume', 1.0),
    'PotEng': ('potential_energy', 1.0),
    'TotEng': ('total_energy', 1.0),
}

#: error message fragment -> exit code name, first match wins
ERROR_EXIT_CODES = (
    ("Unrecognized pair style 'allegro'", 'ERROR_PAIR_STYLE_MISSING'),
    ('Illegal plugin load command', 'ERROR_PAIR_STYLE_MISSING'),  # $SEI_PAIR_ALLEGRO unset
    ('is not in the model', 'ERROR_SPECIES_MISMATCH'),
    ('cannot read model file', 'ERROR_MODEL_UNREADABLE'),
    ('is not a loadable AOTInductor model', 'ERROR_MODEL_UNREADABLE'),
    ('Lost atoms', 'ERROR_LOST_ATOMS'),
)


def thermo_node(log: LammpsLog, timestep_fs: float) -> orm.ArrayData:
    node = orm.ArrayData()
    for header, (name, factor) in THERMO_COLUMNS.items():
        if header in log.thermo:
            node.set_array(name, log.thermo[header] * factor)
    if 'Step' in log.thermo:
        node.set_array('time', log.thermo['Step'] * timestep_fs / 1000.0)
    return node


def trajectory_node(dump_path: pathlib.Path, types: list[str], timestep_fs: float) -> orm.TrajectoryData | None:
    """All frames of the dump as one node (None if it has none); times in ps. Positions are
    wrapped into the cell; the image flags, when dumped, are the array ``images`` (frames, atoms,
    3), so that ``aiida_sei.science.analyses.unwrap`` gives each atom's continuous path."""
    steps, cells, positions, images, symbols = [], [], [], [], None
    with open(dump_path, encoding='utf-8') as handle:
        for frame in iter_dump(handle):
            if symbols is None:
                symbols = [types[int(t) - 1] for t in frame.columns['type']]
            steps.append(frame.step)
            cells.append(frame.cell)
            positions.append(frame.positions)
            if {'ix', 'iy', 'iz'} <= set(frame.columns):
                images.append(np.stack([frame.columns[name] for name in ('ix', 'iy', 'iz')], axis=1).astype(np.int64))
    if not steps:
        return None
    trajectory = orm.TrajectoryData()
    steps = np.array(steps)
    trajectory.set_trajectory(symbols=symbols, positions=np.array(positions), cells=np.array(cells), stepids=steps, pbc=[True, True, True],
                              times=steps * timestep_fs / 1000.0)
    if len(images) == len(steps):
        trajectory.set_array('images', np.array(images))
    return trajectory


def restart_information(log: LammpsLog, settings: dict) -> dict:
    """First and last step of the job's thermo rows and its newest complete restart file."""
    if 'Step' not in log.thermo or not len(log.thermo['Step']):
        return {'first_step': None, 'last_step': None, 'restart_step': None, 'restart_file': None}
    first, last = int(log.thermo['Step'][0]), int(log.thermo['Step'][-1])
    step, name = lammps_md.last_restart(settings, first, last) or (None, None)
    return {'first_step': first, 'last_step': last, 'restart_step': step, 'restart_file': name}


class LammpsMdParser(Parser):
    def parse(self, **kwargs) -> ExitCode | None:
        retrieved = self.retrieved.base.repository
        stdout_name = self.node.get_option('output_filename')
        try:
            log = parse_log(retrieved.get_object_content(lammps_md.LOG_FILE),
                            retrieved.get_object_content(stdout_name) if stdout_name in retrieved.list_object_names() else '')
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_OUTPUT_MISSING)

        settings = lammps_md.md_settings(self.node.inputs.parameters.get_dict())
        self.out('misc', orm.Dict({
            'lammps_version': log.version, 'ranks': log.ranks, 'steps': log.steps, 'atoms': log.atoms,
            'loop_seconds': log.loop_seconds, 'steps_per_second': log.steps_per_second, 'errors': log.errors,
            **restart_information(log, settings),
        }))
        if log.thermo:
            self.out('thermo', thermo_node(log, settings['timestep']))
        trajectory = self._trajectory(kwargs.get('retrieved_temporary_folder'), settings['timestep'])
        if trajectory is not None:
            self.out('trajectory', trajectory)
        return self._failure(log, settings, trajectory)

    def _trajectory(self, temporary_folder, timestep_fs: float) -> orm.TrajectoryData | None:
        if temporary_folder is None:
            return None
        path = pathlib.Path(temporary_folder) / lammps_md.DUMP_FILE
        if not path.is_file():
            return None
        structure, model = self.node.inputs.structure, self.node.inputs.model
        return trajectory_node(path, lammps_md.lammps_types(structure.get_symbols_set(), model.species), timestep_fs)

    def _failure(self, log: LammpsLog, settings: dict, trajectory) -> ExitCode | None:
        """The exit code of the first thing that went wrong, None if nothing did. A NaN thermo row
        comes before any error line (LAMMPS stops at an error): a blown-up MD is often stopped by the
        NaN coordinates it then has (`Non-numeric atom coords`, e.g. when it writes a restart file)."""
        if log.thermo:
            finite = np.all([np.isfinite(column) for column in log.thermo.values()], axis=0)
            if not finite.all():
                return self.exit_codes.ERROR_NAN_THERMO.format(step=int(log.thermo['Step'][np.argmin(finite)]))
        for error in log.errors:
            for fragment, name in ERROR_EXIT_CODES:
                if fragment in error:
                    return getattr(self.exit_codes, name).format(message=error)
        if log.errors:
            return self.exit_codes.ERROR_LAMMPS.format(message=log.errors[0])
        if not log.thermo:
            return missing_output(self, self.exit_codes.ERROR_OUTPUT_MISSING)
        done = int(log.thermo['Step'][-1])
        if log.steps is None or done != settings['steps']:  # a continuation's loop runs only the steps left
            walltime = missing_output(self, None)
            return walltime or self.exit_codes.ERROR_INCOMPLETE_RUN.format(done=done, steps=settings['steps'])
        if trajectory is None:
            return self.exit_codes.ERROR_TRAJECTORY_MISSING
        return None
