"""`aiida-sei launch`, `status`, `report` and `plot composition/uncertainty`, invoked in-process
on the test profile: dry runs that store nothing, refusals that name what is valid, and real
(Lennard-Jones) runs read back through the commands."""

import json
import re

import numpy as np
import pytest
import yaml
from aiida import orm
from aiida.common.links import LinkType
from click.testing import CliRunner

from aiida_sei.cli import cli
from aiida_sei.science import crystals

#: The fast loop of tests/test_active_learning.py, shortened to two 20-step segments and at most
#: two labels after the first, as overrides.
ACTIVE_LEARNING_OVERRIDES = [
    'system_thresholds.Li.dft=0.02', 'system_thresholds.Li.add_atom=0.005',
    'md.temperature_K=900', 'md.pressure_GPa=null', 'md.total_steps=40', 'md.segment_steps=20', 'md.thin=10', 'md.seed=7',
    'max_dft_calls=3', 'label.backend=ase', 'label.protocol=fast',
]


@pytest.fixture(scope='module')
def sei(aiida_profile, tmp_path_factory):
    """Runs `aiida-sei --profile <test profile> ARGS...`; returns the click Result. The storage is
    emptied once for this module and holds the codes of `aiida-sei setup`."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost

    aiida_profile.reset_storage()
    ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), echo=lambda _: None), echo=lambda _: None)

    def invoke(*args, ok=True):
        result = CliRunner().invoke(cli, ['--profile', aiida_profile.name, *map(str, args)], catch_exceptions=False)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


@pytest.fixture(scope='module')
def li_cell(sei):
    output = sei('structure', 'bcc-li', '--supercell', 2, 2, 2).output
    return orm.load_node(int(re.search(r'structure<(\d+)>', output).group(1)))


def node_count() -> int:
    return orm.QueryBuilder().append(orm.Node).count()


def pk_of(output: str, name: str) -> int:
    return int(re.search(rf'{re.escape(name)}<(\d+)>', output).group(1))


def test_dry_run_prints_the_overridden_inputs_and_stores_nothing(sei, li_cell):
    before = node_count()
    result = sei('launch', 'sei.active_learning', '--structure', li_cell.pk, '--override', 'md.total_steps=77',
                 '--override', 'sgp.cutoff=3.5', '--override', 'label.backend=ase', '--dry-run')
    header, _, body = result.output.partition('\n')
    assert header == '# sei.active_learning, protocol fast: resolved inputs (nothing stored)'
    inputs = yaml.safe_load(body)
    assert inputs['md']['total_steps'] == 77 and inputs['md']['segment_steps'] == 100  # override + protocol
    assert inputs['sgp_settings']['cutoff'] == 3.5 and inputs['sgp_settings']['n_max'] == 4
    assert list(inputs['label']) == ['ase']  # the backend is the namespace that is filled
    assert inputs['label']['ase']['ase']['code'].startswith('python@localhost')  # stand-in labels: the Python code
    assert inputs['structure'] == f'Li16 (16 atoms) structure<{li_cell.pk}>'
    assert node_count() == before


def test_dry_run_with_cluster_resources_gives_each_job_its_hardware(sei, li_cell):
    result = sei('launch', 'sei.active_learning', '--structure', li_cell.pk, '--resources', 'cluster', '--dry-run')
    inputs = yaml.safe_load(result.output.partition('\n')[2])
    assert inputs['md_job']['metadata']['options']['resources']['num_cores_per_mpiproc'] == 8  # FLARE MD: a few cores
    assert inputs['label']['gpaw']['gpaw']['metadata']['options']['resources']['num_machines'] == 4  # DFT: many nodes
    assert 'unknown resource profile `moon`' in sei('launch', 'sei.active_learning', '--structure', li_cell.pk, '--resources', 'moon', '--dry-run', ok=False).output


def test_dry_run_of_a_structure_file_leaves_it_unstored(sei, tmp_path):
    path = tmp_path / 'li.extxyz'
    crystals.bcc_li(supercell=(1, 1, 2)).write(path)
    before = node_count()
    inputs = yaml.safe_load(sei('launch', 'sei.label', '--backend', 'ase', '--structure', path, '--dry-run').output.partition('\n')[2])
    assert inputs['structure'] == 'Li4 (4 atoms) structure (not stored yet)'
    assert inputs['ase']['ase']['calculator'] == 'lennard-jones'
    assert node_count() == before


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (('sei.nonsense',), 'unknown workflow `sei.nonsense`; launchable: sei.structures, sei.label,'),
        (('sei.structures', '-p', 'huge'), 'unknown protocol `huge`; available: paper, demo'),
        (('sei.active_learning', '--override', 'md.total_stepz=3'), 'unknown protocol key `md.total_stepz`; known here: temperature_K, pressure_GPa, timestep_fs, total_steps'),
        (('sei.interface', '--override', 'allegro.overrides.training.max_epoch=3'), 'allegro step (sei.allegro.train): unknown protocol key `training.max_epoch`'),
        (('sei.active_learning', '--override', 'md'), 'expected key.path=value'),
        (('sei.active_learning', '--code', 'md=no-such-code'), 'code `no-such-code` for `md` not found'),
        (('sei.active_learning', '--code', 'lammps=lmp'), 'ROLE one of md, label'),
        (('sei.label', '--backend', 'vasp', '-p', 'fast'), 'no default code for `label` (backend vasp)'),
        (('sei.allegro.train',), 'missing --input dataset=PK, validation=PK'),
        (('sei.structures',), 'is not running'),  # --daemon without a daemon: nothing submitted
    ],
)
def test_bad_launches_say_what_is_valid_and_store_nothing(sei, li_cell, args, message):
    structure = ('--structure', li_cell.pk) if args[0] in ('sei.active_learning', 'sei.label') else ()
    before = node_count()
    result = sei('launch', *args, *structure, ok=False)
    assert result.exit_code == 2
    assert message in ' '.join(result.output.split()), result.output
    assert node_count() == before


@pytest.fixture(scope='module')
def label_run(sei, li_cell):
    """`launch --run` of a Lennard-Jones label: (output, work chain node)."""
    output = sei('launch', 'sei.label', '--backend', 'ase', '--structure', li_cell.pk, '--run').output
    return output, orm.load_node(pk_of(output, 'sei.label'))


def test_jobs_in_flight_show_their_elapsed_time_and_what_their_engine_wrote(sei, tmp_path):
    """A GPAW job in flight on the local computer, its working directory holding the first lines
    of a real GPAW log: a quiet progress log names it with its elapsed time and SCF iteration."""
    import io

    from aiida_sei.cli.progress import SHOWN_JOBS, ProgressLog

    (tmp_path / 'gpaw.txt').write_text(GPAW_LOG_START)
    node = orm.CalcJobNode(computer=orm.load_computer('localhost'), process_type='aiida.calculations:sei.gpaw')
    node.set_option('resources', {'num_machines': 1})
    node.set_process_label('GpawCalculation')
    node.set_process_state('waiting')
    node.set_remote_workdir(str(tmp_path))
    node.store()
    stream = io.StringIO()
    ProgressLog(start=node.ctime.timestamp() - 1, quiet=0, stream=stream).tick()
    assert re.search(rf'running: GpawCalculation<{node.pk}> \d+:\d\d SCF iteration 3$', stream.getvalue().strip())
    node.set_process_state('finished')
    ProgressLog(start=node.ctime.timestamp() - 1, quiet=0, stream=stream).tick()
    assert stream.getvalue().count('running:') == 1  # finished jobs are not in flight
    for _ in range(6):  # a sweep's jobs: the line names the oldest few and counts the rest
        other = orm.CalcJobNode(computer=orm.load_computer('localhost'), process_type='aiida.calculations:sei.flare_md')
        other.set_option('resources', {'num_machines': 1})
        other.set_process_label('FlareMdCalculation')
        other.set_process_state('waiting')
        other.store()
    ProgressLog(start=node.ctime.timestamp() - 1, quiet=0, stream=stream).tick()
    line = stream.getvalue().strip().splitlines()[-1]
    assert line.count('FlareMdCalculation<') == SHOWN_JOBS and line.endswith(f'; and {6 - SHOWN_JOBS} more')


#: The start of GPAW's SCF table as GPAW 26.7 writes it (tests/test_gpaw_label.py checks the
#: reader on a whole real log).
GPAW_LOG_START = """SCF iterations
|iter     |     time |      energy | eigst |  dens |
|iter:   1| 23:20:15 |  -30.683981 | -0.06 |       |
|iter:   2| 23:20:17 |  -30.659131 | -2.29 | -1.28 |
|iter:   3| 23:20:19 |  -30.455586 | -2.35 | -1.29 |
"""


def test_run_shows_report_lines_and_report_shows_the_frame(sei, label_run):
    output, node = label_run
    assert node.is_finished_ok
    frame = node.outputs.frame
    echoed = re.search(rf'^ *\d+:\d\d LabelWorkChain<{node.pk}> frame<{frame.pk}> Li16', output, flags=re.MULTILINE)
    assert echoed, output  # echoed as it ran: elapsed time, process, message
    assert 'remote folders will not be cleaned' not in output  # routine lines stay in `verdi process report`
    last = output.rstrip().splitlines()[-1]
    assert last.startswith(f'sei.label<{node.pk}> finished ok; summary: aiida-sei --profile ') and last.endswith(f' report {node.pk}')
    report = sei('report', node.pk).output
    assert report.startswith(f'sei.label<{node.pk}> finished [0]')
    energy = frame.base.attributes.get('energy_per_atom')
    assert f'output frame: FrameData<{frame.pk}> Li16: {energy:.4f} eV/atom' in report
    called = node.called[0]
    assert f'AseBaseWorkChain<{called.pk}> Finished [0]' in report  # the call tree
    assert f'labelling with ase: AseBaseWorkChain<{called.pk}>' in report  # the report log


def test_status_lists_runs_newest_first_and_the_daemon(sei, label_run, li_cell):
    _, node = label_run
    lines = sei('status').output.splitlines()
    assert 'no daemon' in lines[0] or 'not running' in lines[0]
    rows = [line.split() for line in lines[2:]]
    assert rows[0][:4] == [str(node.pk), 'sei.label', 'finished', '[0]']
    assert [int(row[0]) for row in rows] == sorted((int(row[0]) for row in rows), reverse=True)
    assert str(node.called[0].pk) not in [row[0] for row in rows]  # called processes only with --all
    everything = [line.split()[0] for line in sei('status', '--all', '--limit', 3).output.splitlines()[2:]]
    assert everything == [str(pk) for pk in sorted((node.pk, *(d.pk for d in node.called_descendants)), reverse=True)[:3]]


@pytest.fixture(scope='module')
def active_learning_run(sei, li_cell):
    """A two-segment Lennard-Jones active-learning run launched with `launch --run`."""
    overrides = [item for override in ACTIVE_LEARNING_OVERRIDES for item in ('--override', override)]
    output = sei('launch', 'sei.active_learning', '--structure', li_cell.pk, *overrides, '--run').output
    node = orm.load_node(pk_of(output, 'sei.active_learning'))
    assert node.is_finished_ok, output
    return node


def flare_segments(node):
    return sorted((c for c in node.called if c.process_type == 'aiida.calculations:sei.flare_md'), key=lambda c: c.ctime)


def test_plot_uncertainty_tables_each_segment_against_the_threshold(sei, active_learning_run, tmp_path):
    node = active_learning_run
    output = sei('plot', 'uncertainty', node.pk, '-o', tmp_path / 'u.png').output
    assert f'(DFT threshold {node.inputs.thresholds["dft"]:g})' in output
    rows = [line.split() for line in output.splitlines()[1:-1]]
    segments = flare_segments(node)
    assert any('trigger' in s.outputs for s in segments), 'the test needs a segment that called DFT'
    assert [int(row[1]) for row in rows] == [s.pk for s in segments]
    for row, segment in zip(rows, segments):
        stored = segment.outputs.trajectory.get_array('max_uncertainty').tolist() if 'trajectory' in segment.outputs else []
        assert float(row[3]) == pytest.approx(max([segment.outputs.misc['max_uncertainty'], *stored]), rel=1e-3)  # the segment's maximum
        assert ('DFT' in row) == ('trigger' in segment.outputs)
    assert (tmp_path / 'u.png').read_bytes()[:4] == b'\x89PNG'


def test_report_of_active_learning_counts_labels_and_the_sgp(sei, active_learning_run, tmp_path):
    node = active_learning_run
    labels = [c for c in node.called if c.process_type == 'aiida.workflows:sei.label']
    report = sei('report', node.pk, '-o', tmp_path).output
    assert f'labels: {len(labels)} ({len(labels)} finished ok)' in report
    assert f'SGP: {node.outputs.sgp.n_training_structures} training structures' in report
    assert f'dataset: {len(node.outputs.dataset)} frames' in report
    assert (tmp_path / 'uncertainty.png').exists()
    assert 'label 2 (ase:lennard-jones, stand-in, not DFT): frame<' in report  # not announced as a DFT call
    logs = [n for n in node.called_descendants if n.process_label == 'update_sgp' and 'training_log' in n.outputs]
    assert logs and 'Precomputing' in logs[0].outputs.training_log.get_content()  # FLARE's printout: kept, off the terminal


def test_plot_uncertainty_refuses_other_processes(sei, label_run):
    result = sei('plot', 'uncertainty', label_run[1].pk, ok=False)
    assert result.exit_code == 1 and 'is not a sei.active_learning run' in result.output


def test_plot_composition_of_a_classified_trajectory(sei, tmp_path):
    from aiida_sei.calculations.functions.classification import classify_trajectory, cluster_environments, label_clustering, reference_inputs

    def jittered(atoms, seed):
        atoms = atoms.copy()
        atoms.positions += np.random.default_rng(seed).normal(0, 0.08, atoms.positions.shape)
        return orm.StructureData(ase=atoms)

    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    clustering = cluster_environments(orm.Dict({'n_components': 10}), a=jittered(li, 1), b=jittered(licl, 2))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [jittered(li, 5)], 'LiCl': [jittered(licl, 6)]}))
    series = classify_trajectory(labelled, orm.TrajectoryData([jittered(licl, seed) for seed in (10, 11)]))
    output = sei('plot', 'composition', series.pk, '-o', tmp_path / 'c.png').output
    assert f'composition<{series.pk}>: 2 frames; last frame: ' in output
    assert 'LiCl 1.000' in output  # every Li of a LiCl frame is LiCl
    assert (tmp_path / 'c.png').read_bytes()[:4] == b'\x89PNG'
    refused = sei('plot', 'composition', labelled.pk, ok=False)
    assert 'not a phase-fraction series' in refused.output


@pytest.fixture(scope='module')
def vasp_standin(sei):
    """A `vasp` code (the stand-in executable of tests/stand_ins: VASP's formats, not VASP) and
    fake POTCARs uploaded as family `PBE.54`: what a user with VASP sets up once."""
    import pathlib

    from aiida_sei.profile import COMPUTER_LABEL
    from tests.stand_ins.make_fake_potcars import upload_fake_potcar_family

    upload_fake_potcar_family('PBE.54')
    standin = pathlib.Path(__file__).parent / 'stand_ins' / 'vasp_standin.py'
    orm.InstalledCode(label='vasp', computer=orm.load_computer(COMPUTER_LABEL), filepath_executable=str(standin),
                      default_calc_job_plugin='vasp.vasp').store()
    return 'vasp'


@pytest.mark.parametrize(('workflow', 'structure', 'paths'), [
    ('sei.label', '{pk}', [('vasp', 'vasp')]),
    ('sei.active_learning', '{pk}', [('label', 'vasp', 'vasp')]),
    ('sei.active_learning.sweep', 'li={pk}', [('active_learning', 'label', 'vasp', 'vasp')]),
    ('sei.interface', None, [('active_learning', 'active_learning', 'label', 'vasp', 'vasp'), ('refinement', 'label', 'vasp', 'vasp')]),
])
def test_vasp_labels_dry_run_with_the_family_and_a_nested_incar_override(sei, li_cell, vasp_standin, workflow, structure, paths):
    """The paper's DFT code from the command line: --backend vasp, the POTCAR family and an INCAR
    tag as overrides of ports by path, given once (sei.interface: for every labelling step); the
    dry run validates the inputs against aiida-vasp's VaspWorkChain (its family validator
    included) and prints them resolved."""
    prefix = 'vasp.vasp' if workflow == 'sei.label' else 'label.vasp.vasp'
    where = ('--structure', structure.format(pk=li_cell.pk)) if structure else ()
    before = node_count()
    result = sei('launch', workflow, '-p', 'paper', '--backend', 'vasp', *where,
                 '--code', f'label={vasp_standin}', '--override', f'{prefix}.potential_family=PBE.54',
                 '--override', f'{prefix}.parameters.incar.ediff=1e-8', '--dry-run')
    resolved = yaml.safe_load(result.output.partition('\n')[2])
    for path in paths:
        inputs = resolved
        for key in path:
            inputs = inputs[key]
        assert inputs['potential_family'] == 'PBE.54'
        assert inputs['parameters']['incar']['ediff'] == 1e-8 and inputs['parameters']['incar']['encut'] == 700  # override + protocol
        assert inputs['code'].startswith('vasp@localhost')
    assert node_count() == before  # the family and the code were stored by the fixture


def test_relax_dry_run_with_either_backend(sei, li_cell, vasp_standin):
    """sei.relax takes --backend as sei.label does: GPAW by default with its setup code; VASP with
    your code, aiida-vasp's relax_settings from the protocol and no single-point INCAR tags."""
    gpaw = yaml.safe_load(sei('launch', 'sei.relax', '--structure', li_cell.pk, '--dry-run').output.partition('\n')[2])
    assert gpaw['gpaw']['gpaw']['code'].startswith('gpaw@localhost') and gpaw['gpaw']['gpaw']['relax']['fmax'] == 0.01  # fast: GPAW's default protocol
    result = sei('launch', 'sei.relax', '-p', 'paper', '--backend', 'vasp', '--structure', li_cell.pk, '--code', f'relax={vasp_standin}',
                 '--override', 'vasp.vasp.potential_family=PBE.54', '--dry-run')
    vasp = yaml.safe_load(result.output.partition('\n')[2])['vasp']
    assert vasp['relax_settings']['force_cutoff'] == 1e-5 and vasp['vasp']['code'].startswith('vasp@localhost')
    incar = vasp['vasp']['parameters']['incar']
    assert incar['ediff'] == 1e-8 and incar['encut'] == 700 and not {'ibrion', 'nsw', 'isif'} & set(incar)
    missing = sei('launch', 'sei.relax', '--backend', 'vasp', '--structure', li_cell.pk, '--dry-run', ok=False)
    assert missing.exit_code == 2 and 'no default code for `relax` (backend vasp)' in missing.output


def test_an_unknown_potcar_family_is_refused_by_aiida_vasp_before_submission(sei, li_cell, vasp_standin):
    result = sei('launch', 'sei.label', '--backend', 'vasp', '-p', 'paper', '--structure', li_cell.pk, '--code', f'label={vasp_standin}',
                 '--override', 'vasp.vasp.potential_family=PBE.99', '--dry-run', ok=False)
    assert result.exit_code == 2 and 'PBE.99' in result.output and 'not found' in result.output


@pytest.mark.parametrize(('reference', 'json_name', 'frames', 'message'), [
    ('_Li={li}', 'out.json', '{li}', 'LABEL letters and digits'),
    ('S={s}', 'out.json', '{li}', 'no Li in its frames'),
    ('Li={li}', 'missing/out.json', '{li}', 'the folder'),
    ('Li={li}', 'out.json', '{small}', 'hold 2 Li environments; the clustering needs at least 10'),
])
def test_classify_refuses_bad_arguments_before_storing_anything(sei, tmp_path, reference, json_name, frames, message):
    """Each of these used to fail with a traceback after the clustering was computed and stored."""
    import ase.io
    from ase import Atoms
    from ase.build import bulk

    paths = {'li': tmp_path / 'li.extxyz', 's': tmp_path / 's.extxyz', 'small': tmp_path / 'small.extxyz'}
    ase.io.write(paths['li'], bulk('Li', 'bcc', a=3.44, cubic=True).repeat((3, 3, 3)))
    ase.io.write(paths['s'], Atoms('S', cell=[5, 5, 5], pbc=True))
    ase.io.write(paths['small'], bulk('Li', 'bcc', a=3.44, cubic=True))
    before = node_count()
    result = sei('classify', '--frames', frames.format(**paths), '--reference', reference.format(**paths),
                 '--json', tmp_path / json_name, ok=False)
    assert result.exit_code == 1 and message in result.output, result.output
    assert node_count() == before


def test_dataset_list_shows_each_dataset_once(sei, active_learning_run):
    """A dataset a work chain returns has a CREATE and a RETURN link; the list shows it once."""
    from aiida_sei.cli.data import dataset_list
    from aiida_sei.data import DatasetData

    returned = active_learning_run.outputs.dataset
    assert returned.base.links.get_incoming(link_type=LinkType.RETURN).all()  # the case that doubled rows
    output = CliRunner().invoke(dataset_list, []).output  # `verdi data sei dataset list`, on the loaded test profile
    rows = [line.split()[0] for line in output.splitlines()[1:]]
    assert sorted(map(int, rows)) == sorted(orm.QueryBuilder().append(DatasetData, project='id').all(flat=True))


def test_dataset_show_names_the_labellers(sei, active_learning_run):
    from aiida_sei.cli.data import dataset_show

    dataset = active_learning_run.outputs.dataset
    output = CliRunner().invoke(dataset_show, [str(dataset.pk)]).output
    shown = json.loads(output)
    assert shown['labelled_by'] == {'ase:lennard-jones (not DFT)': len(dataset)}
    assert shown['unconverged_frames'] == 0 and shown['levels_of_theory'] == 1
