"""`sei.lammps.base` for real: a LAMMPS run that the walltime cuts goes on from its last restart
file, and the segments join into the run that was asked for.

The walltime is the test's own, and lands on the same step on every machine: a wrapper around the
wheel's `lmp` lets a first job (one without a parent restart file) run only to step ``CUT``, then
leaves its folder as a kill there leaves it (the log ends at the last thermo row, without LAMMPS'
closing summary) and writes SLURM's time-limit line to the job's stderr; the direct scheduler here
is taught to read that line as SLURM's scheduler plugin reads its own
(ERROR_SCHEDULER_OUT_OF_WALLTIME). Killing LAMMPS by watching its log was tried first: on a loaded
2-core machine the kill raced the run. Everything else is the real job, parser and work chain, with
the tiny model of tests/allegro_fixtures.py.
"""

from __future__ import annotations

import pathlib
import textwrap

import numpy as np
import pytest
from aiida import orm
from aiida.common.links import LinkType
from aiida.engine import run_get_node

from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.science import lammps_md
from aiida_sei.science.lammps_plugin import PLUGIN_ENVIRONMENT_VARIABLE, plugin_path
from aiida_sei.workchains.lammps import LammpsBaseWorkChain
from tests.allegro_fixtures import BIN, tiny_allegro  # noqa: F401
from tests.local import SINGLE_THREAD, local_code, local_computer
from tests.test_lammps_md import NPT, structure, tiny_model  # noqa: F401

STEPS, CUT = 600, 200
PARAMETERS = {**NPT, 'steps': STEPS, 'dump_interval': 20, 'thermo_interval': 10}  # restart files every 20 steps
TIME_LIMIT = 'slurmstepd: error: *** JOB 1 ON node01 CANCELLED AT 2025-01-01T00:00:00 DUE TO TIME LIMIT ***'
OPTIONS = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': 1}, 'withmpi': False, 'max_wallclock_seconds': 600}


def cutting_wrapper(directory: pathlib.Path) -> pathlib.Path:
    """`lmp` that a first job (one without a parent restart file) cannot finish: cut after step CUT."""
    path = directory / 'lmp-cut'
    path.write_text(textwrap.dedent(f"""\
        #!/bin/bash
        if [ -e {lammps_md.PARENT_RESTART_FILE} ]; then exec {BIN / 'lmp'} "$@"; fi
        sed -i 's/^run {STEPS} upto$/run {CUT} upto/' {lammps_md.INPUT_FILE}
        {BIN / 'lmp'} "$@" || exit
        # what a kill after step {CUT} leaves: the log up to its last thermo row
        awk '{{ lines[NR] = $0 }} NF == 6 && $1 ~ /^[0-9]+$/ {{ last = NR }} END {{ for (i = 1; i <= last; i++) print lines[i] }}' \\
          {lammps_md.LOG_FILE} > {lammps_md.LOG_FILE}.cut && mv {lammps_md.LOG_FILE}.cut {lammps_md.LOG_FILE}
        echo '{TIME_LIMIT}' >&2
        exit 137
        """))
    path.chmod(0o755)
    return path


@pytest.fixture(scope='module')
def lmp_code(aiida_profile, tmp_path_factory):
    """test_lammps_md.py's `lmp` code on a computer of this module's own (computer labels are
    unique, and both modules may run in one test process)."""
    computer = local_computer('lammps-restart-localhost', tmp_path_factory.mktemp('lammps-restart-work'), mpirun=True)
    prepend = f'{SINGLE_THREAD} LD_LIBRARY_PATH={BIN.parent / "lib"}\nexport {PLUGIN_ENVIRONMENT_VARIABLE}={plugin_path()}'
    return local_code(computer, 'lmp', prepend_text=prepend, default_calc_job_plugin='sei.lammps')


@pytest.fixture(scope='module')
def walltime_reported():
    """The direct scheduler reads SLURM's time-limit line as the walltime, as SLURM's plugin does."""
    from aiida.common.exceptions import FeatureNotAvailable
    from aiida.engine import CalcJob
    from aiida.schedulers.plugins.direct import DirectScheduler

    def parse_output(self, detailed_job_info=None, stdout=None, stderr=None):
        if 'DUE TO TIME LIMIT' in (stderr or ''):
            return CalcJob.exit_codes.ERROR_SCHEDULER_OUT_OF_WALLTIME
        raise FeatureNotAvailable()

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(DirectScheduler, 'parse_output', parse_output)
        yield


@pytest.fixture(scope='module')
def cutting_code(lmp_code, tmp_path_factory):
    return orm.InstalledCode(label='lmp-cut', computer=lmp_code.computer, prepend_text=lmp_code.prepend_text,
                             filepath_executable=str(cutting_wrapper(tmp_path_factory.mktemp('wrapper')))).store()


@pytest.fixture(scope='module')
def uninterrupted(lmp_code, structure, tiny_model):  # noqa: F811
    """The same run in one job: what the joined segments must reproduce."""
    results, node = run_get_node(LammpsMdCalculation, code=lmp_code, structure=structure, model=tiny_model,
                                 parameters=orm.Dict(PARAMETERS), metadata={'options': OPTIONS})
    assert node.is_finished_ok, node.exit_message
    return results


@pytest.fixture(scope='module')
def restarted(walltime_reported, cutting_code, structure, tiny_model):  # noqa: F811
    inputs = {'code': cutting_code, 'structure': structure, 'model': tiny_model, 'parameters': orm.Dict(PARAMETERS), 'metadata': {'options': OPTIONS}}
    results, node = run_get_node(LammpsBaseWorkChain, lammps=inputs)
    return results, node


def segments(node):
    return sorted(node.called, key=lambda child: child.ctime)


def test_a_job_its_walltime_cut_ends_with_400_and_keeps_what_it_wrote(restarted):
    _, node = restarted
    cut = segments(node)[0]
    assert cut.exit_status == LammpsMdCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status, cut.exit_message
    misc = cut.outputs.misc.get_dict()
    assert misc['steps'] is None  # no 'Loop time': LAMMPS did not get to the end
    assert misc['first_step'] == 0 and misc['last_step'] == CUT
    thermo_steps = cut.outputs.thermo.get_array('step')
    assert thermo_steps[-1] == misc['last_step'] and list(thermo_steps) == list(range(0, misc['last_step'] + 1, 10))
    assert list(cut.outputs.trajectory.get_stepids()) == list(range(0, misc['last_step'] + 1, 20))
    # the newest restart the last thermo row vouches for (the next may be half-written: the other file)
    assert misc['restart_step'] == misc['last_step'] // 20 * 20
    assert misc['restart_file'] == lammps_md.RESTART_FILES[(misc['restart_step'] // 20 - 1) % 2]


def test_the_continuation_starts_from_the_restart_file_and_the_run_joins_without_a_gap(restarted):
    results, node = restarted
    assert node.is_finished_ok, node.exit_message
    cut, continued = segments(node)[:2]
    assert len(node.called) == 3  # two jobs and the join
    assert continued.is_finished_ok and continued.inputs.parent_folder.uuid == cut.outputs.remote_folder.uuid
    restart_step = cut.outputs.misc['restart_step']
    # the file the parser named holds that step: LAMMPS started there, and ran only the steps left
    assert continued.outputs.thermo.get_array('step')[0] == restart_step
    assert continued.outputs.misc['steps'] == STEPS - restart_step
    thermo, trajectory = results['thermo'], results['trajectory']
    assert thermo.creator.process_label == trajectory.creator.process_label == 'join_md_segments'
    assert list(thermo.get_array('step')) == list(range(0, STEPS + 1, 10))  # each step once, none missing
    assert list(trajectory.get_stepids()) == list(range(0, STEPS + 1, 20))
    assert np.allclose(trajectory.get_times(), trajectory.get_stepids() / 1000.0)
    assert trajectory.get_array('images').shape == trajectory.get_positions().shape
    assert results['misc'].uuid == continued.outputs.misc.uuid
    reports = '\n'.join(log.message for log in orm.Log.collection.get_logs_for(node))
    assert f'going on from its restart file {cut.outputs.misc["restart_file"]} at step {restart_step}: {STEPS - restart_step} of {STEPS} steps left' in reports


def test_the_joined_run_is_the_run_that_was_not_cut(restarted, uninterrupted):
    """Restart files carry velocities and the Nosé-Hoover variables: the continuation follows the
    same path, so positions, cells and image flags equal those of the run in one job."""
    joined, whole = restarted[0]['trajectory'], uninterrupted['trajectory']
    cut, continued = segments(restarted[1])[:2]
    restart_step = cut.outputs.misc['restart_step']
    # at the joint: the cut job's frame and the continuation's first frame are the same
    before = cut.outputs.trajectory.get_positions()[list(cut.outputs.trajectory.get_stepids()).index(restart_step)]
    assert np.allclose(continued.outputs.trajectory.get_positions()[0], before, atol=1e-5)
    assert list(joined.get_stepids()) == list(whole.get_stepids())
    assert np.allclose(joined.get_positions(), whole.get_positions(), atol=1e-4)
    assert np.allclose(joined.get_cells(), whole.get_cells(), atol=1e-6)
    assert np.array_equal(joined.get_array('images'), whole.get_array('images'))
    assert np.allclose(restarted[0]['thermo'].get_array('potential_energy'), uninterrupted['thermo'].get_array('potential_energy'), atol=1e-5)


def _work_chain(lammps_inputs: dict):
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    process = instantiate_process(get_manager().get_runner(), LammpsBaseWorkChain, lammps=lammps_inputs)
    process.setup()
    return process


def test_walltime_handler_points_the_next_job_at_the_restart_file(restarted, tmp_path):
    """The handler on the real cut job: the next job's inputs copy its restart file and run the steps left."""
    from aiida.common.folders import Folder
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    cut = segments(restarted[1])[0]
    process = _work_chain({label: cut.inputs[label] for label in ('code', 'structure', 'model', 'parameters')} | {'metadata': {'options': OPTIONS}})
    report = process.handle_out_of_walltime(cut)
    assert report.do_break and report.exit_code.status == 0
    assert process.ctx.inputs.parent_folder.uuid == cut.outputs.remote_folder.uuid
    job = instantiate_process(get_manager().get_runner(), LammpsMdCalculation, **process.ctx.inputs)
    calcinfo = job.prepare_for_submission(Folder(str(tmp_path)))
    (copied,) = calcinfo.remote_copy_list
    assert copied[1] == f'{cut.outputs.remote_folder.get_remote_path()}/{cut.outputs.misc["restart_file"]}'
    assert copied[2] == lammps_md.PARENT_RESTART_FILE
    script = (tmp_path / lammps_md.INPUT_FILE).read_text().splitlines()
    assert f'read_restart {lammps_md.PARENT_RESTART_FILE}' in script and script[-1] == f'run {STEPS} upto'
    assert not (tmp_path / lammps_md.DATA_FILE).exists()


def _cut_job(like, **misc):
    """A sei.lammps job that its walltime cut, with ``like``'s misc updated by ``misc``."""
    failed = orm.CalcJobNode(computer=like.computer, process_type='aiida.calculations:sei.lammps')
    failed.set_process_state('finished')
    failed.set_exit_status(LammpsMdCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status)
    failed.store()
    outputs = {'misc': orm.Dict({**like.outputs.misc.get_dict(), **misc}),
               'remote_folder': orm.RemoteData(computer=like.computer, remote_path='/scratch/somewhere')}
    for label, node in outputs.items():
        node.base.links.add_incoming(failed, LinkType.CREATE, label)
        node.store()
    return failed


def test_a_job_cut_before_its_first_restart_file_starts_again_with_twice_the_walltime(restarted):
    cut = segments(restarted[1])[0]
    process = _work_chain({label: cut.inputs[label] for label in ('code', 'structure', 'model', 'parameters')} | {'metadata': {'options': OPTIONS}})
    assert process.handle_out_of_walltime(_cut_job(cut, last_step=15, restart_step=None, restart_file=None)).do_break
    assert 'parent_folder' not in process.ctx.inputs and not process.ctx.is_finished
    assert process.ctx.inputs.metadata.options['max_wallclock_seconds'] == 1200


def test_a_job_cut_after_its_last_step_is_the_end_of_the_run(restarted):
    """The walltime came after the last step's thermo row but before LAMMPS' summary: no restart."""
    cut = segments(restarted[1])[0]
    process = _work_chain({label: cut.inputs[label] for label in ('code', 'structure', 'model', 'parameters')} | {'metadata': {'options': OPTIONS}})
    report = process.handle_out_of_walltime(_cut_job(cut, last_step=STEPS, restart_step=STEPS, restart_file='restart.b'))
    assert report.do_break and report.exit_code.status == 0
    assert process.ctx.is_finished and 'parent_folder' not in process.ctx.inputs


def test_a_parent_folder_without_a_restart_file_is_refused_before_submission(restarted, lmp_code, structure, tiny_model):  # noqa: F811
    cut = segments(restarted[1])[0]
    inputs = {'code': lmp_code, 'structure': structure, 'model': tiny_model, 'metadata': {'options': OPTIONS}}
    with pytest.raises(ValueError, match='no step is left of the 100 steps'):  # the restart file is past the steps asked for
        run_get_node(LammpsMdCalculation, **inputs, parameters=orm.Dict({**PARAMETERS, 'steps': 100}), parent_folder=cut.outputs.remote_folder)
    without = orm.RemoteData(computer=lmp_code.computer, remote_path='/scratch/somewhere').store()
    with pytest.raises(ValueError, match='holds no complete restart file of a sei.lammps job'):
        run_get_node(LammpsMdCalculation, **inputs, parameters=orm.Dict(PARAMETERS), parent_folder=without)
