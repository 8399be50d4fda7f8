"""The paper's analyses on constructed cases with known answers (no AiiDA profile)."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_sei.science import analyses, crystals, interfaces


def test_intact_argyrodite_has_every_ps4_and_a_displaced_p_loses_one():
    atoms = crystals.argyrodite(supercell=(2, 2, 2), seed=1)
    assert analyses.count_intact_ps4(atoms) == 32
    phosphorus = np.flatnonzero(atoms.numbers == 15)[5]
    atoms.positions[phosphorus] += [1.4, 0.9, 0.0]
    assert analyses.count_intact_ps4(atoms) == 31
    assert not analyses.intact_ps4_mask(atoms)[phosphorus]


def test_ps4_with_a_cl_among_the_four_nearest_is_not_intact():
    atoms = crystals.argyrodite(seed=2)
    p = np.flatnonzero(atoms.numbers == 15)[0]
    distances = atoms.get_distances(p, range(len(atoms)), mic=True)
    nearest_s = int(np.argsort(np.where(atoms.numbers == 16, distances, np.inf))[0])
    atoms[nearest_s].symbol = 'Cl'
    assert analyses.count_intact_ps4(atoms) == 3


@pytest.fixture(scope='module')
def interface():
    return interfaces.li_argyrodite_interface(argyrodite_repeats=(1, 1, 2), li_layers=24)


def test_sei_thickness_of_a_slab_of_known_thickness(interface):
    atoms = interface.copy()
    pristine = analyses.sei_thickness(atoms)
    assert pristine['intact_ps4'] == 8
    assert pristine['lower'] < 2.5 and pristine['upper'] < 2.5  # only the PS4 S and free anions
    # move one free S 7 Å beyond the outermost intact P on the upper side, into the Li slab
    p_z = atoms.positions[atoms.numbers == 15][:, 2]
    sulfur = np.flatnonzero(atoms.numbers == 16)[0]
    atoms.positions[sulfur, 2] = p_z.max() + 7.0
    reacted = analyses.sei_thickness(atoms)
    assert reacted['upper'] == pytest.approx(7.0)
    assert reacted['lower'] == pytest.approx(pristine['lower'])


def test_sei_thickness_is_none_when_the_electrolyte_is_consumed():
    atoms = crystals.li2s(supercell=(2, 2, 2))
    assert analyses.sei_thickness(atoms) is None


@pytest.mark.parametrize(('structure', 'a', 'phase'), [('bcc', 3.42, 'BCC'), ('fcc', 4.33, 'FCC'), ('hcp', 3.06, 'HCP')])
def test_polyhedral_template_matching_of_ideal_li(structure, a, phase):
    atoms = bulk('Li', structure, a=a).repeat((4, 4, 4))
    fractions = analyses.li_phase_fractions(atoms)
    assert fractions[phase] == 1.0 and sum(fractions.values()) == pytest.approx(1.0)


def test_li_in_the_electrolyte_is_not_metallic():
    types = analyses.li_structure_types(crystals.argyrodite(supercell=(2, 2, 2)))
    assert set(types) == {'other'}


def test_rdf_of_bcc_li_has_eight_neighbours_in_the_first_shell():
    a = 3.42
    atoms = crystals.bcc_li(a=a, supercell=(5, 5, 5))
    r, g = analyses.partial_rdf(atoms, 'Li', 'Li', r_max=6.0, bins=600)
    first_peak = r[np.argmax(g)]
    assert first_peak == pytest.approx(a * np.sqrt(3) / 2, abs=0.01)
    density = len(atoms) / atoms.get_volume()
    dr = r[1] - r[0]
    shell = r < (a * np.sqrt(3) / 2 + a) / 2  # between the first (2.96 Å) and second (3.42 Å) shells
    assert np.sum(4 * np.pi * r[shell] ** 2 * g[shell] * density * dr) == pytest.approx(8, abs=0.05)


def test_composition_of_the_new_phase():
    atoms = crystals.doped_li2s(x=0.14, supercell=(5, 5, 5), seed=3)
    composition = analyses.composition_per_anion(atoms.get_chemical_symbols())
    assert composition == pytest.approx({'Li': 2.0, 'S': 0.72, 'P': 0.14, 'Cl': 0.14})


def test_window_msd_of_ballistic_and_still_atoms():
    frames, n_atoms = 30, 4
    time = np.arange(frames)[:, None, None]
    velocity = np.array([0.1, 0.2, 0.3])
    positions = np.zeros((frames, n_atoms, 3)) + time * velocity * np.array([1, 1, 1, 0])[:n_atoms, None]
    moving = np.array([True, True, True, False])
    msd = analyses.window_msd(positions, starts=[0, 5, 10], length=10, atoms_mask=moving)
    lag = np.arange(10)
    assert msd['in_plane'] == pytest.approx((0.1**2 + 0.2**2) * lag**2)
    assert msd['out_of_plane'] == pytest.approx(0.3**2 * lag**2)
    still = analyses.window_msd(positions, starts=[0], length=10, atoms_mask=~moving)
    assert np.all(still['in_plane'] == 0) and np.all(still['out_of_plane'] == 0)


def test_msd_of_atoms_crossing_the_cell_boundary_needs_their_image_flags():
    """An atom drifting 0.4 Å per frame through a 3 Å box (a shrinking NPT cell) crosses the
    boundary several times: its wrapped positions jump back, its unwrapped path does not, and only
    the unwrapped path gives the ballistic MSD."""
    frames = 25
    cells = np.array([np.diag([3.0, 3.0, 3.0 - 0.01 * f]) for f in range(frames)])
    path = np.zeros((frames, 1, 3))
    path[:, 0, 2] = 0.2 + 0.4 * np.arange(frames)  # along z, the out-of-plane axis
    lengths = cells[:, 2, 2]
    images = np.zeros((frames, 1, 3), int)
    images[:, 0, 2] = np.floor(path[:, 0, 2] / lengths)
    wrapped = path.copy()
    wrapped[:, 0, 2] -= images[:, 0, 2] * lengths  # what LAMMPS dumps as x y z
    assert images[-1, 0, 2] >= 3 and np.all(wrapped[:, 0, 2] < lengths)
    assert np.allclose(analyses.unwrap(wrapped, cells, images), path)
    lag = np.arange(10)
    msd = analyses.window_msd(analyses.unwrap(wrapped, cells, images), starts=[0, 5], length=10, atoms_mask=[True])
    assert msd['out_of_plane'] == pytest.approx((0.4 * lag) ** 2)
    wrong = analyses.window_msd(wrapped, starts=[0, 5], length=10, atoms_mask=[True])
    assert not np.allclose(wrong['out_of_plane'], (0.4 * lag) ** 2)


def test_xrd_of_li2s_has_its_111_reflection_where_bragg_puts_it():
    a = 5.71
    two_theta, intensity = analyses.xrd_pattern(crystals.li2s(a=a))
    expected = 2 * np.degrees(np.arcsin(1.54184 / (2 * a / np.sqrt(3))))
    assert two_theta[np.argmin(np.abs(two_theta - expected))] == pytest.approx(expected, abs=0.05)
    assert intensity.max() == pytest.approx(100)


def test_sei_region_holds_the_atoms_between_electrolyte_and_furthest_anion(interface):
    atoms = interface.copy()
    phosphorus = np.flatnonzero(atoms.numbers == 15)
    free = [i for i in np.flatnonzero(atoms.numbers == 16) if atoms.get_distances(i, phosphorus, mic=True).min() > 3.0]
    top = atoms.positions[phosphorus][:, 2].max()
    atoms.positions[free[0], 2] = top + 7.0
    mask = analyses.sei_region_mask(atoms)
    z = atoms.positions[:, 2]
    assert mask[free[0]]
    li = atoms.numbers == 3
    # every Li between the outermost P and the moved S is in the region, none beyond it
    between = li & (z > top + 0.01) & (z <= top + 7.0)
    beyond = li & (z > top + 7.01) & (z < top + 15.0)
    assert mask[between].all() and between.any() and not mask[beyond].any()
    assert not analyses.sei_region_mask(crystals.li2s()).any()


def test_phase_atoms_are_the_labelled_li_and_their_anions():
    atoms = crystals.li2s(supercell=(2, 2, 2))
    li = np.flatnonzero(atoms.numbers == 3)
    labels = np.where(atoms.positions[li, 0] < atoms.cell[0, 0] / 2, 'A', 'B')
    region = analyses.phase_atoms(atoms, labels, 'A')
    assert np.sum(region.numbers == 3) == np.sum(labels == 'A')
    assert 0 < np.sum(region.numbers == 16) < np.sum(atoms.numbers == 16)  # only S bonded to A-Li


def test_frame_numbers_of_a_pristine_and_a_reacted_interface(interface):
    """The per-frame numbers sei.interface stores: a pristine cell has all PS4, almost no SEI and
    BCC metal; pulling one PS4's S 7 Å into the upper Li slab breaks that PS4, makes a 7-Å SEI on
    that side and an SEI composition per anion."""
    pristine = analyses.frame_numbers(interface)
    assert pristine['intact_ps4'] == 8 and pristine['sei_upper'] < 2.5
    assert pristine['li_bcc'] > 0.5 and sum(pristine[f'li_{p}'] for p in ('bcc', 'hcp', 'fcc', 'other')) == pytest.approx(1.0)
    atoms = interface.copy()
    sulfur = np.flatnonzero(atoms.numbers == 16)[0]
    atoms.positions[sulfur, 2] = atoms.positions[atoms.numbers == 15][:, 2].max() + 7.0
    reacted = analyses.frame_numbers(atoms)
    assert reacted['sei_upper'] == pytest.approx(7.0) and reacted['intact_ps4'] == 7
    assert reacted['sei_s'] + reacted['sei_p'] + reacted['sei_cl'] == pytest.approx(1.0) and reacted['sei_li'] > 0
    consumed = analyses.frame_numbers(crystals.li2s(supercell=(2, 2, 2)))
    assert consumed['intact_ps4'] == 0 and np.isnan(consumed['sei_upper'])


def test_li_msd_by_phase_follows_the_atoms_ptm_finds_in_each_phase():
    """Fig. 2b's analysis: BCC Li gliding in plane (x) and HCP Li moving along z; each phase's
    MSD is that of its own atoms, along the right axes; a phase absent is NaN with 0 atoms."""
    from ase.build import bulk

    def trajectory(atoms, velocity, n=30):
        frames = []
        for step in range(n):
            frame = atoms.copy()
            frame.positions += np.asarray(velocity) * step
            frames.append(frame)
        return frames, np.array([f.positions for f in frames])

    starts, length = analyses.msd_windows(30)
    assert (starts, length) == ([5, 10, 15, 20, 25], 2)  # the paper's 5, 10, ..., 25 of 30 ns
    assert analyses.msd_windows(3000) == ([500, 1000, 1500, 2000, 2500], 200)  # 2 ns windows of a 30 ns run
    bcc, unwrapped = trajectory(bulk('Li', 'bcc', a=3.42, cubic=True).repeat(3), [0.1, 0, 0])
    msd = analyses.li_msd_by_phase(bcc, unwrapped, starts, length)
    lags = np.arange(length)
    assert msd['BCC_atoms'] == 54 * len(starts)
    assert np.allclose(msd['BCC_in_plane'], (0.1 * lags) ** 2) and np.allclose(msd['BCC_out_of_plane'], 0)
    assert msd['HCP_atoms'] == 0 and np.isnan(msd['HCP_in_plane']).all()
    hcp, unwrapped = trajectory(bulk('Li', 'hcp', a=3.1, c=5.06).repeat((4, 4, 3)), [0, 0, 0.2])
    msd = analyses.li_msd_by_phase(hcp, unwrapped, starts, length)
    assert msd['HCP_atoms'] == 96 * len(starts) and np.allclose(msd['HCP_out_of_plane'], (0.2 * lags) ** 2)
    assert np.allclose(msd['HCP_in_plane'], 0)
    with pytest.raises(ValueError, match='too few'):
        analyses.msd_windows(2)
