"""`sei.ase_md` for real: nequip's ASE calculator with the tiny Allegro model
(tests/allegro_fixtures.py), Nosé-Hoover NVT and Melchionna NPT on a sheared argyrodite cell."""

from __future__ import annotations

import io
from importlib.metadata import version

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.ase_md import AseMdCalculation
from aiida_sei.data import CompiledModelData
from tests.allegro_fixtures import SPECIES, sheared_argyrodite, tiny_allegro  # noqa: F401
from tests.local import local_code, local_computer

MD = {'temperature': 300.0, 'timestep': 1.0, 'steps': 30, 'dump_interval': 10, 'seed': 7}
EXIT = AseMdCalculation.exit_codes


@pytest.fixture(scope='module')
def python_code(aiida_profile, tmp_path_factory):
    return local_code(local_computer('ase-md-localhost', tmp_path_factory.mktemp('ase-md-work')), 'python')


def compiled_model(content: bytes, species=SPECIES, target='ase') -> CompiledModelData:
    model = CompiledModelData(io.BytesIO(content), filename='model.nequip.pt2')
    model.base.attributes.set_many({'target': target, 'device': 'cpu', 'species': list(species), 'r_max': 4.0})
    return model.store()


@pytest.fixture(scope='module')
def tiny_model(tiny_allegro) -> CompiledModelData:  # noqa: F811
    return compiled_model(tiny_allegro['ase'].read_bytes())


@pytest.fixture(scope='module')
def structure():
    return orm.StructureData(ase=sheared_argyrodite()).store()


def run_md(code, structure, model, **parameters):
    return run_get_node(AseMdCalculation, code=code, structure=structure, model=model, parameters=orm.Dict({**MD, **parameters}))


@pytest.fixture(scope='module')
def nvt_run(python_code, structure, tiny_model):
    return run_md(python_code, structure, tiny_model, ensemble='nvt')


@pytest.fixture(scope='module')
def npt_run(python_code, structure, tiny_model):
    return run_md(python_code, structure, tiny_model, ensemble='npt', pressure=0.0)


@pytest.mark.parametrize('run', ['nvt_run', 'npt_run'])
def test_trajectory_holds_every_dumped_frame_with_finite_energies(run, request, structure):
    results, node = request.getfixturevalue(run)
    assert node.is_finished_ok, node.exit_message
    trajectory = results['trajectory']
    assert list(trajectory.get_stepids()) == [0, 10, 20, 30]
    assert np.allclose(trajectory.get_times(), [0.0, 0.01, 0.02, 0.03])
    assert trajectory.symbols == structure.get_ase().get_chemical_symbols()
    energies = trajectory.get_array('energies')
    assert energies.shape == (4,) and np.isfinite(energies).all()
    assert np.isfinite(trajectory.get_positions()).all()
    # the atoms moved, and the temperature stays near its target for a thermostatted cell
    assert np.abs(trajectory.get_positions()[-1] - trajectory.get_positions()[0]).max() > 1e-3
    assert np.all((trajectory.get_array('temperatures') > 30) & (trajectory.get_array('temperatures') < 3000))


def test_nvt_keeps_the_cell_and_npt_changes_it(nvt_run, npt_run, structure):
    nvt_cells = nvt_run[0]['trajectory'].get_cells()
    assert np.allclose(nvt_cells, structure.cell, atol=1e-10)
    npt_cells = npt_run[0]['trajectory'].get_cells()
    # NPT starts from the same cell in ASE's upper-triangular form (same lengths and angles)
    assert np.isclose(abs(np.linalg.det(npt_cells[0])), structure.get_cell_volume(), rtol=1e-10)
    assert abs(abs(np.linalg.det(npt_cells[-1])) - structure.get_cell_volume()) > 1e-3


@pytest.mark.parametrize('run', ['nvt_run', 'npt_run'])
def test_first_frame_energy_matches_a_direct_nequip_evaluation(run, request, tiny_allegro):  # noqa: F811
    from ase import Atoms
    from nequip.integrations.ase import NequIPCalculator

    trajectory = request.getfixturevalue(run)[0]['trajectory']
    atoms = Atoms(trajectory.symbols, positions=trajectory.get_positions()[0], cell=trajectory.get_cells()[0], pbc=True)
    atoms.calc = NequIPCalculator.from_compiled_model(str(tiny_allegro['ase']), device='cpu', chemical_species_to_atom_type_map=True)
    assert trajectory.get_array('energies')[0] == pytest.approx(atoms.get_potential_energy(), abs=1e-4)


def test_misc_records_versions_and_speed(nvt_run):
    misc = nvt_run[0]['misc'].get_dict()
    assert misc['status'] == 'ok' and misc['steps'] == MD['steps'] and misc['atoms'] == 52
    assert (misc['nequip_version'], misc['ase_version']) == (version('nequip'), version('ase'))  # what ran it
    assert misc['wall_time'] > 0 and misc['atom_steps_per_second'] > 0


def test_species_the_model_lacks_are_refused_before_submission(python_code, structure, tiny_allegro):  # noqa: F811
    without_p = compiled_model(tiny_allegro['ase'].read_bytes(), species=['Cl', 'Li', 'S'])
    with pytest.raises(ValueError, match='the structure holds P, which the model lacks'):
        run_md(python_code, structure, without_p)


def test_a_model_compiled_for_lammps_is_refused_before_submission(python_code, structure, tiny_allegro):  # noqa: F811
    with pytest.raises(ValueError, match='compiled with --target ase'):
        run_md(python_code, structure, compiled_model(tiny_allegro['pair_allegro'].read_bytes(), target='pair_allegro'))


def test_unknown_md_parameters_are_refused(python_code, structure, tiny_model):
    with pytest.raises(ValueError, match="unknown MD parameters \\['temprature'\\]"):
        run_md(python_code, structure, tiny_model, temprature=300.0)


def test_the_runner_stops_at_the_first_non_finite_energy(tmp_path):
    """The runner's own check, with a real calculator whose energy is NaN (Lennard-Jones with a
    NaN well depth): the frames before are kept, the run ends with UnstableMD."""
    from ase.calculators.lj import LennardJones

    from aiida_sei.calculations.ase_md import md_settings
    from aiida_sei.runners import ase_md as runner

    atoms = sheared_argyrodite()
    atoms.calc = LennardJones(sigma=2.5, epsilon=float('nan'), rc=4.0)
    with open(tmp_path / 'trajectory.extxyz', 'w') as handle, pytest.raises(runner.UnstableMD, match='non-finite energy or positions at step 0'):
        runner.run(atoms, md_settings({'ensemble': 'nvt', 'steps': 5, 'dump_interval': 1}), handle)
    assert (tmp_path / 'trajectory.extxyz').read_text() == ''
