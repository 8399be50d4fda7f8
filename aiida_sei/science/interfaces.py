"""Symmetric Li | Li6PS5Cl | Li cells: Li6PS5Cl (100) on Li (110), optionally with Li2S coatings.

The electrolyte fixes the in-plane cell (``argyrodite_repeats`` cubic cells, x and y along its
[010] and [001]); every other slab gets the orthogonal in-plane supercell of its own lattice that
matches it best and is strained onto it. The stacking axis is z and the cell is periodic in z,
so one Li slab and one electrolyte slab make the two interfaces of the symmetric cell.

Mismatch is reported as ``L_slab / L_electrolyte - 1`` along each in-plane axis, with the
unstrained slab length. With the paper's PBE lattice parameters (Li 3.420 Å, Li6PS5Cl 9.912 Å)
and 3 x 6 electrolyte cells this gives the paper's -0.4 % along Li [111] and -1.4 % along
Li [11-2], and with 10 electrolyte cells and Li:Li6PS5Cl >= 16 exactly its 21,120-atom cell.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.build import bulk, make_supercell

from .crystals import LATTICE, argyrodite, argyrodite_sites
from .validation import StructureInputError, positive_length, supercell_repeats

#: Li6PS5Cl formula units per cubic cell.
FORMULA_UNITS_PER_CELL = 4
#: Li (110) planes per stacking period of the orthogonal cell (ABAB stacking).
LI_PLANES_PER_PERIOD = 2
#: Half-width (fractions of a) of the z-extent of a PS4 tetrahedron around its P.
_PS4_HALF_HEIGHT = 0.5 - 0.3815


@dataclass(frozen=True)
class InPlaneMatch:
    """An orthogonal in-plane supercell of a slab lattice matched to the electrolyte's."""

    vectors: np.ndarray  #: (3, 3) Cartesian supercell vectors v1, v2 (in-plane) and v3 (normal), Å
    directions: tuple[str, str]  #: Miller directions of v1 and v2 in the conventional cubic basis
    mismatch: tuple[float, float]  #: L_slab / L_target - 1 along v1 and v2


def _miller(vector: np.ndarray, a: float) -> str:
    """Smallest integer direction [uvw] parallel to a Cartesian vector of a cubic lattice."""
    ints = np.round(vector / a * 2).astype(int)
    ints //= math.gcd(*map(abs, ints)) or 1
    if ints[np.flatnonzero(ints)[0]] < 0:
        ints = -ints
    return '[' + ''.join(str(i) if i >= 0 else f'-{-i}' for i in ints) + ']'


def _lattice_vectors(primitive: np.ndarray, reach: int) -> tuple[np.ndarray, np.ndarray]:
    """All lattice vectors with integer coefficients in [-reach, reach] (coefficients, Cartesian)."""
    rng = range(-reach, reach + 1)
    coefficients = np.array(list(itertools.product(rng, rng, rng)))
    coefficients = coefficients[np.any(coefficients != 0, axis=1)]
    return coefficients, coefficients @ primitive


def _plane_basis(primitive: np.ndarray, normal: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A 2D basis of the lattice vectors perpendicular to ``normal`` and the normal period vector.

    The two shortest independent in-plane vectors form a basis of a 2D lattice; the shortest
    lattice vector along ``normal`` is the stacking period.
    """
    normal = normal / np.linalg.norm(normal)
    _, vectors = _lattice_vectors(primitive, 4)
    lengths = np.linalg.norm(vectors, axis=1)
    order = np.argsort(lengths, kind='stable')
    vectors, lengths = vectors[order], lengths[order]
    in_plane = vectors[np.abs(vectors @ normal) < 1e-8 * lengths]
    b1 = in_plane[0]
    b2 = next(v for v in in_plane[1:] if np.linalg.norm(np.cross(b1, v)) > 1e-6)
    along = vectors[(np.linalg.norm(np.cross(vectors, normal), axis=1) < 1e-8 * lengths) & (vectors @ normal > 0)]
    return np.array([b1, b2]), along[0]


def match_in_plane(
    primitive: np.ndarray,
    normal,
    targets: tuple[float, float],
    cubic_a: float,
    max_mismatch: float,
) -> InPlaneMatch:
    """Best orthogonal in-plane supercell of a lattice for target lengths ``targets`` (Å).

    Minimises the largest |mismatch|; ties go to the smaller summed |mismatch|.
    Raises :class:`StructureInputError` when no pair is within ``max_mismatch``.
    """
    basis, period = _plane_basis(np.asarray(primitive, float), np.asarray(normal, float))
    shortest = min(np.linalg.norm(basis, axis=1))
    reach = int(math.ceil(max(targets) * (1 + max_mismatch) / (math.sin(math.pi / 3) * shortest))) + 1
    pq = np.array(list(itertools.product(range(-reach, reach + 1), repeat=2)))
    vectors = pq @ basis
    lengths = np.linalg.norm(vectors, axis=1)
    best = None
    for index1 in np.flatnonzero(np.abs(lengths / targets[0] - 1) <= max_mismatch):
        v1 = vectors[index1]
        ok = (np.abs(lengths / targets[1] - 1) <= max_mismatch) & (np.abs(vectors @ v1) < 1e-6 * lengths)
        for index2 in np.flatnonzero(ok):
            mismatch = (lengths[index1] / targets[0] - 1, lengths[index2] / targets[1] - 1)
            key = (round(max(map(abs, mismatch)), 9), round(sum(map(abs, mismatch)), 9))
            if best is None or key < best[0]:
                best = (key, v1, vectors[index2], mismatch)
    if best is None:
        raise StructureInputError(
            f'no orthogonal in-plane supercell within {max_mismatch:.1%} of {targets[0]:.3f} x '
            f'{targets[1]:.3f} Å; use larger argyrodite_repeats or a larger max_mismatch'
        )
    _, v1, v2, mismatch = best
    if np.dot(np.cross(v1, v2), period) < 0:
        v2 = -v2
    return InPlaneMatch(np.array([v1, v2, period]), (_miller(v1, cubic_a), _miller(v2, cubic_a)), mismatch)


def oriented_slab_cell(primitive_atoms: Atoms, match: InPlaneMatch, targets: tuple[float, float]) -> Atoms:
    """One stacking period of the matched supercell, rotated to x/y/z and strained in-plane."""
    transform = np.round(match.vectors @ np.linalg.inv(primitive_atoms.cell.array)).astype(int)
    if not np.allclose(transform @ primitive_atoms.cell.array, match.vectors, atol=1e-6):
        raise RuntimeError('matched vectors are not lattice vectors')
    cell = make_supercell(primitive_atoms, transform, wrap=True)
    period = np.linalg.norm(match.vectors[2])
    # Orthogonal, right-handed cell: a diagonal cell with scaled atoms is a pure rotation + strain.
    cell.set_cell(np.diag([targets[0], targets[1], period]), scale_atoms=True)
    return cell


def take_planes(period_cell: Atoms, n_planes: int, first_symbol: str | None = None) -> Atoms:
    """``n_planes`` consecutive atomic planes (normal z) of a periodic stack, bottom plane at z=0.

    With ``first_symbol`` the stack starts at the first plane holding that element.
    """
    height = period_cell.cell[2, 2]
    z = period_cell.positions[:, 2] % height
    per_period = _plane_index(z).max() + 1 - int(z.max() > height - 0.1 and z.min() < 0.1)
    stack = period_cell.repeat((1, 1, n_planes // per_period + 2))
    plane = _plane_index(stack.positions[:, 2])
    start = 0
    if first_symbol is not None:
        symbols = np.array(stack.get_chemical_symbols())
        start = min(plane[symbols == first_symbol])
    slab = stack[(plane >= start) & (plane < start + n_planes)]
    slab.positions[:, 2] -= slab.positions[:, 2].min()
    return slab


def _plane_index(z: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """Index of the atomic plane (normal z, planes further apart than ``tolerance`` Å) of each atom."""
    order = np.argsort(z, kind='stable')
    starts = np.concatenate([[0], np.cumsum(np.diff(z[order]) > tolerance)])
    index = np.empty(len(z), dtype=int)
    index[order] = starts
    return index


def argyrodite_cut_height(a: float) -> float:
    """Height (fraction of a) of the (001) cut that splits no PS4 tetrahedron.

    The midpoint of the widest empty z-gap of the full site frame that lies outside every
    PS4's z-extent, so the electrolyte slab ends on whole tetrahedra.
    """
    frame = argyrodite_sites(a)
    z = np.unique(np.round(frame.get_scaled_positions()[:, 2] % 1.0, 6))
    z = np.append(z, z[0] + 1.0)
    p_heights = frame.get_scaled_positions()[frame.numbers == 15][:, 2] % 1.0
    best = None
    for low, high in zip(z[:-1], z[1:]):
        mid = (low + high) / 2
        distance = np.abs((mid - p_heights + 0.5) % 1.0 - 0.5)
        if np.all(distance > _PS4_HALF_HEIGHT) and (best is None or high - low > best[0] + 1e-9):
            best = (high - low, mid % 1.0)
    return best[1]


def _argyrodite_slab(repeats, a: float, cl_on_4a: float, seed: int) -> Atoms:
    slab = argyrodite(a, repeats, cl_on_4a, seed)
    height = repeats[2] * a
    shifted = (slab.positions[:, 2] - argyrodite_cut_height(a) * a) % height
    slab.positions[:, 2] = shifted - shifted.min()
    return slab


def _li_period(a_li: float, targets, max_mismatch: float) -> tuple[Atoms, InPlaneMatch]:
    primitive = bulk('Li', 'bcc', a=a_li)
    match = match_in_plane(primitive.cell.array, (1, -1, 0), targets, a_li, max_mismatch)
    return oriented_slab_cell(primitive, match, targets), match


def _li2s_period(a_li2s: float, targets, max_mismatch: float) -> tuple[Atoms, InPlaneMatch]:
    primitive = bulk('SLi2', 'fluorite', a=a_li2s)  # antifluorite: S on the fcc sites
    match = match_in_plane(primitive.cell.array, (0, 0, 1), targets, a_li2s, max_mismatch)
    return oriented_slab_cell(primitive, match, targets), match


def _li_layer_count(li_ratio, li_layers, per_layer: int, formula_units: int, tolerance: float) -> int:
    """Li (110) planes: ``li_layers`` as given, or the fewest whole stacking periods reaching
    ``li_ratio`` Li atoms per Li6PS5Cl formula unit (within ``tolerance`` of it)."""
    if (li_ratio is None) == (li_layers is None):
        raise StructureInputError('give exactly one of li_ratio and li_layers')
    if li_layers is not None:
        if int(li_layers) < 2:
            raise StructureInputError(f'li_layers must be at least 2, got {li_layers}')
        return int(li_layers)
    li_ratio = float(li_ratio)
    if not li_ratio > 0:
        raise StructureInputError(f'li_ratio must be positive, got {li_ratio}')
    per_period = per_layer * LI_PLANES_PER_PERIOD
    periods = max(1, math.ceil(li_ratio * formula_units / per_period - 1e-9))
    realised = periods * per_period / formula_units
    if realised > li_ratio * (1 + tolerance):
        raise StructureInputError(
            f'Li:Li6PS5Cl = {li_ratio:g} cannot be met within {tolerance:.0%}: a Li (110) period holds '
            f'{per_period} atoms and the electrolyte {formula_units} formula units, so the nearest '
            f'cell has {realised:.2f}:1; use a thicker electrolyte or give li_layers'
        )
    return periods * LI_PLANES_PER_PERIOD


def li_argyrodite_interface(
    argyrodite_repeats=(1, 1, 1),
    li_ratio: float | None = None,
    li_layers: int | None = None,
    coating_layers: int = 0,
    a_li: float = LATTICE['Li'],
    a_argyrodite: float = LATTICE['Li6PS5Cl'],
    a_li2s: float = LATTICE['Li2S'],
    cl_on_4a: float = 0.5,
    seed: int = 0,
    gap: float = 2.2,
    max_mismatch: float = 0.05,
    ratio_tolerance: float = 0.1,
) -> Atoms:
    """The symmetric cell Li | [Li2S] | Li6PS5Cl | [Li2S] | (periodic Li), stacked along z.

    ``argyrodite_repeats``: electrolyte cubic cells along x, y, z. The Li slab has ``li_layers``
    (110) planes, or enough whole periods for ``li_ratio`` Li per formula unit (the paper: 8, 16).
    ``coating_layers`` Li2S unit-cell layers (4 planes each, S first) sit between Li and the
    electrolyte on both sides. ``gap`` is the z-distance (Å) between facing atomic planes.

    ``atoms.info`` holds the mismatch of each slab along its in-plane Miller directions, the
    realised Li ratio, the Li layer count and the z-range of every slab.
    """
    repeats = supercell_repeats('argyrodite_repeats', argyrodite_repeats)
    a_argyrodite = positive_length('a_argyrodite', a_argyrodite)
    gap = positive_length('gap', gap)
    if int(coating_layers) < 0:
        raise StructureInputError(f'coating_layers must be >= 0, got {coating_layers}')
    targets = (repeats[0] * a_argyrodite, repeats[1] * a_argyrodite)
    formula_units = FORMULA_UNITS_PER_CELL * int(np.prod(repeats))

    li_cell, li_match = _li_period(positive_length('a_li', a_li), targets, max_mismatch)
    per_layer = len(li_cell) // LI_PLANES_PER_PERIOD
    n_li = _li_layer_count(li_ratio, li_layers, per_layer, formula_units, ratio_tolerance)
    slabs = [('Li', take_planes(li_cell, n_li))]
    info = {'mismatch': {f'Li {d}': m for d, m in zip(li_match.directions, li_match.mismatch)}}

    electrolyte = ('Li6PS5Cl', _argyrodite_slab(repeats, a_argyrodite, cl_on_4a, seed))
    if int(coating_layers) > 0:
        coat_cell, coat_match = _li2s_period(positive_length('a_li2s', a_li2s), targets, max_mismatch)
        coating = take_planes(coat_cell, 4 * int(coating_layers), first_symbol='S')
        info['mismatch'].update({f'Li2S {d}': m for d, m in zip(coat_match.directions, coat_match.mismatch)})
        slabs += [('Li2S', coating), electrolyte, ('Li2S', _flipped(coating))]
    else:
        slabs.append(electrolyte)

    atoms, ranges = _stack(slabs, targets, gap)
    n_metal = len(slabs[0][1])
    info.update(
        li_layers=n_li,
        li_ratio=n_metal / formula_units,
        formula_units=formula_units,
        slabs=ranges,
        seed=int(seed),
        cl_on_4a=electrolyte[1].info['cl_on_4a'],
    )
    atoms.info = info
    return atoms


def _flipped(slab: Atoms) -> Atoms:
    """The slab mirrored in z, so the second coating faces the electrolyte with the same plane."""
    flipped = slab.copy()
    flipped.positions[:, 2] = flipped.positions[:, 2].max() - flipped.positions[:, 2]
    return flipped


def _stack(slabs, targets, gap: float) -> tuple[Atoms, list]:
    """Stack slabs along z with ``gap`` between neighbours (and across the periodic boundary)."""
    atoms = Atoms(cell=np.diag([targets[0], targets[1], 1.0]), pbc=True)
    ranges, z = [], 0.0
    for name, slab in slabs:
        placed = slab.copy()
        placed.positions[:, 2] += z - placed.positions[:, 2].min()
        top = placed.positions[:, 2].max()
        ranges.append((name, round(z, 6), round(top, 6)))
        placed.set_cell(atoms.cell)
        atoms += placed
        z = top + gap
    atoms.cell[2, 2] = z
    atoms.wrap()
    return atoms, ranges
