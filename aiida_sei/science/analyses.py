"""The paper's analyses of SEI trajectories (Figs. 2 and 5), as pure functions on ASE atoms.

Lengths in Å, times in the units of the given time axis. Neighbour searches are periodic k-d
trees (``geometry.close_pairs``), so each function is O(N log N) in the number of atoms and runs
on a 100,000-atom frame in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from ase import Atoms

from .geometry import close_pairs

#: The paper's definition of an intact PS4 tetrahedron: the four nearest neighbours of P are S
#: within this distance (Å).
PS4_CUTOFF = 2.6
ANIONS = ('S', 'P', 'Cl')


def intact_ps4_mask(atoms: Atoms, cutoff: float = PS4_CUTOFF) -> np.ndarray:
    """Boolean per atom: True for P atoms whose four nearest neighbours are S within ``cutoff``.

    O(N log N): one periodic neighbour search, then a sort of the pairs that involve P.
    """
    symbols = np.array(atoms.get_chemical_symbols())
    is_p = symbols == 'P'
    first, second, distance = close_pairs(atoms, cutoff)
    centre = np.concatenate([first[is_p[first]], second[is_p[second]]])
    other = np.concatenate([second[is_p[first]], first[is_p[second]]])
    dist = np.concatenate([distance[is_p[first]], distance[is_p[second]]])
    order = np.lexsort((dist, centre))
    centre, other = centre[order], other[order]
    mask = np.zeros(len(atoms), bool)
    starts = np.searchsorted(centre, np.flatnonzero(is_p))
    ends = np.searchsorted(centre, np.flatnonzero(is_p), side='right')
    for p, start, end in zip(np.flatnonzero(is_p), starts, ends):
        nearest = other[start : min(end, start + 4)]
        mask[p] = len(nearest) == 4 and bool(np.all(symbols[nearest] == 'S'))
    return mask


def count_intact_ps4(atoms: Atoms, cutoff: float = PS4_CUTOFF) -> int:
    """Number of intact PS4 tetrahedra (the paper's measure of unreacted electrolyte). O(N log N)."""
    return int(intact_ps4_mask(atoms, cutoff).sum())


@dataclass(frozen=True)
class _SeiLayout:
    """Positions along the stacking axis unwrapped about the electrolyte's centre, the
    electrolyte's extent [low, high] and the SEI's outer limits [sei_low, sei_high]."""

    intact: np.ndarray
    unwrapped: np.ndarray
    low: float
    high: float
    sei_low: float
    sei_high: float


def _sei_layout(atoms: Atoms, axis: int, cutoff: float) -> _SeiLayout | None:
    """The electrolyte spans the intact PS4 phosphorus atoms; the SEI on each side reaches the
    furthest S, P or Cl beyond it. Positions are unwrapped about the centre of the intact P
    (taken on the circle, so a slab across the periodic boundary works), so each anion outside
    the electrolyte belongs to the nearer side. None when no PS4 is left."""
    intact = intact_ps4_mask(atoms, cutoff)
    if not intact.any():
        return None
    length = atoms.cell.lengths()[axis]
    z = atoms.positions[:, axis]
    angles = 2 * np.pi * z[intact] / length
    centre = (np.arctan2(np.sin(angles).mean(), np.cos(angles).mean()) / (2 * np.pi)) * length
    unwrapped = (z - centre + length / 2) % length - length / 2
    low, high = unwrapped[intact].min(), unwrapped[intact].max()
    anions = np.isin(np.array(atoms.get_chemical_symbols()), ANIONS)
    below, above = unwrapped[anions & (unwrapped < low)], unwrapped[anions & (unwrapped > high)]
    return _SeiLayout(intact, unwrapped, low, high, below.min() if below.size else low, above.max() if above.size else high)


def sei_thickness(atoms: Atoms, axis: int = 2, cutoff: float = PS4_CUTOFF) -> dict | None:
    """SEI thickness on each side of the electrolyte along ``axis`` (Å): from the boundary of
    the intact PS4 to the furthest S, P or Cl that diffused into the Li side. The cell is
    periodic along ``axis`` with one electrolyte slab. Returns None when no PS4 is left (the
    electrolyte is consumed). O(N log N).
    """
    layout = _sei_layout(atoms, axis, cutoff)
    if layout is None:
        return None
    return {
        'lower': float(layout.low - layout.sei_low),
        'upper': float(layout.sei_high - layout.high),
        'electrolyte_width': float(layout.high - layout.low),
        'intact_ps4': int(layout.intact.sum()),
    }


def sei_region_mask(atoms: Atoms, axis: int = 2, cutoff: float = PS4_CUTOFF) -> np.ndarray:
    """Boolean per atom: inside the SEI on either side, i.e. between the boundary of the intact
    PS4 and the furthest S, P or Cl in the Li side (the slabs :func:`sei_thickness` measures).
    All False when no PS4 is left. O(N log N)."""
    layout = _sei_layout(atoms, axis, cutoff)
    if layout is None:
        return np.zeros(len(atoms), bool)
    z = layout.unwrapped
    return ((z < layout.low) & (z >= layout.sei_low)) | ((z > layout.high) & (z <= layout.sei_high))


def li_structure_types(atoms: Atoms) -> np.ndarray:
    """Polyhedral template matching of the Li sublattice (OVITO): 'BCC', 'HCP', 'FCC' or 'other'
    for each Li atom, in the order of the Li atoms in ``atoms``. O(N)."""
    from ovito.io.ase import ase_to_ovito
    from ovito.modifiers import PolyhedralTemplateMatchingModifier
    from ovito.pipeline import Pipeline, StaticSource

    lithium = atoms[np.array(atoms.get_chemical_symbols()) == 'Li']
    pipeline = Pipeline(source=StaticSource(data=ase_to_ovito(lithium)))
    pipeline.modifiers.append(PolyhedralTemplateMatchingModifier())
    types = np.asarray(pipeline.compute().particles['Structure Type'])
    names = {PolyhedralTemplateMatchingModifier.Type.BCC: 'BCC', PolyhedralTemplateMatchingModifier.Type.HCP: 'HCP', PolyhedralTemplateMatchingModifier.Type.FCC: 'FCC'}
    return np.array([names.get(t, 'other') for t in types])


def li_phase_fractions(atoms: Atoms) -> dict[str, float]:
    """Fractions of Li atoms in BCC, HCP, FCC and other environments. O(N)."""
    types = li_structure_types(atoms)
    return {name: float(np.mean(types == name)) if len(types) else 0.0 for name in ('BCC', 'HCP', 'FCC', 'other')}


def partial_rdf(atoms: Atoms, first: str, second: str, r_max: float = 6.0, bins: int = 120, mask=None):
    """Partial radial distribution function g_ab(r) of the (optionally masked) atoms.

    Returns (r bin centres in Å, g). Normalised by the ideal-gas density of ``second`` in the cell,
    so g -> 1 at large r in a homogeneous region. O(N log N).
    """
    symbols = np.array(atoms.get_chemical_symbols())
    selected = np.ones(len(atoms), bool) if mask is None else np.asarray(mask, bool)
    is_a, is_b = (symbols == first) & selected, (symbols == second) & selected
    i, j, d = close_pairs(atoms, r_max)
    distances = np.concatenate([d[is_a[i] & is_b[j]], d[is_b[i] & is_a[j]]])
    counts, edges = np.histogram(distances, bins=bins, range=(0.0, r_max))
    shell = 4 / 3 * np.pi * (edges[1:] ** 3 - edges[:-1] ** 3)
    density_b = is_b.sum() / atoms.get_volume()
    g = counts / (max(is_a.sum(), 1) * density_b * shell) if density_b > 0 else np.zeros(bins)
    return (edges[1:] + edges[:-1]) / 2, g


def composition_per_anion(symbols) -> dict[str, float]:
    """Composition written as Li_a S_x P_y Cl_z with x + y + z = 1 (the paper's Li2S0.72P0.14Cl0.14)."""
    symbols = list(symbols)
    anions = sum(symbols.count(s) for s in ANIONS)
    if anions == 0:
        raise ValueError('no S, P or Cl: the region has no anion to normalise by')
    return {element: symbols.count(element) / anions for element in ('Li', *ANIONS)}


#: The per-frame numbers of :func:`frame_numbers`, in order.
FRAME_NUMBERS = ('intact_ps4', 'sei_lower', 'sei_upper', 'li_bcc', 'li_hcp', 'li_fcc', 'li_other',
                 'sei_li', 'sei_s', 'sei_p', 'sei_cl')


def frame_numbers(atoms: Atoms, axis: int = 2) -> dict[str, float]:
    """The paper's numbers of one interface frame (Fig. 2d and the SEI's composition): intact PS4
    units, SEI thickness on each side (Å), fractions of Li in BCC/HCP/FCC/other environments (PTM),
    and the SEI region's Li, S, P and Cl per anion (x + y + z = 1). NaN where there is nothing to
    measure: no PS4 left for the thickness, no anion in the SEI for its composition."""
    nan = float('nan')
    thickness = sei_thickness(atoms, axis)
    row = {'intact_ps4': float(count_intact_ps4(atoms)),
           'sei_lower': thickness['lower'] if thickness else nan, 'sei_upper': thickness['upper'] if thickness else nan}
    row.update({f'li_{phase.lower()}': value for phase, value in li_phase_fractions(atoms).items()})
    sei_symbols = [s for s, inside in zip(atoms.get_chemical_symbols(), sei_region_mask(atoms, axis)) if inside]
    has_anions = any(s in ANIONS for s in sei_symbols)
    composition = composition_per_anion(sei_symbols) if has_anions else {}
    row.update({f'sei_{element.lower()}': composition.get(element, nan) for element in ('Li', *ANIONS)})
    return {name: float(row[name]) for name in FRAME_NUMBERS}


def unwrap(positions: np.ndarray, cells: np.ndarray, images: np.ndarray) -> np.ndarray:
    """Continuous paths from wrapped positions (frames, atoms, 3), each frame's cell (frames, 3, 3,
    rows = lattice vectors) and LAMMPS image flags (frames, atoms, 3): r + n·cell, frame by frame,
    so NPT cells that change are handled."""
    return np.asarray(positions, float) + np.einsum('fai,fij->faj', np.asarray(images, float), np.asarray(cells, float))


def window_msd(positions: np.ndarray, starts, length: int, atoms_mask, axis: int = 2) -> dict[str, np.ndarray]:
    """Window-averaged mean square displacement (Å^2) of the masked atoms, in-plane and along
    ``axis``, over windows of ``length`` frames beginning at each index in ``starts``.

    ``positions``: unwrapped trajectory, shape (frames, atoms, 3). Returns arrays over the lag
    0..length-1, averaged over windows and atoms. O(windows x length x atoms).
    """
    positions = np.asarray(positions, float)
    mask = np.asarray(atoms_mask, bool)
    in_plane_axes = [a for a in range(3) if a != axis]
    in_plane, out_of_plane = np.zeros(length), np.zeros(length)
    for start in starts:
        window = positions[start : start + length, mask]
        if len(window) < length:
            raise ValueError(f'window at frame {start} runs past the end of the trajectory')
        displacement = window - window[0]
        in_plane += np.mean(np.sum(displacement[:, :, in_plane_axes] ** 2, axis=2), axis=1)
        out_of_plane += np.mean(displacement[:, :, axis] ** 2, axis=1)
    return {'in_plane': in_plane / len(starts), 'out_of_plane': out_of_plane / len(starts)}


def msd_windows(n_frames: int, windows: int = 5) -> tuple[list[int], int]:
    """Window origins and length (frames) in the paper's proportions: origins at 5, 10, 15, 20
    and 25 of 30 ns, each window 2 ns, i.e. origins at k/6 of the run and windows of 1/15 of it
    (at least 2 frames; origins that would run past the end move back)."""
    length = max(2, round(n_frames / 15))
    if n_frames < length + 1:
        raise ValueError(f'{n_frames} frames are too few for a window-averaged MSD (need at least {length + 1})')
    starts = sorted({min(round(k * n_frames / 6), n_frames - length) for k in range(1, windows + 1)})
    return starts, length


def li_msd_by_phase(frames: list[Atoms], unwrapped: np.ndarray, starts, length: int, axis: int = 2, phases=('BCC', 'HCP')) -> dict:
    """The paper's Fig. 2b: window-averaged MSD (Å^2) in plane and along ``axis`` of the Li atoms
    that PTM finds in each of ``phases`` at each window's first frame, averaged over windows
    weighted by their atom counts. ``frames``: the trajectory (for PTM); ``unwrapped``: its
    continuous positions (frames, atoms, 3). A phase with no atom at any origin gives NaN."""
    is_li = np.array(frames[0].get_chemical_symbols()) == 'Li'
    result = {}
    for phase in phases:
        sums, atoms_counted = {'in_plane': np.zeros(length), 'out_of_plane': np.zeros(length)}, 0
        for start in starts:
            mask = np.zeros(len(is_li), bool)
            mask[np.flatnonzero(is_li)[li_structure_types(frames[start]) == phase]] = True
            if mask.any():
                msd = window_msd(unwrapped, [start], length, mask, axis)
                for key in sums:
                    sums[key] += msd[key] * mask.sum()
                atoms_counted += int(mask.sum())
        for key, total in sums.items():
            result[f'{phase}_{key}'] = total / atoms_counted if atoms_counted else np.full(length, np.nan)
        result[f'{phase}_atoms'] = atoms_counted
    return result


def phase_atoms(atoms: Atoms, li_labels, label: str, shell: float = 3.0) -> Atoms:
    """The atoms of a classified phase: the Li labelled ``label`` and every anion within
    ``shell`` Å of one of them, in the original cell. O(N log N)."""
    symbols = np.array(atoms.get_chemical_symbols())
    is_li = symbols == 'Li'
    chosen = np.zeros(len(atoms), bool)
    chosen[np.flatnonzero(is_li)[np.asarray(li_labels) == label]] = True
    first, second, _ = close_pairs(atoms, shell)
    anion = np.isin(symbols, ANIONS)
    chosen[second[chosen[first] & anion[second]]] = True
    chosen[first[chosen[second] & anion[first]]] = True
    return atoms[chosen]


def xrd_pattern(atoms: Atoms, wavelength: str = 'CuKa', two_theta_range=(10, 80)):
    """Simulated powder XRD (pymatgen) of a structure: (2θ in degrees, intensities scaled to 100)."""
    from pymatgen.analysis.diffraction.xrd import XRDCalculator
    from pymatgen.io.ase import AseAtomsAdaptor

    pattern = XRDCalculator(wavelength=wavelength).get_pattern(AseAtomsAdaptor.get_structure(atoms), two_theta_range=two_theta_range)
    return np.asarray(pattern.x), np.asarray(pattern.y)
