"""Injected failures: a labeller that crashes mid-run, an SCF that cannot be rescued, an MD that
blows up, a truncated model file, a full disk while a dataset is stored, the daemon stopped in the
middle of a training. Each ends with its exit code (or a clear exception) and leaves no half-made
output node behind; the training finishes after the restart.

The cases are listed in :data:`FAULTS`; each test triggers its fault for real and checks that the
outcome it observed (exit code names and numbers read from the nodes) is its row's, and
docs/faults.md holds the same table (checked below).
GPAW crashes and SCF restarts with more steps are in test_gpaw_label.py, the MD blow-up of
`sei.flare_md` in test_active_learning.py and LAMMPS's unloadable model in test_lammps_md.py.
"""

from __future__ import annotations

import io
import json
import pathlib
import subprocess
import sys
import textwrap

import pytest
from aiida import orm
from aiida.engine import run_get_node, submit
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_sei.calculations.ase_md import AseMdCalculation
from aiida_sei.calculations.functions.dataset import create_dataset, frame_inputs, import_frames_file
from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.calculations.functions.validation import validate_model
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.data import CompiledModelData, DatasetData, FrameData
from aiida_sei.workchains.ase import AseBaseWorkChain
from aiida_sei.workchains.gpaw import MAX_SCF_STEPS, MIN_MIXER_BETA, GpawBaseWorkChain
from tests.allegro_fixtures import SPECIES, argyrodite_cells, tiny_allegro  # noqa: F401
from tests.daemon_fixtures import DAEMON_TIMEOUT, daemon_client, daemon_profile, repair_processes, start_daemon, stop_daemon  # noqa: F401
from tests.test_active_learning_daemon import wait_until
from tests.local import local_code, local_computer
from tests.test_lammps_md import lmp_code, structure  # noqa: F401

DOCS = pathlib.Path(__file__).parent.parent / 'docs' / 'faults.md'

#: {test: (fault, process, outcome, handler)}: the rows of docs/faults.md's fault table; the
#: outcome is what the test of that name observes (see :func:`exit_code_of`).
FAULTS = {
    'labeller_crash': ('labeller crashes mid-run', 'sei.ase / sei.ase.base', 'ERROR_OUTPUT_MISSING (301) -> ERROR_CRASHED_AGAIN (300)', 'handle_crash: one retry'),
    'scf_limits': ('SCF not converged at the handler limits', 'sei.gpaw.base', 'ERROR_SCF_UNRECOVERABLE (410)', 'handle_scf_not_converged: stops'),
    'md_blow_up': ('MD blows up (absurd timestep)', 'sei.lammps', 'ERROR_NAN_THERMO (411)', 'none: the caller decides'),
    'truncated_model_md': ('truncated compiled model', 'sei.ase_md', 'ERROR_OUTPUT_MISSING (301)', 'none'),
    'truncated_model_validation': ('truncated compiled model', 'sei.validate_model', 'Excepted: ArchiveError (not a zip archive (File is not a zip file))', 'none'),
    'full_disk': ('disk full while storing a dataset', 'sei.create_dataset', 'nothing stored: disk I/O error or File too large', 'none: the transaction rolls back'),
    'daemon_stop_training': ('daemon stopped while nequip-train runs', 'sei.allegro.train', 'finishes: 1 NequipTrainCalculation, 1 model', 'AiiDA checkpoint, `verdi process repair`'),
}


def exit_code_name(process_class, status: int) -> str:
    """``NAME (status)``, the name looked up in the process class's spec."""
    names = {code.status: name for name, code in process_class.exit_codes.items()}
    return f'{names[status]} ({status})'


def exit_code_of(node) -> str:
    """``NAME (status)`` of a finished process node."""
    return exit_code_name(node.process_class, node.exit_status)


def outcome(test: str) -> str:
    return FAULTS[test][2]


def count(node_class) -> int:
    return orm.QueryBuilder().append(node_class).count()


@pytest.fixture(scope='module')
def python_code(aiida_profile, tmp_path_factory):
    return local_code(local_computer('faults-localhost', tmp_path_factory.mktemp('faults-work')), 'python')


@pytest.fixture(scope='module')
def truncated_ase_model(tiny_allegro) -> CompiledModelData:  # noqa: F811
    """The tiny model compiled for ASE, cut to half its bytes (an interrupted copy)."""
    content = tiny_allegro['ase'].read_bytes()
    model = CompiledModelData(io.BytesIO(content[: len(content) // 2]), filename='model.nequip.pt2')
    model.base.attributes.set_many({'target': 'ase', 'device': 'cpu', 'species': SPECIES, 'r_max': 4.0})
    return model.store()


def test_a_labeller_that_crashes_mid_run_is_retried_once_then_stops_without_a_frame(python_code):
    """A Lennard-Jones well depth that is not a number: the runner starts, the calculator raises."""
    structure = build_structure_node('li2s')['structure']
    builder = AseBaseWorkChain.get_builder_from_protocol(python_code, 'fast', structure=structure)
    builder.ase.parameters = orm.Dict({'epsilon': 'not-a-number'})
    frames = count(FrameData)
    _, node = run_get_node(builder)
    jobs = sorted(node.called, key=lambda n: n.ctime)
    assert len(jobs) == 2 and exit_code_of(jobs[0]) == exit_code_of(jobs[1])
    assert f'{exit_code_of(jobs[0])} -> {exit_code_of(node)}' == outcome('labeller_crash')
    assert 'TypeError' in jobs[0].outputs.retrieved.base.repository.get_object_content('aiida.out') + _stderr(jobs[0])
    assert count(FrameData) == frames


def _stderr(job) -> str:
    retrieved = job.outputs.retrieved.base.repository
    return retrieved.get_object_content('_scheduler-stderr.txt') if '_scheduler-stderr.txt' in retrieved.list_object_names() else ''


def test_an_scf_at_the_handler_limits_stops_with_a_clear_exit_code(python_code):
    """The handler on a real GpawCalculation node that ended with exit 410: no further restart."""
    structure = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    overrides = {'gpaw': {'parameters': {'maxiter': MAX_SCF_STEPS, 'mixer': {'beta': MIN_MIXER_BETA}}}}
    builder = GpawBaseWorkChain.get_builder_from_protocol(python_code, 'fast', overrides, structure=structure)
    process = instantiate_process(get_manager().get_runner(), builder)
    process.setup()
    failed = orm.CalcJobNode(computer=python_code.computer, process_type='aiida.calculations:sei.gpaw')
    failed.set_process_state('finished')
    failed.set_exit_status(410)
    report = process.handle_scf_not_converged(failed)
    assert exit_code_name(GpawBaseWorkChain, report.exit_code.status) == outcome('scf_limits')
    assert f'{MAX_SCF_STEPS} steps and mixer beta {MIN_MIXER_BETA}' in report.exit_code.message


def test_lammps_md_with_an_absurd_timestep_ends_with_the_nan_exit_code(lmp_code, structure, tiny_allegro):  # noqa: F811
    from tests.test_lammps_md import compiled_model

    model = compiled_model(tiny_allegro['pair_allegro'].read_bytes())
    parameters = {'ensemble': 'nvt', 'temperature': 3000.0, 'timestep': 2000.0, 'steps': 50, 'dump_interval': 10, 'thermo_interval': 5}
    results, node = run_get_node(LammpsMdCalculation, code=lmp_code, structure=structure, model=model, parameters=orm.Dict(parameters))
    assert exit_code_of(node) == outcome('md_blow_up') and 'blew up' in node.exit_message
    # what LAMMPS wrote before the blow-up is kept to be read, the failure is the exit code
    assert results['thermo'].get_array('step')[0] == 0


def test_a_truncated_model_makes_ase_md_fail_with_missing_output(python_code, structure, truncated_ase_model):  # noqa: F811
    parameters = orm.Dict({'ensemble': 'nvt', 'steps': 5, 'dump_interval': 1})
    results, node = run_get_node(AseMdCalculation, code=python_code, structure=structure, model=truncated_ase_model, parameters=parameters)
    assert exit_code_of(node) == outcome('truncated_model_md')
    assert 'trajectory' not in results and 'misc' not in results


def test_a_truncated_model_makes_validate_model_except_without_outputs(truncated_ase_model, tmp_path):
    import ase.io

    path = tmp_path / 'frames.extxyz'
    ase.io.write(path, argyrodite_cells(2), format='extxyz')
    dataset = import_frames_file(path, is_dft=False, backend='lj')['dataset']
    from aiida_sei.science.archives import ArchiveError

    with pytest.raises(ArchiveError, match='not a zip archive'):  # a .nequip.pt2 is a zip: half of one has no directory
        validate_model(truncated_ase_model, dataset)  # refused by check_zip, before torch unpacks anything
    (node,) = [n for n in truncated_ase_model.base.links.get_outgoing().all_nodes() if isinstance(n, orm.CalcFunctionNode)]
    error = node.exception.strip().splitlines()[-1]  # `...ArchiveError: compiled model<PK>: not a zip archive (...)`
    name, _, message = error.partition(': ')
    message = message.partition(': ')[2]  # without the node's PK
    assert node.is_excepted and f'Excepted: {name.rsplit(".", 1)[-1]} ({message})' == outcome('truncated_model_validation')
    assert not node.base.links.get_outgoing().all()


#: Stores a dataset of the frames given by UUID with every file write limited to a few bytes
#: (SIGXFSZ ignored, so a write past the limit raises EFBIG as on a full disk); prints JSON.
FULL_DISK_SCRIPT = textwrap.dedent('''
    import json, resource, signal, sys
    from aiida import load_profile, orm
    load_profile(sys.argv[1])
    from aiida_sei.calculations.functions.dataset import create_dataset, frame_inputs
    frames = [orm.load_node(uuid) for uuid in sys.argv[2:]]
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
    try:
        create_dataset(**frame_inputs(frames))
        print(json.dumps({'error': None}))
    except Exception as exception:
        print(json.dumps({'error': f'{type(exception).__name__}: {exception}'[:300]}))
''')


def test_a_full_disk_while_storing_a_dataset_stores_nothing_and_the_profile_works_after(aiida_profile, tmp_path):
    import ase.io

    path = tmp_path / 'frames.extxyz'
    ase.io.write(path, argyrodite_cells(2, seed=5), format='extxyz')
    frames = list(import_frames_file(path, is_dft=False, backend='lj')['frames'].values())
    datasets, processes = count(DatasetData), count(orm.ProcessNode)
    result = subprocess.run([sys.executable, '-c', FULL_DISK_SCRIPT, aiida_profile.name, *(f.uuid for f in frames)],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    error = json.loads(result.stdout.splitlines()[-1])['error']
    causes = [cause for cause in ('disk I/O error', 'File too large') if error and cause in error]
    stored = 'nothing stored' if (count(DatasetData), count(orm.ProcessNode)) == (datasets, processes) else 'partly stored'
    assert causes and outcome('full_disk').startswith(f'{stored}:') and causes[0] in outcome('full_disk'), error

    dataset = create_dataset(**frame_inputs(frames))  # the profile still works
    assert len(dataset) == 2 and [f.uuid for f in dataset.iter_frames()] == [f.uuid for f in frames]


@pytest.mark.parametrize('fault', FAULTS.values(), ids=[f'{f[1]}: {f[0]}' for f in FAULTS.values()])
def test_the_docs_fault_table_lists_each_fault(fault):
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith('|')]
    assert any(all(cell in row for cell in fault) for row in rows), f'docs/faults.md lacks {fault}'


# -- the daemon stopped in the middle of an Allegro training ------------------------------------

def training_jobs(node) -> list:
    return [d for d in node.called_descendants if d.process_label == 'NequipTrainCalculation']


def job_state(job) -> str | None:
    query = orm.QueryBuilder().append(orm.CalcJobNode, filters={'id': job.pk}, project='attributes.state')
    return query.one()[0]


@pytest.mark.parametrize('daemon_profile', ['embedded'], indirect=True)  # about the work chain, not the broker
def test_a_training_survives_a_daemon_restart_with_one_training_job(daemon_profile, submit_and_await, started_daemon_client, tmp_path):
    """sei.allegro.train through the daemon; the daemon stops while nequip-train runs."""
    import ase.io

    from aiida_sei.calculations.functions.dataset import split
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    path = tmp_path / 'cells.extxyz'
    ase.io.write(path, argyrodite_cells(5, seed=2), format='extxyz')
    parts = split(import_frames_file(path, is_dft=False, backend='lj')['dataset'], {'train': 0.6, 'validation': 0.4}, seed=0)
    codes = {'train': orm.load_code('nequip-train@localhost'), 'package': orm.load_code('nequip-package@localhost')}
    overrides = {'training': {'max_epochs': 2, 'batch_size': 1, 'accelerator': 'cpu'}}
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', overrides, dataset=parts['train'], validation=parts['validation'])
    node = orm.load_node(submit(builder).pk)

    wait_until(lambda: node.is_terminated or any(job_state(j) == 'withscheduler' for j in training_jobs(node)), 'nequip-train to run', DAEMON_TIMEOUT)
    stop_daemon(started_daemon_client)
    assert not node.is_terminated, 'the training finished before the daemon was stopped: nothing was tested'
    pk = node.pk
    repair_processes(daemon_profile)
    start_daemon(started_daemon_client)
    node = submit_and_await(orm.load_node(pk), timeout=DAEMON_TIMEOUT)  # the repair closed the storage node came from

    assert node.is_finished_ok, node.exit_message
    jobs = training_jobs(node)
    models = sum('model' in job.outputs for job in jobs)
    assert f'finishes: {len(jobs)} NequipTrainCalculation, {models} model' == outcome('daemon_stop_training')
    (job,) = training_jobs(node)
    assert job.is_finished_ok
    assert node.outputs.model.creator.uuid == job.uuid and node.outputs.metrics['epochs'] == 2
