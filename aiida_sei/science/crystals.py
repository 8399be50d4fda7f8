"""Bulk crystals of the paper: BCC Li, Li6PS5Cl argyrodite, the products and the new SEI phase.

Pure functions: they take numbers and return :class:`ase.Atoms` (Å); no AiiDA here.
Every random choice is drawn from ``numpy.random.default_rng(seed)``, so a seed reproduces a
structure exactly.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk
from ase.spacegroup import crystal

from .geometry import close_pairs
from .validation import StructureInputError, positive_length, supercell_repeats

#: Lattice parameters (Å). BCC Li: the paper's PBE value. Li6PS5Cl: the PBE value implied by the
#: paper's interface mismatch (-0.4 % / -1.4 %, see ``interfaces``); experiment gives 9.85-9.90.
#: Products: experimental values (Li2S antifluorite, LiCl rocksalt, Li3P Na3As type).
LATTICE = {
    'Li': 3.420,
    'Li6PS5Cl': 9.912,
    'Li2S': 5.71,
    'LiCl': 5.13,
    'Li3P': (4.264, 7.579),
}

#: Li6PS5Cl, F-43m (No. 216), in the setting where the cage anion sits on 4d. Coordinates from
#: the refinement of Kraft et al., JACS 139, 10909 (2017) (ICSD 259200) and the 2012 refinement
#: with Li on 48h (0.3161, 0.3161, 0.9771); P-S 2.02 Å and Li-S 2.47 Å at a = 9.85 Å.
ARGYRODITE_SITES = {
    'P_4b': (0.5, 0.5, 0.5),
    'S_16e': (0.3815, 0.3815, 0.3815),
    'X_4a': (0.0, 0.0, 0.0),
    'X_4d': (0.75, 0.75, 0.75),
    'Li_48h': (0.3161, 0.3161, 0.9771),
}

#: Oxidation states used for charge neutrality: P is P(5+) in PS4 units of the electrolyte and
#: P(3-) where it replaces S in the products.
OXIDATION = {'Li': 1, 'S': -2, 'Cl': -1, 'P_electrolyte': 5, 'P_product': -3}


def _plain(atoms: Atoms) -> Atoms:
    """Drop the bookkeeping ``ase.spacegroup.crystal`` attaches (kinds, Spacegroup object)."""
    for name in ('spacegroup_kinds', 'site'):
        if name in atoms.arrays:
            del atoms.arrays[name]
    atoms.info = {}
    return atoms


def bcc_li(a: float = LATTICE['Li'], supercell=(3, 3, 3)) -> Atoms:
    """BCC Li, ``supercell`` repeats of the 2-atom cubic cell (3x3x3 = the paper's 54 atoms)."""
    a = positive_length('a', a)
    return bulk('Li', 'bcc', a=a, cubic=True).repeat(supercell_repeats('supercell', supercell))


def li2s(a: float = LATTICE['Li2S'], supercell=(1, 1, 1)) -> Atoms:
    """Antifluorite Li2S (Fm-3m), repeats of the 12-atom cubic cell."""
    a = positive_length('a', a)
    cell = crystal(['S', 'Li'], [(0, 0, 0), (0.25, 0.25, 0.25)], spacegroup=225, cellpar=[a, a, a, 90, 90, 90])
    return _plain(cell.repeat(supercell_repeats('supercell', supercell)))


def licl(a: float = LATTICE['LiCl'], supercell=(1, 1, 1)) -> Atoms:
    """Rocksalt LiCl (Fm-3m), repeats of the 8-atom cubic cell."""
    a = positive_length('a', a)
    cell = crystal(['Li', 'Cl'], [(0, 0, 0), (0.5, 0.5, 0.5)], spacegroup=225, cellpar=[a, a, a, 90, 90, 90])
    return _plain(cell.repeat(supercell_repeats('supercell', supercell)))


def li3p(a: float = LATTICE['Li3P'][0], c: float = LATTICE['Li3P'][1], supercell=(1, 1, 1)) -> Atoms:
    """Hexagonal Li3P (P6_3/mmc, Na3As type: P 2c, Li 2b, Li 4f z = 0.583), 8 atoms per cell."""
    a, c = positive_length('a', a), positive_length('c', c)
    cell = crystal(
        ['P', 'Li', 'Li'],
        [(1 / 3, 2 / 3, 0.25), (0, 0, 0.25), (1 / 3, 2 / 3, 0.583)],
        spacegroup=194,
        cellpar=[a, a, c, 90, 90, 120],
    )
    return _plain(cell.repeat(supercell_repeats('supercell', supercell)))


def argyrodite_sites(a: float = LATTICE['Li6PS5Cl']) -> Atoms:
    """All crystallographic sites of the Li6PS5Cl cubic cell, fully occupied (76 atoms).

    48 Li on 48h (half of them are too close to coexist), S on 4a, Cl on 4d: the F-43m frame from
    which :func:`argyrodite` draws a physical configuration. The site label of each atom is in
    ``atoms.arrays['site']``.
    """
    a = positive_length('a', a)
    labels = list(ARGYRODITE_SITES)
    species = {'P_4b': 'P', 'S_16e': 'S', 'X_4a': 'S', 'X_4d': 'Cl', 'Li_48h': 'Li'}
    atoms = crystal(
        [species[label] for label in labels],
        [ARGYRODITE_SITES[label] for label in labels],
        spacegroup=216,
        cellpar=[a, a, a, 90, 90, 90],
    )
    site = np.array([labels[k] for k in atoms.get_array('spacegroup_kinds')])
    atoms = _plain(atoms)
    atoms.arrays['site'] = site
    return atoms


def _partners(li_sites: Atoms, a: float) -> np.ndarray:
    """Index of the close 48h partner (1.84 Å at a = 9.85 Å) of each Li site, in O(N).

    The next 48h-48h distance is 2.24 Å, so 1.1x the pair distance finds exactly one partner.
    """
    unit = argyrodite_sites(a)
    distances = unit[unit.numbers == 3].get_all_distances(mic=True)
    pair_distance = distances[distances > 0].min()
    first, second, _ = close_pairs(li_sites, 1.1 * pair_distance)
    partner = np.full(len(li_sites), -1)
    partner[first], partner[second] = second, first
    if 2 * len(first) != len(li_sites) or np.any(partner[partner] != np.arange(len(li_sites))):
        raise RuntimeError('48h sites do not form pairs; check the argyrodite coordinates')
    return partner


def argyrodite(
    a: float = LATTICE['Li6PS5Cl'],
    supercell=(1, 1, 1),
    cl_on_4a: float = 0.5,
    seed: int = 0,
) -> Atoms:
    """Disordered Li6PS5Cl: 52 atoms per cubic cell (Li24 P4 S20 Cl4).

    - Li: of each close 48h pair (1.84 Å apart) one site is kept at random, 24 Li per cell
      (the 50 % occupancy of the paper).
    - Cl/S: the free anions (one S and one Cl per formula unit) are spread over 4a and 4d so
      that a fraction ``cl_on_4a`` of the 4a sites holds Cl and the rest of the Cl sits on 4d.
      0 is the ordered cell (Cl on 4d), 0.5 the paper's "50 % Cl/S disorder".
    Random choices run over the whole supercell, so cells are not copies of each other.
    The realised Cl fraction on 4a (rounded to whole sites) is in ``atoms.info['cl_on_4a']``.
    """
    cl_on_4a = float(cl_on_4a)
    if not 0.0 <= cl_on_4a <= 1.0:
        raise StructureInputError(f'cl_on_4a must lie in [0, 1], got {cl_on_4a}')
    frame = argyrodite_sites(a).repeat(supercell_repeats('supercell', supercell))
    rng = np.random.default_rng(int(seed))
    sites = frame.arrays['site']
    keep = sites != 'Li_48h'

    li = np.flatnonzero(sites == 'Li_48h')
    partner = _partners(frame[li], positive_length('a', a))
    first = np.arange(len(li)) < partner
    choose_first = rng.random(first.sum()) < 0.5
    keep[li[np.where(choose_first, np.flatnonzero(first), partner[first])]] = True

    symbols = np.array(frame.get_chemical_symbols(), dtype=object)
    site_4a, site_4d = np.flatnonzero(sites == 'X_4a'), np.flatnonzero(sites == 'X_4d')
    n_swap = int(round(cl_on_4a * len(site_4a)))
    swap_4a = rng.choice(site_4a, n_swap, replace=False)
    swap_4d = rng.choice(site_4d, n_swap, replace=False)
    symbols[swap_4a], symbols[swap_4d] = 'Cl', 'S'
    frame.set_chemical_symbols(list(symbols))

    atoms = _plain(frame[keep])
    atoms.info = {'cl_on_4a': n_swap / len(site_4a), 'seed': int(seed)}
    return atoms


def doped_li2s(
    x: float = 0.14,
    a: float = LATTICE['Li2S'],
    supercell=(2, 2, 2),
    seed: int = 0,
) -> Atoms:
    """The SEI phase Li2S(1-2x)PxClx: Li2S with P and Cl in equal numbers on random S sites.

    One P(3-) and one Cl(-) replace two S(2-), so the cell stays neutral with the Li count of
    Li2S. ``x`` in (0, 0.5]; the paper found x = 0.14, its DFT model x = 0.125 (24 atoms:
    supercell (2, 1, 1)). The number of each dopant is ``round(x * n_S)``; the realised x is in
    ``atoms.info['x']``.
    """
    x = float(x)
    if not 0.0 < x <= 0.5:
        raise StructureInputError(f'x must lie in (0, 0.5] (Li2S(1-2x)PxClx), got {x}')
    atoms = li2s(a, supercell)
    sulfur = np.flatnonzero(atoms.numbers == 16)
    n_dopant = int(round(x * len(sulfur)))
    if n_dopant == 0:
        raise StructureInputError(
            f'x = {x} places no P/Cl in a cell with {len(sulfur)} S sites; use a larger supercell'
        )
    chosen = np.random.default_rng(int(seed)).choice(sulfur, 2 * n_dopant, replace=False)
    symbols = atoms.get_chemical_symbols()
    for index in chosen[:n_dopant]:
        symbols[index] = 'P'
    for index in chosen[n_dopant:]:
        symbols[index] = 'Cl'
    atoms.set_chemical_symbols(symbols)
    atoms.info = {'x': n_dopant / len(sulfur), 'seed': int(seed)}
    return atoms


def formal_charge(atoms: Atoms, phosphorus: str = 'P_electrolyte') -> int:
    """Sum of formal charges with ``OXIDATION`` (Li metal is not neutral by this count)."""
    charges = {'Li': OXIDATION['Li'], 'S': OXIDATION['S'], 'Cl': OXIDATION['Cl'], 'P': OXIDATION[phosphorus]}
    unknown = set(atoms.get_chemical_symbols()) - set(charges)
    if unknown:
        raise StructureInputError(f'no formal charge known for {sorted(unknown)}')
    return int(sum(charges[s] for s in atoms.get_chemical_symbols()))
