"""The bulk crystals of the paper, checked with spglib and pymatgen (no AiiDA profile)."""

import numpy as np
import pytest
import spglib
from pymatgen.core import Composition

from aiida_sei.science import crystals
from aiida_sei.science.geometry import close_pairs
from aiida_sei.science.validation import StructureInputError


def space_group(atoms, symprec=1e-3):
    return spglib.get_spacegroup((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), symprec=symprec)


def min_distance(atoms):
    d = atoms.get_all_distances(mic=True)
    np.fill_diagonal(d, np.inf)
    return d.min()


@pytest.mark.parametrize(
    ('atoms', 'symbol', 'formula'),
    [
        (crystals.bcc_li(), 'Im-3m (229)', 'Li54'),
        (crystals.li2s(), 'Fm-3m (225)', 'Li8S4'),
        (crystals.licl(), 'Fm-3m (225)', 'Cl4Li4'),
        (crystals.li3p(), 'P6_3/mmc (194)', 'Li6P2'),
        (crystals.argyrodite_sites(), 'F-43m (216)', 'Cl4Li48P4S20'),
    ],
)
def test_ideal_crystals_have_the_published_space_group(atoms, symbol, formula):
    assert space_group(atoms) == symbol
    assert atoms.get_chemical_formula() == formula


def test_bcc_li_is_the_papers_54_atom_cell():
    atoms = crystals.bcc_li()
    assert len(atoms) == 54
    assert np.allclose(atoms.cell.lengths(), 3 * 3.420)
    assert min_distance(atoms) == pytest.approx(3.420 * np.sqrt(3) / 2)


def test_argyrodite_stoichiometry_neutrality_and_li_pairs():
    atoms = crystals.argyrodite(seed=1)
    assert atoms.get_chemical_formula() == 'Cl4Li24P4S20'
    assert crystals.formal_charge(atoms) == 0
    assert Composition(atoms.get_chemical_formula()).reduced_formula == 'Li6PS5Cl'
    # one Li of each 1.84 Å 48h pair: the closest Li-Li left is the 2.24 Å inter-pair distance
    li = atoms[atoms.numbers == 3]
    assert min_distance(li) > 2.0
    # P-S bonds of intact PS4 units and the Li-S contact of the published refinement
    assert min_distance(atoms) == pytest.approx(np.sqrt(3) * (0.5 - 0.3815) * 9.912, abs=1e-6)


@pytest.mark.parametrize('fraction', [0.0, 0.25, 0.5, 1.0])
def test_argyrodite_anion_disorder_fraction(fraction):
    atoms = crystals.argyrodite(cl_on_4a=fraction, supercell=(2, 1, 1), seed=3)
    frame = crystals.argyrodite_sites().repeat((2, 1, 1))
    on_4a = frame.positions[frame.arrays['site'] == 'X_4a']
    symbols = np.array(atoms.get_chemical_symbols())
    at_4a = [symbols[np.argmin(np.linalg.norm(atoms.positions - p, axis=1))] for p in on_4a]
    assert at_4a.count('Cl') / len(at_4a) == pytest.approx(fraction)
    assert atoms.info['cl_on_4a'] == pytest.approx(fraction)
    assert crystals.formal_charge(atoms) == 0


def test_argyrodite_seed_reproduces_and_varies():
    first, again, other = crystals.argyrodite(seed=7), crystals.argyrodite(seed=7), crystals.argyrodite(seed=8)
    assert np.array_equal(first.positions, again.positions)
    assert first.get_chemical_symbols() == again.get_chemical_symbols()
    assert not (np.array_equal(first.positions, other.positions) and first.get_chemical_symbols() == other.get_chemical_symbols())


def test_argyrodite_supercell_cells_are_not_copies():
    atoms = crystals.argyrodite(supercell=(2, 1, 1), seed=0)
    a = atoms.cell[0, 0] / 2
    left = atoms.positions[(atoms.numbers == 3) & (atoms.positions[:, 0] < a)]
    right = atoms.positions[(atoms.numbers == 3) & (atoms.positions[:, 0] >= a)] - [a, 0, 0]
    assert len(left) == len(right) == 24
    assert not np.allclose(np.sort(left, axis=0), np.sort(right, axis=0))


@pytest.mark.parametrize(('x', 'supercell', 'formula'), [(0.125, (2, 1, 1), 'ClLi16PS6'), (0.14, (2, 2, 2), 'Cl4Li64P4S24')])
def test_doped_li2s_composition_and_neutrality(x, supercell, formula):
    atoms = crystals.doped_li2s(x=x, supercell=supercell, seed=2)
    assert atoms.get_chemical_formula() == formula
    assert crystals.formal_charge(atoms, phosphorus='P_product') == 0
    assert Composition(atoms.get_chemical_formula()).oxi_state_guesses()  # a neutral assignment exists
    assert crystals.doped_li2s(x=x, supercell=supercell, seed=2).get_chemical_symbols() == atoms.get_chemical_symbols()


@pytest.mark.parametrize('atoms', [crystals.li2s(), crystals.licl(), crystals.li3p()])
def test_products_are_neutral_with_sensible_bonds(atoms):
    assert crystals.formal_charge(atoms, phosphorus='P_product') == 0
    assert 2.3 < min_distance(atoms) < 2.8


@pytest.mark.parametrize(
    ('function', 'kwargs', 'message'),
    [
        (crystals.bcc_li, {'supercell': (0, 1, 1)}, 'positive integers'),
        (crystals.bcc_li, {'supercell': (1, 1)}, 'positive integers'),
        (crystals.bcc_li, {'a': -3.4}, 'positive number'),
        (crystals.argyrodite, {'cl_on_4a': 1.5}, 'cl_on_4a'),
        (crystals.doped_li2s, {'x': 0.6}, 'x must lie'),
        (crystals.doped_li2s, {'x': 0.01, 'supercell': (1, 1, 1)}, 'larger supercell'),
    ],
)
def test_bad_parameters_are_refused_with_a_clear_message(function, kwargs, message):
    with pytest.raises(StructureInputError, match=message):
        function(**kwargs)


def test_close_pairs_agrees_with_brute_force():
    atoms = crystals.argyrodite(supercell=(2, 2, 1), seed=4)
    first, second, distance = close_pairs(atoms, 2.6)
    d = atoms.get_all_distances(mic=True)
    i, j = np.nonzero(np.triu(d < 2.6, k=1))
    assert sorted(zip(first.tolist(), second.tolist())) == sorted(zip(i.tolist(), j.tolist()))
    assert np.allclose(np.sort(distance), np.sort(d[i, j]))


@pytest.mark.parametrize(('parameters', 'message'), [
    ({'supercell': [1000, 1000, 1000]}, 'repeats the cell 1,000,000,000 times'),
    ({'a': 1e300}, 'up to 1000'),
])
def test_absurd_sizes_are_refused_before_anything_is_built(parameters, message):
    from aiida_sei.science.catalogue import build
    from aiida_sei.science.validation import StructureInputError

    with pytest.raises(StructureInputError, match=message):
        build('bcc-li', parameters)
