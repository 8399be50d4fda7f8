"""Clusters cut out of production frames for DFT, and the errors against DFT on them, on cases
with known answers (no AiiDA profile)."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_sei.science import dft_check, interfaces


@pytest.fixture(scope='module')
def interface():
    return interfaces.li_argyrodite_interface(argyrodite_repeats=(1, 1, 2), li_layers=24)


def test_centres_are_s_atoms_of_the_asked_region(interface):
    symbols = np.array(interface.get_chemical_symbols())
    regions = dft_check.sulfur_regions(interface)
    assert set(symbols[regions['interface']]) == set(symbols[regions['bulk']]) == {'S'}
    assert regions['interface'].size and regions['bulk'].size
    assert regions['interface'].size + regions['bulk'].size == (symbols == 'S').sum()
    # the electrolyte is two cells (about 20 Å) thick: interface S lie within 4 Å of its faces, bulk S deeper
    z_p = interface.positions[symbols == 'P', 2]
    depth = lambda i: min(interface.positions[i, 2] - z_p.min(), z_p.max() - interface.positions[i, 2])  # noqa: E731
    assert max(depth(i) for i in regions['interface']) < dft_check.INTERFACE_DEPTH + 1.0
    assert min(depth(i) for i in regions['bulk']) > dft_check.INTERFACE_DEPTH - 1.5
    for region in dft_check.REGIONS:
        centre, got = dft_check.cluster_centre(interface, region, seed=3)
        assert got == region and centre in regions[region]


def test_a_region_without_s_gives_a_centre_of_the_other_and_a_frame_without_s_is_refused():
    li = bulk('Li', 'bcc', a=3.44, cubic=True) * (3, 3, 3)
    with pytest.raises(ValueError, match='no S atom'):
        dft_check.cluster_centre(li, 'interface')
    li[0].symbol = 'S'  # no PS4 at all: every S is `interface`
    assert dft_check.cluster_centre(li, 'bulk') == (0, 'interface')


def test_a_cluster_keeps_the_atoms_within_its_radius_across_the_periodic_boundary():
    li = bulk('Li', 'bcc', a=3.44, cubic=True) * (4, 4, 4)
    li[0].symbol = 'S'  # at the origin: its sphere reaches over every face of the cell
    cluster = dft_check.cut_cluster(li, 0, radius=3.0, vacuum=6.0)
    # BCC shells: 8 at a*sqrt(3)/2 = 2.98 Å, the next 6 at 3.44 Å: the centre and its first shell
    assert len(cluster) == 9 and cluster.get_chemical_symbols().count('S') == 1
    assert np.allclose(cluster.cell.lengths(), 12.0) and cluster.pbc.all()
    distances = np.linalg.norm(cluster.positions - 6.0, axis=1)
    assert distances.min() == pytest.approx(0.0) and distances.max() == pytest.approx(3.44 * np.sqrt(3) / 2)
    # the images are 12 Å apart: no atom of one sees an atom of the next within 6 Å
    assert cluster.get_all_distances(mic=True)[np.triu_indices(9, 1)].max() < 6.0
    assert dft_check.core_mask(cluster, 1.0).tolist() == [True] + [False] * 8


def test_energies_agree_once_one_shift_per_species_is_removed():
    compositions = [{'Li': 10, 'S': 4}, {'Li': 6, 'S': 7}, {'Li': 12, 'S': 1, 'P': 2}, {'Li': 3, 'S': 5, 'P': 1}, {'Li': 8, 'P': 3}]
    counts = np.array([[c.get(e, 0) for e in ('Li', 'P', 'S')] for c in compositions], float)
    reference = np.array([-50.0, -61.0, -40.0, -33.0, -45.0])
    shifted = reference + counts @ np.array([1.5, -0.3, 2.0])  # another level of theory's zeros
    errors = dft_check.aligned_energy_errors(compositions, reference, shifted)
    assert errors['energy_per_atom_mae'] == pytest.approx(0.0, abs=1e-12)
    assert errors['shifts'] == pytest.approx({'Li': 1.5, 'P': -0.3, 'S': 2.0})
    noisy = shifted + np.array([0.14, -0.14, 0.0, 0.0, 0.0])  # a real disagreement survives the fit
    assert dft_check.aligned_energy_errors(compositions, reference, noisy)['energy_per_atom_mae'] > 1e-3
    # as many clusters as species: the shifts absorb everything, so no number is given
    assert dft_check.aligned_energy_errors(compositions[:3], reference[:3], shifted[:3]) is None


def test_force_errors_count_only_the_core_atoms():
    reference = [np.zeros((3, 3)), np.zeros((2, 3))]
    other = [np.array([[0.3, 0.0, 0.0], [5.0, 5.0, 5.0], [5.0, 5.0, 5.0]]), np.array([[0.0, -0.3, 0.0], [9.0, 9.0, 9.0]])]
    masks = [np.array([True, False, False]), np.array([True, False])]
    errors = dft_check.force_errors(reference, other, masks)
    assert errors['components'] == 6
    assert errors['forces_mae'] == pytest.approx(0.1) and errors['forces_rmse'] == pytest.approx(np.sqrt(0.18 / 6))
