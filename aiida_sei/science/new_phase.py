"""The SEI's new phase Li2S(1-2x)PxClx: ordered approximants, stability, entropy, transport, gap.

Pure functions, no AiiDA. Energies in eV, lengths in Å, temperatures in K, times in ps; MSD in
Å^2 and diffusion coefficients in cm^2/s.

Charge balance, checked: one P(3-) and one Cl(-) on two S(2-) sites carry -4, the same as the two
S they replace, so the cell keeps every Li of Li2S and has NO Li vacancy (the issue's "one Li
vacancy per P/Cl pair" would leave the cell charged -1 per pair with Li+ S2- P3- Cl-). The
paper's DFT model Li2S0.75P0.125Cl0.125 (24 atoms) is Li16 S6 P1 Cl1: +16 - 12 - 3 - 1 = 0, and
Li stays at 2 per anion, as the paper's formula says.

Symmetry-inequivalent orderings are orbits of the P/Cl placements on the S sites under the space
group of the undoped Li2S supercell (spglib operations, lattice translations included, as
permutations of the S sites). For the 24-atom cell (2x1x1 conventional cells, 8 S sites) the
8 x 7 = 56 ordered placements of one P and one Cl fall into 4 orderings (multiplicities 8, 8, 8,
32), the paper's "four symmetry-inequivalent structures". The paper's low-doping cell
"Li2S0.9375P0.03125Cl0.03125 (32 atoms)" is not self-consistent: a stoichiometric antifluorite
cell has a multiple of 3 atoms (so neither "32 atoms" nor the paper's "bare Li2S (8 atoms)" is
possible; the conventional cell has 12). x = 1/32 needs 32 anion sites: 2x2x2 conventional cells,
96 atoms (992 placements, 5 orderings); the 48-atom 2x2x1 cell (32 Li, 16 anion sites) gives
x = 1/16, Li2S0.875P0.0625Cl0.0625 (240 placements, 5 orderings). Both are enumerated here in
under a second; x = 0.125 in the 96-atom cell (4 pairs, 7.4e8 placements) is only counted
(:func:`count_orderings`: 499,129 orderings). The paper's 1536-atom diffusion cells are 4x4x4
repeats of a 24-atom ordering.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations
from math import comb

import numpy as np
import spglib
from ase import Atoms

from .crystals import LATTICE, li2s

#: Boltzmann constant, eV/K (CODATA 2018).
K_B = 8.617333262e-5
#: 1 Å^2/ps in cm^2/s.
A2_PER_PS_TO_CM2_PER_S = 1e-4
#: Most P/Cl placements :func:`ordered_approximants` enumerates; beyond it, count with
#: :func:`count_orderings` (Burnside) or sample configurations with ``crystals.doped_li2s``.
MAX_PLACEMENTS = 2_000_000


@dataclass(frozen=True)
class Ordering:
    """One symmetry-inequivalent P/Cl ordering: a representative cell and how many of the
    placements on the supercell's S sites are equivalent to it (they sum to all placements)."""

    atoms: Atoms
    multiplicity: int
    p_cl_distance: float  # shortest P-Cl distance, Å (periodic)


def sulfur_permutations(x_cells=(2, 1, 1), a: float | None = None) -> tuple[Atoms, np.ndarray, np.ndarray]:
    """The undoped Li2S supercell, the indices of its S atoms and the space group as permutations
    of those S sites, shape (operations, n_S): ``perm[g, i]`` is the site that site ``i`` goes to."""
    atoms = li2s(LATTICE['Li2S'] if a is None else a, x_cells)
    sulfur = np.flatnonzero(atoms.numbers == 16)
    frac = atoms.get_scaled_positions()[sulfur]
    ops = spglib.get_symmetry((atoms.cell.array, atoms.get_scaled_positions(), atoms.numbers), symprec=1e-4)
    moved = np.einsum('gij,sj->gsi', ops['rotations'], frac) + ops['translations'][:, None, :]
    diff = moved[:, :, None, :] - frac[None, None, :, :]
    diff -= np.round(diff)
    perms = np.argmin(np.linalg.norm(diff, axis=-1), axis=2)
    if not all(len(set(p)) == len(sulfur) for p in perms):
        raise RuntimeError('a symmetry operation does not permute the S sites')
    return atoms, sulfur, np.unique(perms, axis=0)


def _labels(n_sites: int, p_sites, cl_sites) -> np.ndarray:
    labels = np.zeros(n_sites, np.int8)  # 0 S, 1 P, 2 Cl
    labels[list(p_sites)] = 1
    labels[list(cl_sites)] = 2
    return labels


def _placements(n_sites: int, n_pairs: int):
    for p_sites in combinations(range(n_sites), n_pairs):
        rest = [i for i in range(n_sites) if i not in p_sites]
        for cl_sites in combinations(rest, n_pairs):
            yield p_sites, cl_sites


def ordered_approximants(x_cells=(2, 1, 1), n_pairs: int = 1, a: float | None = None,
                         max_placements: int = MAX_PLACEMENTS) -> list[Ordering]:
    """Every symmetry-inequivalent ordering of ``n_pairs`` P and ``n_pairs`` Cl on the S sites of
    antifluorite Li2S repeated ``x_cells`` times (12-atom conventional cell), with multiplicities.

    x = n_pairs / n_S, no Li removed (see the module docstring). (2, 1, 1), 1 pair: the paper's
    24-atom Li2S0.75P0.125Cl0.125, 4 orderings. Each new placement's whole orbit is generated
    and marked, so the cost is O(placements + orderings x operations x n_S); more than
    ``max_placements`` placements raise ValueError (use :func:`count_orderings`).
    """
    atoms, sulfur, perms = sulfur_permutations(x_cells, a)
    n_sites, n_pairs = len(sulfur), int(n_pairs)
    if not 1 <= 2 * n_pairs <= n_sites:
        raise ValueError(f'{n_pairs} P/Cl pairs do not fit on {n_sites} S sites')
    total = comb(n_sites, n_pairs) * comb(n_sites - n_pairs, n_pairs)
    if total > max_placements:
        raise ValueError(f'{total:,} placements exceed max_placements={max_placements:,}; '
                         'use count_orderings() or random configurations (crystals.doped_li2s)')
    inverse = np.argsort(perms, axis=1)  # labels[inverse[g]] = labels moved by operation g
    seen, orderings = set(), []
    for p_sites, cl_sites in _placements(n_sites, n_pairs):
        labels = _labels(n_sites, p_sites, cl_sites)
        if labels.tobytes() in seen:
            continue
        orbit = {row.tobytes() for row in labels[inverse]}
        seen |= orbit
        orderings.append(_representative(atoms, sulfur, p_sites, cl_sites, len(orbit), n_pairs / n_sites))
    return orderings


def _representative(parent: Atoms, sulfur, p_sites, cl_sites, multiplicity: int, x: float) -> Ordering:
    atoms = parent.copy()
    symbols = atoms.get_chemical_symbols()
    for i in p_sites:
        symbols[sulfur[i]] = 'P'
    for i in cl_sites:
        symbols[sulfur[i]] = 'Cl'
    atoms.set_chemical_symbols(symbols)
    atoms.info = {'x': x, 'multiplicity': multiplicity}
    p_cl = min(atoms.get_distances(sulfur[p], sulfur[list(cl_sites)], mic=True).min() for p in p_sites)
    return Ordering(atoms, multiplicity, float(p_cl))


def count_orderings(x_cells=(2, 1, 1), n_pairs: int = 1, a: float | None = None) -> int:
    """Number of orderings without enumerating them (Burnside: mean number of placements each
    operation fixes). Exact, and fast for any cell the space group can be computed for."""
    _, _, perms = sulfur_permutations(x_cells, a)
    n = int(n_pairs)
    fixed = 0
    for perm in perms:
        poly = np.zeros((n + 1, n + 1), object)  # poly[p, c]: colourings with p P and c Cl sites
        poly[0, 0] = 1
        for length in _cycle_lengths(perm):
            new = poly.copy()
            if length <= n:
                new[length:, :] += poly[: n + 1 - length, :]
                new[:, length:] += poly[:, : n + 1 - length]
            poly = new
        fixed += poly[n, n]
    return int(fixed // len(perms))


def _cycle_lengths(perm) -> list[int]:
    seen, lengths = np.zeros(len(perm), bool), []
    for start in range(len(perm)):
        length, i = 0, start
        while not seen[i]:
            seen[i], i, length = True, perm[i], length + 1
        if length:
            lengths.append(length)
    return lengths


def anion_lattice_parameter(atoms: Atoms) -> float:
    """The cubic a (Å) of the antifluorite cell with ``atoms``' volume per anion (S, P, Cl: 4 per
    conventional cell): a relaxed ordering's lattice on Li2S's scale."""
    anions = sum(symbol in ('S', 'P', 'Cl') for symbol in atoms.get_chemical_symbols())
    return float((atoms.get_volume() / anions * 4) ** (1 / 3))


def energy_above_hull(energies: dict[str, float], target: str, per_atom: bool = True) -> float:
    """E above the convex hull (eV/atom) of ``target`` against the other entries of ``energies``.

    ``energies``: formula -> energy in eV/atom (``per_atom``) or eV per formula as written (e.g.
    'Li16S6PCl' for the 24-atom cell); the competing set must hold every element (Li, S, P, Cl)
    as a terminal. The target is left out of the hull, so a target below it gets a negative value.
    """
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    def entry(formula):
        composition = Composition(formula)
        return PDEntry(composition, energies[formula] * (composition.num_atoms if per_atom else 1))

    competing = [entry(f) for f in energies if Composition(f).reduced_formula != Composition(target).reduced_formula]
    elements = {str(e) for e in Composition(target).elements}
    present = {str(e.composition.elements[0]) for e in competing if len(e.composition.elements) == 1}
    if not elements <= present:
        raise ValueError(f'the hull needs an energy for every element; missing {sorted(elements - present)}')
    _, e_hull = PhaseDiagram(competing).get_decomp_and_e_above_hull(entry(target), allow_negative=True)
    return float(e_hull)


def energy_above_compound_hull(energies: dict[str, float], target: str, target_energy: float) -> float:
    """E above the hull (eV/atom) of ``target`` (formula) with ``target_energy`` (eV/atom) against
    the compounds of ``energies`` (formula -> eV/atom) as the hull's terminals: the paper's hull
    of Li2S(1-2x)PxClx against Li2S + Li3P + LiCl, which needs no elemental references
    (pymatgen's CompoundPhaseDiagram). The target must be a mixture of the terminals."""
    from pymatgen.analysis.phase_diagram import CompoundPhaseDiagram, PDEntry
    from pymatgen.core import Composition

    terminals = [Composition(formula) for formula in energies]
    entries = [PDEntry(c, energies[f] * c.num_atoms) for f, c in zip(energies, terminals)]
    diagram = CompoundPhaseDiagram(entries, terminals)
    composition = Composition(target)
    transformed = diagram.transform_entries([PDEntry(composition, target_energy * composition.num_atoms)], terminals)[0]
    if not transformed:
        raise ValueError(f'{target} is not a mixture of {", ".join(energies)}')
    return float(diagram.get_decomp_and_e_above_hull(transformed[0], allow_negative=True)[1])


def mixing_entropy(x: float, per_atom: bool = True) -> float:
    """Ideal configurational entropy (eV/K) of Li2S(1-2x)PxClx, -k sum c ln c over the anion site
    with c = (1-2x, x, x): per formula unit (= per anion site), or per atom (/3) if ``per_atom``.

    At x = 0.125 and 300 K, T*S = 19.0 meV per formula unit but 6.3 meV per atom (x = 0.14:
    20.3 and 6.8): the paper's "approximately 20 meV/atom at room temperature" is the value per
    formula unit (anion site), not per atom.
    """
    x = float(x)
    if not 0.0 <= x <= 0.5:
        raise ValueError(f'x must lie in [0, 0.5], got {x}')
    fractions = np.array([1 - 2 * x, x, x])
    fractions = fractions[fractions > 0]
    per_formula = -K_B * float(np.sum(fractions * np.log(fractions)))
    return per_formula / 3 if per_atom else per_formula


def offset_temperature(e_hull_per_atom: float, x: float) -> float:
    """T (K) at which T*S_mix per atom equals ``e_hull_per_atom`` (eV/atom): where the random
    solution's free energy reaches the hull, ignoring vibrations and the competing phases'
    entropy. E_hull = 27.7 meV/atom at x = 0.125 gives about 1310 K (437 K with the entropy per
    formula unit instead of per atom)."""
    return float(e_hull_per_atom) / mixing_entropy(x, per_atom=True)


def diffusion_coefficient(times_ps, msd_A2, fit_range=(0.2, 0.8), dim: int = 3) -> tuple[float, float]:
    """D (cm^2/s) and its standard error from a linear fit of the MSD, D = slope / (2 dim).

    ``fit_range``: the linear regime as fractions of the time axis. ``msd_A2`` of shape (times,)
    gives the regression standard error (too small where MSD points are correlated); shape
    (blocks, times), independent MSDs (e.g. separate groups of atoms or time windows), gives the
    mean over the blocks and the standard error of that mean (block averaging).
    """
    times = np.asarray(times_ps, float)
    msd = np.atleast_2d(np.asarray(msd_A2, float))
    if msd.shape[1] != len(times):
        raise ValueError(f'{len(times)} times but MSD of shape {msd.shape}')
    window = (times >= times[0] + fit_range[0] * (times[-1] - times[0])) & (
        times <= times[0] + fit_range[1] * (times[-1] - times[0]))
    if window.sum() < 3:
        raise ValueError(f'fit_range {fit_range} keeps {window.sum()} points; need at least 3')
    scale = A2_PER_PS_TO_CM2_PER_S / (2 * dim)
    fits = [np.polyfit(times[window], block[window], 1, cov=True) for block in msd]
    slopes = np.array([coef[0] for coef, _ in fits])
    if len(msd) == 1:
        return float(slopes[0] * scale), float(np.sqrt(fits[0][1][0, 0]) * scale)
    return float(slopes.mean() * scale), float(slopes.std(ddof=1) / np.sqrt(len(slopes)) * scale)


def msd_blocks(unwrapped, mask, n_blocks: int = 4, max_lag_fraction: float = 0.5) -> np.ndarray:
    """Time-origin-averaged MSD (Å^2) of the masked atoms, shape (n_blocks, lags): the atoms split
    into ``n_blocks`` groups (independent samples for :func:`diffusion_coefficient`'s error), lags
    0 .. ``max_lag_fraction`` of the frames (longer lags average over few origins).

    ``unwrapped``: continuous positions (frames, atoms, 3), e.g. ``analyses.unwrap`` of a dump."""
    positions = np.asarray(unwrapped, float)[:, np.asarray(mask, bool)]
    if len(positions[0]) < n_blocks:
        raise ValueError(f'{len(positions[0])} atoms cannot form {n_blocks} blocks')
    lags = max(2, int(len(positions) * max_lag_fraction) + 1)
    per_atom = np.zeros((lags, positions.shape[1]))
    for lag in range(1, lags):
        per_atom[lag] = np.mean(np.sum((positions[lag:] - positions[:-lag]) ** 2, axis=2), axis=0)
    return np.stack([block.mean(axis=1) for block in np.array_split(per_atom, n_blocks, axis=1)])


@dataclass(frozen=True)
class ArrheniusFit:
    """D(T) = D0 exp(-Ea / kT); ``covariance`` of (ln D0, Ea)."""

    ea_ev: float
    d0_cm2_s: float
    covariance: np.ndarray

    @property
    def ea_err_ev(self) -> float:
        return float(np.sqrt(self.covariance[1, 1]))

    def extrapolate(self, temperature_K) -> tuple[np.ndarray, np.ndarray]:
        """D (cm^2/s) at ``temperature_K`` and its 1-sigma error from the fit's covariance."""
        inverse_kt = 1 / (K_B * np.asarray(temperature_K, float))
        jacobian = np.stack([np.ones_like(inverse_kt), -inverse_kt])
        d = self.d0_cm2_s * np.exp(-self.ea_ev * inverse_kt)
        var_ln = np.einsum('i...,ij,j...->...', jacobian, self.covariance, jacobian)
        return d, d * np.sqrt(var_ln)


def arrhenius_fit(temperature_K, d_cm2_s, d_err=None) -> ArrheniusFit:
    """Fit ln D = ln D0 - Ea / (k T), weighted by (D_err / D)^-2 when errors are given (absolute
    sigma), else unweighted with the residual variance (NaN covariance for 2 points)."""
    t, d = np.asarray(temperature_K, float), np.asarray(d_cm2_s, float)
    if len(t) < 2 or np.any(d <= 0) or np.any(t <= 0):
        raise ValueError('need at least 2 temperatures with positive T and D')
    design = np.stack([np.ones_like(t), -1 / (K_B * t)], axis=1)
    weights = np.ones_like(t) if d_err is None else (d / np.asarray(d_err, float)) ** 2
    normal = design.T @ (weights[:, None] * design)
    coef = np.linalg.solve(normal, design.T @ (weights * np.log(d)))
    covariance = np.linalg.inv(normal)
    if d_err is None:
        dof = len(t) - 2
        residual = np.log(d) - design @ coef
        covariance = covariance * (residual @ residual / dof if dof else np.nan)
    return ArrheniusFit(float(coef[1]), float(np.exp(coef[0])), covariance)


def band_gap(eigenvalues, n_electrons: float | None = None, occupations=None,
             fermi_level: float | None = None) -> float:
    """Band gap (units of ``eigenvalues``, eV) of eigenvalues shaped (spins, kpoints, bands) or
    (kpoints, bands); 0 for a metal.

    Occupied states from exactly one of: ``n_electrons`` (per cell, k-points equally weighted:
    the lowest states are filled), ``occupations`` (same shape; > half the maximum = occupied) or
    ``fermi_level``. A metal: a band occupied at some k-points and empty at others, or a
    fractional filling. Gap = CBM (lowest empty) - VBM (highest occupied), indirect allowed.
    """
    eig = np.asarray(eigenvalues, float)
    eig = eig[None] if eig.ndim == 2 else eig
    if sum(v is not None for v in (n_electrons, occupations, fermi_level)) != 1:
        raise ValueError('give exactly one of n_electrons, occupations, fermi_level')
    if occupations is not None:
        occupied = np.asarray(occupations, float).reshape(eig.shape) > 0.5 * (2 / len(eig))
    elif fermi_level is not None:
        occupied = eig <= fermi_level
    else:
        n_fill = n_electrons * eig.shape[1] * len(eig) / 2  # states of capacity 2/spins, k equally weighted
        if abs(n_fill - round(n_fill)) > 1e-8:
            return 0.0
        occupied = np.zeros(eig.size, bool)
        occupied[np.argsort(eig, axis=None, kind='stable')[: int(round(n_fill))]] = True
        occupied = occupied.reshape(eig.shape)
    if occupied.all() or not occupied.any():
        raise ValueError('no empty (or no occupied) state: the gap is undefined; add bands')
    if np.any(occupied.any(axis=1) & ~occupied.all(axis=1)):
        return 0.0
    return float(max(eig[~occupied].min() - eig[occupied].max(), 0.0))
