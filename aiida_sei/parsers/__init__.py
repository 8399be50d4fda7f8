"""Parsers of aiida-sei: one per CalcJob."""

from __future__ import annotations


def missing_output(parser, exit_code):
    """Exit code for an expected file that is missing: the job's walltime if the scheduler
    reported it (the run was cut short), else ``exit_code``."""
    walltime = parser.node.process_class.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME.status
    return parser.exit_codes.ERROR_OUT_OF_WALLTIME if parser.node.exit_status == walltime else exit_code


def trajectory_from_images(images, timestep_fs: float, per_frame: dict[str, str]):
    """ASE frames (each with ``info['step']``) as one TrajectoryData: times in ps, and an array
    per entry of ``per_frame`` (array name -> info key), e.g. energies or uncertainties."""
    import numpy as np
    from aiida import orm

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
    for name, key in per_frame.items():
        trajectory.set_array(name, np.array([image.info[key] for image in images], float))
    return trajectory
