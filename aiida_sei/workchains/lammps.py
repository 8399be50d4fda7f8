"""``sei.lammps.base``: `sei.lammps` that goes on from its last restart file when a walltime cuts it.

A production run of nanoseconds is longer than a cluster's walltime. Each job writes restart files
(``restart_interval``); when one is cut, the next job starts from the newest complete one and runs
`upto` the same ``steps``, so the segments share one step numbering. The outputs are the segments
joined into one run: one trajectory and one thermo table whose steps strictly increase from the
first step to the last, each step from the segment that ran it last.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, calcfunction, process_handler, while_

from aiida_sei.calculations.lammps import LammpsMdCalculation, parent_restart
from aiida_sei.science import lammps_md

from .restart import RestartMixin

#: Trajectory arrays that ``set_trajectory`` owns; any other array (``images``) is joined as is.
TRAJECTORY_ARRAYS = ('positions', 'cells', 'steps', 'times')


def _spans(thermos) -> list[tuple[int, int]]:
    return [(int(t.get_array('step')[0]), int(t.get_array('step')[-1])) for t in thermos]


def _join_arrays(nodes, masks, names) -> dict[str, np.ndarray]:
    return {name: np.concatenate([node.get_array(name)[mask] for node, mask in zip(nodes, masks)]) for name in names}


@calcfunction
def join_md_segments(**segments) -> dict:
    """The thermo tables (``thermo_<k>``) and trajectories (``trajectory_<k>``, where the segment
    dumped a frame) of the segments of one run, k in the order they ran, as one ``thermo`` and one
    ``trajectory``: rows a later segment ran again from its restart file are taken from it."""
    count = len([key for key in segments if key.startswith('thermo_')])
    thermos = [segments[f'thermo_{k}'] for k in range(count)]
    spans = _spans(thermos)
    masks = lammps_md.segment_masks(spans, [t.get_array('step') for t in thermos])
    thermo = orm.ArrayData()
    for name, array in _join_arrays(thermos, masks, thermos[0].get_arraynames()).items():
        thermo.set_array(name, array)

    # a segment cut before its first frame still ran its steps again: its span counts, with no rows
    frames = [segments.get(f'trajectory_{k}') for k in range(count)]
    masks = lammps_md.segment_masks(spans, [[] if node is None else node.get_stepids() for node in frames])
    nodes, masks = zip(*[(node, mask) for node, mask in zip(frames, masks) if node is not None])
    arrays = _join_arrays(nodes, masks, nodes[0].get_arraynames())
    trajectory = orm.TrajectoryData()
    trajectory.set_trajectory(symbols=nodes[0].symbols, positions=arrays['positions'], cells=arrays['cells'],
                              stepids=arrays['steps'], times=arrays.get('times'), pbc=nodes[0].pbc)
    for name in set(arrays) - set(TRAJECTORY_ARRAYS):
        trajectory.set_array(name, arrays[name])
    return {'thermo': thermo, 'trajectory': trajectory}


class LammpsBaseWorkChain(RestartMixin, BaseRestartWorkChain):
    """Runs :class:`LammpsMdCalculation` until its ``steps`` are done: a walltime cut continues
    from the job's newest restart file (from the start, with twice the walltime, if it wrote none)."""

    _process_class = LammpsMdCalculation

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(LammpsMdCalculation, namespace='lammps')
        # every walltime cut of a long run is progress, not a failure: a 35 ns run in 24 h jobs needs
        # more segments than BaseRestartWorkChain's 5
        spec.inputs['max_iterations'].default = lambda: orm.Int(50)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.expose_outputs(LammpsMdCalculation)  # trajectory and thermo: of all segments, joined; misc: the last job's
        spec.exit_code(310, 'ERROR_SEGMENTS_DO_NOT_JOIN', message='The segments of the run do not join: {message}')

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(LammpsMdCalculation, 'lammps'))

    @process_handler(priority=400, exit_codes=[LammpsMdCalculation.exit_codes.ERROR_OUT_OF_WALLTIME])
    def handle_out_of_walltime(self, node):
        """Go on from the job's newest complete restart file; a job cut before it wrote one
        starts again where it started, with twice the walltime (the same walltime would cut it
        at the same place)."""
        restart = parent_restart(node.outputs.remote_folder) if 'remote_folder' in node.outputs else None
        if restart is None:
            self.report_error_handled(node, f'no restart file written: starting again with {self.double_walltime()}')
            return ProcessHandlerReport(True)
        steps = lammps_md.md_settings(self.ctx.inputs.parameters.get_dict())['steps']
        if restart['step'] >= steps:  # cut after its last step, before LAMMPS wrote its summary: nothing is left
            self.ctx.is_finished = True  # BaseRestartWorkChain then attaches this job's outputs
            self.report_error_handled(node, f'all {steps} steps were done: its outputs are the run\'s')
            return ProcessHandlerReport(True)
        self.ctx.inputs.parent_folder = node.outputs.remote_folder
        self.report_error_handled(node, f'going on from its restart file {restart["file"]} at step {restart["step"]}: '
                                        f'{steps - restart["step"]} of {steps} steps left')
        return ProcessHandlerReport(True)

    def results(self):
        """The last job's outputs, with the thermo and trajectory of all segments joined."""
        segments = [child for child in self.ctx.children if 'thermo' in child.outputs]
        if len(segments) > 1:
            try:
                lammps_md.check_spans(_spans([child.outputs.thermo for child in segments]))
            except lammps_md.SegmentGapError as exception:
                return self.exit_codes.ERROR_SEGMENTS_DO_NOT_JOIN.format(message=str(exception))
            inputs = {f'thermo_{k}': child.outputs.thermo for k, child in enumerate(segments)}
            inputs.update({f'trajectory_{k}': child.outputs.trajectory for k, child in enumerate(segments) if 'trajectory' in child.outputs})
            self.ctx.joined = join_md_segments(**inputs, metadata={'call_link_label': 'join_segments'})
        return super().results()

    def get_outputs(self, node):
        """The outputs of the last job, with its thermo and trajectory replaced by the joined ones."""
        return {**super().get_outputs(node), **self.ctx.get('joined', {})}
