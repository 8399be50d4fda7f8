"""The symmetric Li | Li6PS5Cl | Li cells against the paper's numbers (no AiiDA profile)."""

import numpy as np
import pytest

from aiida_sei.science import interfaces
from aiida_sei.science.crystals import formal_charge
from aiida_sei.science.geometry import close_pairs
from aiida_sei.science.validation import StructureInputError


@pytest.fixture(scope='module')
def production_cell():
    """The paper's 21,120-atom cell: 3 x 6 x 10 electrolyte cells, Li:Li6PS5Cl 16:1."""
    return interfaces.li_argyrodite_interface(argyrodite_repeats=(3, 6, 10), li_ratio=16)


def region(atoms, name):
    """Atoms of the slabs called ``name`` (by their z-range in ``atoms.info['slabs']``)."""
    z = atoms.positions[:, 2]
    mask = np.zeros(len(atoms), bool)
    for slab, low, high in atoms.info['slabs']:
        if slab == name:
            mask |= (z >= low - 1e-6) & (z <= high + 1e-6)
    return atoms[mask]


def intact_ps4(atoms):
    """Number of P whose four nearest neighbours are S within 2.6 Å."""
    first, second, _ = close_pairs(atoms, 2.6)
    symbols = np.array(atoms.get_chemical_symbols())
    count = 0
    for p in np.flatnonzero(symbols == 'P'):
        partners = np.concatenate([second[first == p], first[second == p]])
        count += len(partners) == 4 and all(symbols[partners] == 'S')
    return count


def test_production_cell_reproduces_the_papers_size_and_mismatch(production_cell):
    atoms = production_cell
    assert len(atoms) == 21120
    assert atoms.info['mismatch'] == pytest.approx({'Li [111]': -0.004, 'Li [11-2]': -0.014}, abs=5e-4)
    assert atoms.info['li_ratio'] >= 16
    electrolyte = region(atoms, 'Li6PS5Cl')
    assert electrolyte.get_chemical_formula() == 'Cl720Li4320P720S3600'
    assert formal_charge(electrolyte) == 0
    assert len(region(atoms, 'Li')) == len(atoms) - len(electrolyte) == atoms.info['li_layers'] * 210


def test_production_cell_keeps_every_ps4_whole_and_no_atoms_overlap(production_cell):
    assert intact_ps4(production_cell) == 720
    first, _, _ = close_pairs(production_cell, 1.9)
    assert len(first) == 0


def test_li_slab_is_strained_bcc_of_the_given_lattice_parameter(production_cell):
    li = region(production_cell, 'Li')
    spacing = np.diff(np.unique(np.round(li.positions[:, 2], 3)))
    assert np.allclose(spacing, 3.420 / np.sqrt(2), atol=1e-3)  # (110) interplanar distance
    assert production_cell.cell.lengths()[:2] == pytest.approx([3 * 9.912, 6 * 9.912])


def test_gap_between_slabs_is_respected():
    atoms = interfaces.li_argyrodite_interface(li_layers=6, gap=2.5)
    (_, li_low, li_high), (_, el_low, el_high) = atoms.info['slabs']
    assert el_low - li_high == pytest.approx(2.5)
    assert atoms.cell[2, 2] - el_high + li_low == pytest.approx(2.5)
    first, _, _ = close_pairs(atoms, 2.0)
    assert len(first) == 0


def test_small_cell_for_active_learning():
    atoms = interfaces.li_argyrodite_interface(argyrodite_repeats=(1, 1, 1), li_layers=14)
    assert len(atoms) == 52 + 14 * 12
    assert max(abs(m) for m in atoms.info['mismatch'].values()) < 0.05
    assert intact_ps4(atoms) == 4


def test_coating_is_stoichiometric_li2s_on_both_sides():
    atoms = interfaces.li_argyrodite_interface(argyrodite_repeats=(3, 6, 2), li_ratio=8, coating_layers=2)
    names = [name for name, _, _ in atoms.info['slabs']]
    assert names == ['Li', 'Li2S', 'Li6PS5Cl', 'Li2S']
    coating = region(atoms, 'Li2S')
    symbols = coating.get_chemical_symbols()
    assert symbols.count('Li') == 2 * symbols.count('S') and set(symbols) == {'Li', 'S'}
    # in-plane Li2S cell (7, 2) x 2(-2, 7) in units of a/sqrt(2): 106 S per (001) plane;
    # 2 sides x 2 unit-cell layers x 2 S planes per cell
    assert symbols.count('S') == 2 * 2 * 2 * 106
    assert all(abs(m) < 0.02 for k, m in atoms.info['mismatch'].items() if k.startswith('Li2S'))


def test_seed_reproduces_the_cell():
    one = interfaces.li_argyrodite_interface(li_layers=4, seed=5)
    two = interfaces.li_argyrodite_interface(li_layers=4, seed=5)
    assert np.array_equal(one.positions, two.positions) and one.get_chemical_symbols() == two.get_chemical_symbols()


@pytest.mark.parametrize(
    ('kwargs', 'message'),
    [
        ({'li_ratio': 8}, 'cannot be met'),
        ({'li_ratio': 8, 'li_layers': 4}, 'exactly one'),
        ({}, 'exactly one'),
        ({'li_layers': 1}, 'at least 2'),
        ({'li_ratio': -1}, 'positive'),
        ({'li_layers': 4, 'coating_layers': 1}, 'no orthogonal in-plane supercell'),
        ({'li_layers': 4, 'max_mismatch': 0.01}, 'no orthogonal in-plane supercell'),
        ({'li_layers': 4, 'argyrodite_repeats': (1, 0, 1)}, 'positive integers'),
    ],
)
def test_impossible_cells_are_refused(kwargs, message):
    with pytest.raises(StructureInputError, match=message):
        interfaces.li_argyrodite_interface(**kwargs)


def test_in_plane_match_finds_the_exact_lattice_vectors():
    """A lattice matched to its own multiples has zero mismatch."""
    cubic = np.eye(3) * 4.0
    match = interfaces.match_in_plane(cubic, (0, 0, 1), (8.0, 12.0), 4.0, 0.01)
    assert match.mismatch == pytest.approx((0.0, 0.0))
    assert np.allclose(np.abs(match.vectors[:2]), [[8, 0, 0], [0, 12, 0]])
