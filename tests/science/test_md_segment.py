"""Active-learning MD segments with a real FLARE SGP: they stop when the uncertainty calls for DFT."""

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from aiida_sei.science import crystals, sgp
from aiida_sei.science.md_segment import MdState, run_segment
from tests.science import fast_sgp_settings


@pytest.fixture(scope='module')
def model():
    model = sgp.make_sgp(['Li'], fast_sgp_settings())
    atoms = crystals.bcc_li(supercell=(2, 2, 2))
    atoms.rattle(0.01, seed=1)
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    sgp.add_frame(model, atoms, atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False), range(len(atoms)))
    return model


def test_a_hot_segment_stops_once_the_uncertainty_passes_the_threshold(model):
    start = crystals.bcc_li(supercell=(2, 2, 2))
    threshold = 2 * sgp.uncertainties(model, start).max() + 1e-6
    segment = run_segment(model, start, max_steps=400, threshold=threshold, temperature_K=1500, seed=3)
    assert segment.triggered and segment.steps < 400
    assert segment.max_uncertainty > threshold
    assert sgp.uncertainties(model, segment.atoms).max() == pytest.approx(segment.max_uncertainty)
    assert np.abs(segment.atoms.get_momenta()).sum() > 0  # the state to continue from


def test_a_segment_below_threshold_runs_to_the_end_and_is_reproducible(model):
    start = crystals.bcc_li(supercell=(2, 2, 2))
    one = run_segment(model, start, max_steps=30, threshold=1e6, temperature_K=300, seed=5, thin=10)
    two = run_segment(model, start, max_steps=30, threshold=1e6, temperature_K=300, seed=5, thin=10)
    assert not one.triggered and one.steps == 30 and len(one.frames) == 3
    assert np.allclose(one.atoms.positions, two.atoms.positions)


def test_npt_segment_changes_the_cell(model):
    start = crystals.bcc_li(supercell=(2, 2, 2))
    segment = run_segment(model, start, max_steps=40, threshold=1e6, temperature_K=300, pressure_GPa=5.0, seed=2)
    assert not np.allclose(segment.atoms.cell.array, start.cell.array)


@pytest.mark.parametrize('pressure', [None, 2.0], ids=['nvt-langevin', 'npt-nose-hoover'])
def test_segments_continue_exactly_where_the_previous_one_stopped(model, pressure):
    """10 + 20 steps from the carried state (momenta, thermostat/barostat variables or the
    Langevin random stream) give the same trajectory as 30 steps in one go."""
    start = crystals.bcc_li(supercell=(2, 2, 2))
    settings = {'threshold': 1e6, 'temperature_K': 600, 'pressure_GPa': pressure, 'seed': 4}
    whole = run_segment(model, start, max_steps=30, **settings)
    first = run_segment(model, start, max_steps=10, **settings)
    second = run_segment(model, MdState.from_json(first.state.to_json()), max_steps=20, **settings)
    assert second.state.step == whole.state.step == 30
    assert np.allclose(second.atoms.positions, whole.atoms.positions, atol=1e-8)
    assert np.allclose(second.atoms.get_momenta(), whole.atoms.get_momenta(), atol=1e-8)
    assert np.allclose(second.atoms.cell.array, whole.atoms.cell.array, atol=1e-10)
    fresh = run_segment(model, first.state.atoms, max_steps=20, **settings)  # no integrator state
    assert not np.allclose(fresh.atoms.positions, whole.atoms.positions, atol=1e-8)


def test_frames_carry_the_global_step(model):
    start = crystals.bcc_li(supercell=(2, 2, 2))
    first = run_segment(model, start, max_steps=20, threshold=1e6, thin=10)
    second = run_segment(model, first.state, max_steps=20, threshold=1e6, thin=10)
    assert [step for step, _, _ in second.frames] == [30, 40]


def test_a_segment_that_drives_atoms_together_is_refused(model):
    """Atoms closer than 1 Å mean the MD blew up: no frame of it may go to DFT."""
    from aiida_sei.science.md_segment import UnstableMDError

    start = crystals.bcc_li(supercell=(2, 2, 2))
    start.positions[1] = start.positions[0] + [0.3, 0.0, 0.0]
    with pytest.raises(UnstableMDError, match=r'atoms 0 and 1 are 0\.\d+ Å apart'):
        run_segment(model, start, max_steps=2, threshold=1e6)


@pytest.mark.parametrize('name', ['hcp_li', 'li3p', 'triclinic'])
def test_upper_triangular_is_a_rigid_rotation(name):
    """Lengths, angles, every distance and the kinetic energy stay; the cell becomes what ASE's
    NPT integrates. (np.triu, used before, made hexagonal Li3P orthorhombic: atoms 1.24 Å apart.)"""
    from ase.build import bulk
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from aiida_sei.science.md_segment import upper_triangular

    atoms = {'hcp_li': lambda: bulk('Li', 'hcp', a=3.1, c=5.09), 'li3p': crystals.li3p,
             'triclinic': lambda: bulk('Li', 'bcc', a=3.44) * (2, 1, 1)}[name]()
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(0))
    before = (atoms.cell.cellpar(), atoms.get_all_distances(mic=True), atoms.get_kinetic_energy(), atoms.get_volume())
    upper_triangular(atoms)
    assert np.allclose(atoms.cell.array, np.triu(atoms.cell.array))
    assert np.allclose(atoms.cell.cellpar(), before[0]) and np.allclose(atoms.get_all_distances(mic=True), before[1])
    assert atoms.get_kinetic_energy() == pytest.approx(before[2]) and atoms.get_volume() == pytest.approx(before[3])  # right-handed still


def test_npt_at_zero_pressure_keeps_a_hexagonal_lattice_hexagonal(model):
    """A few NPT steps of hcp Li at 0 GPa leave its lattice as it was (the bug: 120° -> 90°)."""
    from ase.build import bulk

    start = bulk('Li', 'hcp', a=3.1, c=5.09) * (2, 2, 2)
    before = start.cell.cellpar()
    segment = run_segment(model, start, max_steps=5, threshold=1e6, temperature_K=300, pressure_GPa=0.0, seed=1, thin=5)
    after = segment.atoms.cell.cellpar()
    assert after[5] == pytest.approx(120.0, abs=0.5) and np.allclose(after[:3], before[:3], rtol=0.01)
    assert segment.atoms.get_all_distances(mic=True)[np.triu_indices(len(start), 1)].min() > 2.5


def test_a_cell_that_jumps_in_one_segment_is_refused_not_labelled():
    """A sheared or collapsed cell (here: the old np.triu bug's 120° -> 90°) is no frame for DFT."""
    from ase.build import bulk

    from aiida_sei.science.md_segment import UnstableMDError, _check_cell

    start = bulk('Li', 'hcp', a=3.1, c=5.09)
    broken = start.copy()
    broken.set_cell(np.triu(start.cell.array), scale_atoms=False)
    with pytest.raises(UnstableMDError, match=r'the cell jumped by step 7: .* angles \[90.0, 90.0, 120.0\] -> \[90.0, 90.0, 90.0\]'):
        _check_cell(start, broken, 7)
    _check_cell(start, start.copy(), 7)  # an unchanged cell passes
