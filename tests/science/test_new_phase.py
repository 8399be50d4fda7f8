"""The new SEI phase Li2S(1-2x)PxClx: orderings, hull, entropy, diffusion, gap (no AiiDA profile)."""

import numpy as np
import pytest
from ase import Atoms
from pymatgen.analysis.structure_matcher import StructureMatcher
from pymatgen.io.ase import AseAtomsAdaptor

from aiida_sei.science import crystals, new_phase
from aiida_sei.science.new_phase import K_B


def test_the_24_atom_cell_has_four_orderings_of_56_placements():
    orderings = new_phase.ordered_approximants((2, 1, 1))
    assert sorted(o.multiplicity for o in orderings) == [8, 8, 8, 32]
    assert sum(o.multiplicity for o in orderings) == 8 * 7
    a = crystals.LATTICE['Li2S']
    distances = sorted(o.p_cl_distance for o in orderings)
    assert distances == pytest.approx([a / np.sqrt(2), a / np.sqrt(2), a, a * np.sqrt(1.5)], abs=1e-6)
    for ordering in orderings:
        atoms = ordering.atoms
        assert len(atoms) == 24
        assert atoms.get_chemical_formula() == 'ClLi16PS6'  # Li2S0.75P0.125Cl0.125: no Li vacancy
        assert crystals.formal_charge(atoms, phosphorus='P_product') == 0
        assert atoms.info['x'] == 0.125


def _all_placements(x_cells):
    atoms, sulfur, _ = new_phase.sulfur_permutations(x_cells)
    for p_sites, cl_sites in new_phase._placements(len(sulfur), 1):
        symbols = atoms.get_chemical_symbols()
        symbols[sulfur[p_sites[0]]], symbols[sulfur[cl_sites[0]]] = 'P', 'Cl'
        yield AseAtomsAdaptor.get_structure(Atoms(symbols, positions=atoms.positions, cell=atoms.cell, pbc=True))


@pytest.mark.parametrize('x_cells', [(2, 1, 1), (2, 2, 1)])
def test_structure_matcher_groups_all_placements_like_the_symmetry_orbits(x_cells):
    matcher = StructureMatcher(primitive_cell=False, scale=False, attempt_supercell=False)
    groups = matcher.group_structures(list(_all_placements(x_cells)))
    orderings = new_phase.ordered_approximants(x_cells)
    assert sorted(len(g) for g in groups) == sorted(o.multiplicity for o in orderings)
    representatives = [AseAtomsAdaptor.get_structure(o.atoms) for o in orderings]
    assert len(matcher.group_structures(representatives)) == len(orderings)


@pytest.mark.parametrize(
    ('x_cells', 'n_atoms', 'x', 'placements', 'count'),
    [((2, 2, 1), 48, 1 / 16, 240, 5), ((2, 2, 2), 96, 1 / 32, 992, 5)],
)
def test_low_doping_cells(x_cells, n_atoms, x, placements, count):
    orderings = new_phase.ordered_approximants(x_cells)
    assert len(orderings) == count
    assert sum(o.multiplicity for o in orderings) == placements
    assert all(len(o.atoms) == n_atoms and o.atoms.info['x'] == x for o in orderings)
    assert all(crystals.formal_charge(o.atoms, phosphorus='P_product') == 0 for o in orderings)


@pytest.mark.parametrize(('x_cells', 'n_pairs'), [((2, 1, 1), 1), ((2, 1, 1), 2), ((2, 2, 1), 2), ((1, 1, 1), 2)])
def test_burnside_count_matches_the_enumeration(x_cells, n_pairs):
    orderings = new_phase.ordered_approximants(x_cells, n_pairs)
    assert new_phase.count_orderings(x_cells, n_pairs) == len(orderings)
    assert sum(o.multiplicity for o in orderings) == len(list(new_phase._placements(4 * np.prod(x_cells), n_pairs)))


def test_large_enumerations_are_refused_but_can_be_counted():
    with pytest.raises(ValueError, match='max_placements'):
        new_phase.ordered_approximants((2, 2, 2), n_pairs=4)
    assert new_phase.count_orderings((2, 2, 2), n_pairs=4) == 499_129
    with pytest.raises(ValueError, match='do not fit'):
        new_phase.ordered_approximants((1, 1, 1), n_pairs=3)


COMPETING = {'Li': -1.90, 'S': -4.13, 'P': -5.41, 'Cl': -1.80, 'Li2S': -4.00, 'Li3P': -3.50, 'LiCl': -3.60}


def _phase(delta):
    """Li16S6PCl = 6 Li2S + Li3P + LiCl (18 + 4 + 2 atoms) plus ``delta`` eV/atom."""
    total = 18 * COMPETING['Li2S'] + 4 * COMPETING['Li3P'] + 2 * COMPETING['LiCl'] + 24 * delta
    return total / 24


@pytest.mark.parametrize('delta', [0.0277, 0.1, -0.01])
def test_energy_above_hull_of_a_constructed_mixture(delta):
    energies = {**COMPETING, 'Li16S6PCl': _phase(delta), 'LiS': -2.0}  # LiS far above the hull
    assert new_phase.energy_above_hull(energies, 'Li16S6PCl') == pytest.approx(delta, abs=1e-9)


def test_energy_above_hull_per_formula_and_missing_elements():
    per_formula = {f: e * {'Li2S': 3, 'Li3P': 4, 'LiCl': 2}.get(f, 1) for f, e in COMPETING.items()}
    per_formula['Li16S6PCl'] = 24 * _phase(0.0277)
    assert new_phase.energy_above_hull(per_formula, 'Li16S6PCl', per_atom=False) == pytest.approx(0.0277)
    without_p = {f: e for f, e in COMPETING.items() if f != 'P'}
    with pytest.raises(ValueError, match=r"\['P'\]"):
        new_phase.energy_above_hull({**without_p, 'Li16S6PCl': _phase(0.0)}, 'Li16S6PCl')


def test_mixing_entropy_and_the_papers_20_mev():
    s_fu = -(0.75 * np.log(0.75) + 0.25 * np.log(0.125))  # units of k per formula unit
    assert new_phase.mixing_entropy(0.125, per_atom=False) == pytest.approx(K_B * s_fu)
    assert new_phase.mixing_entropy(0.125) == pytest.approx(K_B * s_fu / 3)
    assert new_phase.mixing_entropy(0.0) == 0.0
    assert new_phase.mixing_entropy(1 / 3, per_atom=False) == pytest.approx(K_B * np.log(3))
    # the paper's "about 20 meV/atom at room temperature" is T*S per formula unit, not per atom
    assert 300 * new_phase.mixing_entropy(0.125, per_atom=False) == pytest.approx(0.0190, abs=2e-4)
    assert 300 * new_phase.mixing_entropy(0.14, per_atom=False) == pytest.approx(0.0203, abs=2e-4)
    assert 300 * new_phase.mixing_entropy(0.14) < 0.007
    with pytest.raises(ValueError):
        new_phase.mixing_entropy(0.6)


def test_offset_temperature():
    t = new_phase.offset_temperature(0.0277, 0.125)
    assert t == pytest.approx(1311, abs=1)
    assert t * new_phase.mixing_entropy(0.125) == pytest.approx(0.0277)


def test_diffusion_coefficient_of_a_random_walk():
    d_true, dt, steps, walkers, blocks = 0.1, 0.1, 400, 2000, 20  # Å^2/ps, ps
    rng = np.random.default_rng(7)
    paths = np.cumsum(rng.normal(0, np.sqrt(2 * d_true * dt), (steps, walkers, 3)), axis=0)
    times = dt * np.arange(1, steps + 1)
    msd = np.sum(paths**2, axis=2).reshape(steps, blocks, -1).mean(axis=2).T  # (blocks, times)
    d, err = new_phase.diffusion_coefficient(times, msd, fit_range=(0.1, 0.9))
    d_true_cm2_s = d_true * 1e-4
    assert 0 < err < 0.05 * d_true_cm2_s
    assert abs(d - d_true_cm2_s) < 3 * err
    assert abs(d - d_true_cm2_s) < 0.1 * d_true_cm2_s
    one_d, _ = new_phase.diffusion_coefficient(times, np.mean(paths[:, :, 0] ** 2, axis=1), dim=1)
    assert one_d == pytest.approx(d_true_cm2_s, rel=0.1)


def test_time_origin_msd_of_a_random_walk_gives_its_d_and_ballistic_atoms_their_speed():
    """msd_blocks over time origins and atom blocks, then the fit: a walk with known D comes back
    within its error; atoms moving at constant velocity have MSD (v t)^2; masked atoms are ignored."""
    d_true, dt, steps, walkers = 0.05, 0.1, 300, 400  # Å^2/ps, ps
    rng = np.random.default_rng(11)
    walk = np.cumsum(rng.normal(0, np.sqrt(2 * d_true * dt), (steps, walkers, 3)), axis=0)
    still = np.zeros((steps, 10, 3))
    positions = np.concatenate([walk, still], axis=1)
    mask = np.arange(walkers + 10) < walkers
    blocks = new_phase.msd_blocks(positions, mask, n_blocks=8)
    assert blocks.shape == (8, steps // 2 + 1) and np.all(blocks[:, 0] == 0)
    d, err = new_phase.diffusion_coefficient(dt * np.arange(blocks.shape[1]), blocks, fit_range=(0.1, 0.9))
    assert abs(d - d_true * 1e-4) < 3 * err and abs(d - d_true * 1e-4) < 0.15 * d_true * 1e-4
    ballistic = np.arange(20)[:, None, None] * np.array([0.3, 0.0, 0.4])[None, None, :] * np.ones((1, 4, 1))
    assert np.allclose(new_phase.msd_blocks(ballistic, [True] * 4, n_blocks=2)[0], (0.5 * np.arange(11)) ** 2)
    with pytest.raises(ValueError, match='cannot form'):
        new_phase.msd_blocks(ballistic, [True, False, False, False], n_blocks=2)


def test_diffusion_coefficient_of_an_exact_line_and_bad_ranges():
    times = np.linspace(0, 10, 101)
    d, err = new_phase.diffusion_coefficient(times, 0.5 + 6 * 0.02 * times)
    assert d == pytest.approx(0.02e-4) and err == pytest.approx(0, abs=1e-15)
    with pytest.raises(ValueError, match='at least 3'):
        new_phase.diffusion_coefficient(times, times, fit_range=(0.5, 0.51))
    with pytest.raises(ValueError, match='times'):
        new_phase.diffusion_coefficient(times, times[:-1])


def test_arrhenius_fit_recovers_ea_and_d0():
    t = np.array([500.0, 600, 700, 800, 900])
    ea, d0 = 0.35, 2e-3
    exact = d0 * np.exp(-ea / (K_B * t))
    fit = new_phase.arrhenius_fit(t, exact)
    assert fit.ea_ev == pytest.approx(ea) and fit.d0_cm2_s == pytest.approx(d0)
    rng = np.random.default_rng(3)
    sigma = 0.05 * exact
    noisy = exact + rng.normal(0, 1, t.size) * sigma
    fit = new_phase.arrhenius_fit(t, noisy, sigma)
    assert abs(fit.ea_ev - ea) < 3 * fit.ea_err_ev and fit.ea_err_ev < 0.02
    d300, err300 = fit.extrapolate(300.0)
    assert abs(d300 - d0 * np.exp(-ea / (K_B * 300))) < 3 * err300
    _, err_in_range = fit.extrapolate(700.0)
    assert err300 / d300 > 3 * err_in_range / fit.extrapolate(700.0)[0]  # extrapolation widens the band
    assert np.all(np.isnan(new_phase.arrhenius_fit(t[:2], exact[:2]).covariance))


def _bands():
    """2 k-points, 4 bands: valence top 0.5 at k0, conduction bottom 1.7 at k1 (indirect 1.2)."""
    return np.array([[[-5.0, 0.5, 2.0, 4.0], [-4.0, 0.2, 1.7, 3.0]]])


def test_band_gap_of_an_insulator_three_ways():
    eig = _bands()
    assert new_phase.band_gap(eig, n_electrons=4) == pytest.approx(1.2)
    assert new_phase.band_gap(eig[0], fermi_level=1.0) == pytest.approx(1.2)
    occupations = np.array([[[2, 2, 0, 0], [2, 2, 0, 0]]])
    assert new_phase.band_gap(eig, occupations=occupations) == pytest.approx(1.2)
    spin = np.concatenate([eig, eig + 0.1])  # spin-polarised: VBM 0.6 (down), CBM 1.7 (up)
    assert new_phase.band_gap(spin, n_electrons=4) == pytest.approx(1.7 - 0.6)


def test_band_gap_of_metals_is_zero():
    eig = _bands()
    crossing = eig.copy()
    crossing[0, 0, 1] = 1.9  # band 2 at k0 above band 3 at k1: bands overlap
    assert new_phase.band_gap(crossing, n_electrons=4) == 0.0
    assert new_phase.band_gap(eig, n_electrons=3) == 0.0  # half-filled band
    assert new_phase.band_gap(eig, fermi_level=0.3) == 0.0  # E_F inside the valence band
    with pytest.raises(ValueError, match='exactly one'):
        new_phase.band_gap(eig)
    with pytest.raises(ValueError, match='undefined'):
        new_phase.band_gap(eig, n_electrons=8)


def test_the_hull_against_li2s_li3p_licl_needs_no_elements():
    """The paper's hull: Li16S6PCl = 6 Li2S + Li3P + LiCl, so E_hull is the energy per atom above
    that mixture; a composition outside the three compounds' span is refused."""
    from aiida_sei.science.new_phase import energy_above_compound_hull

    energies = {'Li2S': -3.98, 'Li3P': -3.47, 'LiCl': -3.68}
    mixture = (6 * 3 * energies['Li2S'] + 4 * energies['Li3P'] + 2 * energies['LiCl']) / 24
    assert energy_above_compound_hull(energies, 'Li16S6PCl', mixture + 0.0277) == pytest.approx(0.0277, abs=1e-9)
    assert energy_above_compound_hull(energies, 'Li16S6PCl', mixture - 0.005) == pytest.approx(-0.005, abs=1e-9)
    with pytest.raises(ValueError, match='not a mixture'):
        energy_above_compound_hull(energies, 'Li2SCl', -3.0)
