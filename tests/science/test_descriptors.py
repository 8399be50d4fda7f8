"""Li-centred ACE descriptors: shape, agreement with pyace's calculator, invariances, locality."""

import numpy as np
import pytest
from ase import Atoms
from ase.build import bulk

from aiida_sei.science import crystals
from aiida_sei.science import descriptors as ace

pytest.importorskip('pyace')

N_FEATURES = 326  # default basis: Cl/Li/P/S, 6 Å, nradmax (8, 3, 1), lmax (0, 2, 1)


def rattled(atoms: Atoms, seed: int, stdev: float = 0.02) -> Atoms:
    atoms = atoms.copy()
    atoms.rattle(stdev, seed=seed)
    return atoms


def li_indices(atoms: Atoms) -> np.ndarray:
    return np.flatnonzero(atoms.numbers == 3)


def pyace_projections(atoms: Atoms, basis) -> np.ndarray:
    """Reference: the Li rows of PyACECalculator.projections (all atoms evaluated)."""
    from pyace import PyACECalculator

    atoms = atoms.copy()
    calc = PyACECalculator(basis)
    atoms.calc = calc
    atoms.get_potential_energy()
    return np.array([calc.projections[i] for i in li_indices(atoms)])


def test_basis_is_cached_and_sized():
    basis = ace.ace_basis()
    assert ace.ace_basis() is basis
    assert ace.ace_basis(elements=['S', 'P', 'Li', 'Cl'], cutoff=6) is basis
    assert list(basis.elements_name) == ['Cl', 'Li', 'P', 'S']
    assert basis.cutoffmax == pytest.approx(6.0)
    assert ace.descriptor_size() == N_FEATURES
    smaller = ace.ace_basis(nradmax=(6, 2), lmax=(0, 1))
    assert smaller is not basis
    assert 0 < ace.descriptor_size(smaller) < N_FEATURES
    assert ace.descriptor_size(ace.ace_basis(nradmax=3, lmax=1, max_order=2)) > 0


@pytest.mark.parametrize(
    'kwargs',
    [
        {'nradmax': (8, 3), 'lmax': (0, 2, 1)},
        {'nradmax': 3, 'lmax': 1},
        {'nradmax': (8, 3, 1), 'lmax': (0, 2, 1), 'max_order': 2},
        {'cutoff': -1.0},
        {'centre': 'Na'},
        {'elements': ('Li', 'Xx')},
    ],
)
def test_basis_rejects_bad_settings(kwargs):
    with pytest.raises(ValueError):
        ace.ace_basis(**kwargs)


@pytest.mark.parametrize(
    'atoms',
    [
        crystals.bcc_li(),
        crystals.li2s(),
        crystals.licl(),
        crystals.li3p(),
        crystals.argyrodite(seed=1),
        crystals.doped_li2s(seed=2),
    ],
    ids=['Li', 'Li2S', 'LiCl', 'Li3P', 'argyrodite', 'doped_Li2S'],
)
def test_one_row_per_li_and_a_common_width(atoms):
    descriptors = ace.li_ace_descriptors(atoms)
    assert descriptors.shape == (len(li_indices(atoms)), N_FEATURES)
    assert np.all(np.isfinite(descriptors))
    assert np.abs(descriptors).max() > 0


def test_frame_without_li_gives_an_empty_array():
    sulfur = bulk('S', 'sc', a=3.0)
    assert ace.li_ace_descriptors(sulfur).shape == (0, N_FEATURES)


def test_species_outside_the_basis_are_rejected():
    atoms = crystals.li2s()
    atoms.symbols[0] = 'O'
    with pytest.raises(ValueError, match='not in the basis'):
        ace.li_ace_descriptors(atoms)


@pytest.mark.parametrize(
    'atoms',
    [
        crystals.li2s(),  # cell edge 5.71 Å < cutoff: images beyond the first shell
        rattled(crystals.argyrodite(seed=3), seed=4),
        rattled(crystals.doped_li2s(seed=5), seed=6),
    ],
    ids=['Li2S_small_cell', 'argyrodite', 'doped_Li2S'],
)
def test_equal_to_pyace_calculator_projections(atoms):
    basis = ace.ace_basis()
    np.testing.assert_allclose(ace.li_ace_descriptors(atoms, basis), pyace_projections(atoms, basis), atol=1e-10)


def test_non_periodic_cluster_equals_pyace_calculator():
    cluster = rattled(crystals.li2s(supercell=(2, 2, 2)), seed=7)
    cluster.pbc = False
    basis = ace.ace_basis()
    np.testing.assert_allclose(ace.li_ace_descriptors(cluster), pyace_projections(cluster, basis), atol=1e-10)


def test_slab_periodic_in_two_directions_equals_padded_bulk():
    slab = rattled(crystals.li2s(supercell=(2, 2, 2)), seed=8)
    slab.center(vacuum=10.0, axis=2)
    periodic = ace.li_ace_descriptors(slab)  # vacuum 20 Å > cutoff: no image across z
    slab.pbc = (True, True, False)
    np.testing.assert_allclose(ace.li_ace_descriptors(slab), periodic, atol=1e-10)


def test_invariant_under_rotation_and_translation():
    atoms = rattled(crystals.argyrodite(seed=9), seed=10)
    reference = ace.li_ace_descriptors(atoms)
    moved = atoms.copy()
    moved.rotate(37.0, (1.0, -2.0, 0.5), rotate_cell=True)
    moved.rotate(-71.0, 'z', rotate_cell=True)
    moved.translate((3.1, -7.4, 12.9))
    np.testing.assert_allclose(ace.li_ace_descriptors(moved), reference, atol=1e-8)


def test_invariant_under_permutation_of_atoms():
    atoms = rattled(crystals.doped_li2s(seed=11), seed=12)
    reference = ace.li_ace_descriptors(atoms)
    row_of = {index: row for row, index in enumerate(li_indices(atoms))}
    order = np.random.default_rng(13).permutation(len(atoms))
    permuted = atoms[order]
    expected = reference[[row_of[index] for index in order[li_indices(permuted)]]]
    np.testing.assert_allclose(ace.li_ace_descriptors(permuted), expected, atol=1e-8)


def test_supercell_rows_equal_their_images():
    atoms = rattled(crystals.argyrodite(seed=14), seed=15)
    reference = ace.li_ace_descriptors(atoms)
    row_of = {index: row for row, index in enumerate(li_indices(atoms))}
    supercell = atoms.repeat((2, 2, 2))
    images = li_indices(supercell) % len(atoms)  # repeat() copies the atoms cell by cell
    expected = reference[[row_of[index] for index in images]]
    np.testing.assert_allclose(ace.li_ace_descriptors(supercell), expected, atol=1e-8)


@pytest.mark.parametrize('atoms', [crystals.bcc_li(), crystals.li2s(supercell=(2, 1, 1))], ids=['BCC_Li', 'Li2S'])
def test_equivalent_sites_have_identical_descriptors(atoms):
    descriptors = ace.li_ace_descriptors(atoms)
    np.testing.assert_allclose(descriptors, np.broadcast_to(descriptors[0], descriptors.shape), atol=1e-10)


def test_triclinic_primitive_cell_equals_cubic_cell():
    primitive = bulk('Li', 'bcc', a=crystals.LATTICE['Li'])  # 1 atom, triclinic, 2.96 Å spacing
    assert not np.allclose(primitive.cell.angles(), 90.0)
    cubic = ace.li_ace_descriptors(crystals.bcc_li())
    np.testing.assert_allclose(ace.li_ace_descriptors(primitive)[0], cubic[0], atol=1e-10)


def test_phases_are_far_apart_compared_with_thermal_spread():
    phases = {
        'Li2S': rattled(crystals.li2s(supercell=(2, 2, 2)), seed=16),
        'LiCl': rattled(crystals.licl(supercell=(2, 2, 2)), seed=17),
        'Li': rattled(crystals.bcc_li(), seed=18),
    }
    values = {name: ace.li_ace_descriptors(atoms) for name, atoms in phases.items()}
    spread = max(np.linalg.norm(v.std(axis=0)) for v in values.values())
    assert spread > 0  # the rattling did something
    mean = {name: v.mean(axis=0) for name, v in values.items()}
    for other in ('LiCl', 'Li'):
        assert np.linalg.norm(mean['Li2S'] - mean[other]) > 10 * spread
    assert np.linalg.norm(mean['LiCl'] - mean['Li']) > 10 * spread


def _minimum_image_distance(atoms: Atoms, index: int, position) -> float:
    probe = atoms.copy()
    probe.append('Li')
    probe.positions[-1] = position
    return probe.get_distance(index, len(probe) - 1, mic=True)


def test_atoms_beyond_the_cutoff_do_not_matter():
    atoms = crystals.li2s(supercell=(3, 3, 3))  # 17.1 Å cell: room for 7 Å moves
    atoms.rattle(0.02, seed=19)
    li = li_indices(atoms)
    centre = li[0]
    sulfur = np.flatnonzero(atoms.numbers == 16)
    far = sulfur[atoms.get_distances(centre, sulfur, mic=True) > 7.5][0]
    target = atoms.positions[centre] + np.array([7.0, 0.0, 0.0])
    assert _minimum_image_distance(atoms, centre, target) == pytest.approx(7.0)
    before = ace.li_ace_descriptors(atoms)
    moved = atoms.copy()
    moved.positions[far] = target
    after = ace.li_ace_descriptors(moved)
    np.testing.assert_allclose(after[0], before[0], atol=1e-12)
    # The move itself is real: Li near the old or the new site see it.
    assert np.abs(after - before).max() > 1e-3


def test_atoms_inside_the_cutoff_matter():
    atoms = crystals.li2s(supercell=(3, 3, 3))
    centre = li_indices(atoms)[0]
    sulfur = np.flatnonzero(atoms.numbers == 16)
    distances = atoms.get_distances(centre, sulfur, mic=True)
    near = sulfur[np.argmin(np.abs(distances - 5.0))]
    before = ace.li_ace_descriptors(atoms)[0]
    atoms.positions[near] += (0.1, 0.0, 0.0)
    assert np.abs(ace.li_ace_descriptors(atoms)[0] - before).max() > 1e-4
