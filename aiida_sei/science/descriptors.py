"""Li-centred ACE descriptors of local environments (the paper's input to unsupervised clustering).

Ding et al. describe every Li atom by its atomic cluster expansion (ACE) descriptor: the values
of the ACE B-basis functions centred on that Li, with a 6 Å cutoff and the species Li, P, S and
Cl. Those vectors are what the clustering sorts into local environments (Li metal, the
electrolyte, Li2S, LiCl, Li3P, the doped SEI phase, ...).

Here the basis is built with pyace (python-ace) and the vectors are pyace's *B-projections*,
the per-atom basis-function values that ``PyACECalculator`` returns in ``calc.projections``
with ``compute_projections=True``.

Units: positions and the cutoff are in Å; the descriptors are dimensionless (products of
dimensionless radial functions and spherical harmonics summed over neighbours), so they are
not normalised: order-1 entries grow with the number of neighbours inside the cutoff.

Pure functions, no AiiDA. pyace is imported when a basis is first built.
"""

from __future__ import annotations

import functools
import itertools
from numbers import Integral

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers, chemical_symbols
from scipy.spatial import cKDTree

#: The species of the paper's basis (sorted, as pyace orders them).
ELEMENTS = ('Cl', 'Li', 'P', 'S')

#: Cutoff of the paper's descriptors (Å).
CUTOFF = 6.0

#: Default basis shape, per body order (order 1 = two-body, 2 = three-body, 3 = four-body):
#: radial functions and largest angular momentum. With the four species this gives 326
#: B-functions per Li centre.
NRADMAX = (8, 3, 1)
LMAX = (0, 2, 1)


def _per_order(name: str, value, max_order: int | None) -> tuple[int, ...]:
    """``value`` (an int, or one int per body order) as a tuple of ``max_order`` ints."""
    if isinstance(value, Integral):
        if max_order is None:
            raise ValueError(f'{name} is a single number: give max_order too')
        values = (int(value),) * int(max_order)
    else:
        values = tuple(int(v) for v in value)
        if max_order is not None and len(values) != int(max_order):
            raise ValueError(f'{name} has {len(values)} entries but max_order is {max_order}')
    if not values:
        raise ValueError(f'{name} is empty: the basis needs at least order 1')
    return values


def _settings(elements, cutoff, nradmax, lmax, max_order, centre) -> tuple:
    """Validated, hashable basis settings (the cache key)."""
    elements = tuple(sorted({str(element) for element in elements}))
    unknown = [element for element in elements if element not in atomic_numbers]
    if unknown:
        raise ValueError(f'unknown element(s) {unknown}')
    if centre not in elements:
        raise ValueError(f'centre {centre!r} is not one of the basis elements {elements}')
    cutoff = float(cutoff)
    if not np.isfinite(cutoff) or cutoff <= 0:
        raise ValueError(f'cutoff must be a positive length in Å, got {cutoff}')
    if max_order is None and isinstance(nradmax, Integral) and not isinstance(lmax, Integral):
        max_order = len(tuple(lmax))
    if max_order is None and isinstance(lmax, Integral) and not isinstance(nradmax, Integral):
        max_order = len(tuple(nradmax))
    if max_order is not None and int(max_order) < 1:
        raise ValueError(f'max_order must be at least 1, got {max_order}')
    nrad = _per_order('nradmax', nradmax, max_order)
    lmx = _per_order('lmax', lmax, max_order if max_order is not None else len(nrad))
    if len(nrad) != len(lmx):
        raise ValueError(f'nradmax {nrad} and lmax {lmx} give different body orders')
    if min(nrad) < 1:
        raise ValueError(f'every entry of nradmax must be at least 1, got {nrad}')
    if min(lmx) < 0:
        raise ValueError(f'lmax entries must be non-negative, got {lmx}')
    # Order 1 (radial functions only) has no angular part.
    lmx = (0,) + lmx[1:]
    return elements, cutoff, nrad, lmx, str(centre)


@functools.lru_cache(maxsize=16)
def _cached_basis(elements: tuple, cutoff: float, nradmax: tuple, lmax: tuple, centre: str):
    from pyace import ACEBBasisSet, create_multispecies_basis_config
    from pyace.multispecies_basisextension import generate_all_species_keys

    # Full functions on every species block centred on `centre`. The other centres get one
    # order-1 function per block: pyace needs every bond in both directions, and they are
    # never evaluated here (only `centre` atoms get neighbours, see `_environment`).
    functions = {}
    for key in generate_all_species_keys(list(elements)):
        if key[0] == centre:
            functions[key] = {'nradmax_by_orders': list(nradmax), 'lmax_by_orders': list(lmax)}
        else:
            functions[key] = {'nradmax_by_orders': [1], 'lmax_by_orders': [0]}
    config = {
        'deltaSplineBins': 0.001,
        'elements': list(elements),
        # Linear embedding: the "energy" is the plain sum of B-functions, so the projections
        # are the B-function values themselves.
        'embeddings': {
            'ALL': {'npot': 'FinnisSinclairShiftedScaled', 'fs_parameters': [1, 1], 'ndensity': 1},
        },
        'bonds': {
            'ALL': {
                'radbase': 'SBessel',
                'radparameters': [5.25],
                'rcut': cutoff,
                'dcut': 0.01,
                'NameOfCutoffFunction': 'cos',
            },
        },
        'functions': functions,
    }
    return ACEBBasisSet(create_multispecies_basis_config(config))


def ace_basis(
    elements=ELEMENTS,
    cutoff: float = CUTOFF,
    nradmax=NRADMAX,
    lmax=LMAX,
    max_order: int | None = None,
    centre: str = 'Li',
):
    """The pyace B-basis (``pyace.ACEBBasisSet``) of the descriptors.

    - ``elements``: every species a frame may contain. All of them are always in the basis,
      also for frames that lack some (pure Li), so descriptors of different frames share one
      feature space.
    - ``cutoff``: radial cutoff (Å) of every bond; spherical-Bessel radial basis with a cosine
      cutoff function.
    - ``nradmax``/``lmax``: per body order (order 1, 2, 3, ...), the number of radial
      functions and the largest angular momentum; a single number applies to every order and
      then needs ``max_order``. Order 1 always has lmax 0.
    - ``max_order``: highest body order; defaults to the length of ``nradmax``/``lmax``.
    - ``centre``: the species whose environments are described; only its blocks get the full
      function set.

    The defaults (Cl/Li/P/S, 6 Å, nradmax (8, 3, 1), lmax (0, 2, 1)) give 326 functions per Li.
    The construction is deterministic and cached per settings: repeated calls return the
    *same* object, which callers must not modify.
    """
    return _cached_basis(*_settings(elements, cutoff, nradmax, lmax, max_order, centre))


def _as_basis_set(basis):
    """An ``ACEBBasisSet`` from an ``ACEBBasisSet``, a ``BBasisConfiguration`` or a .yaml path."""
    from pyace import ACEBBasisSet, BBasisConfiguration

    if isinstance(basis, ACEBBasisSet):
        return basis
    if isinstance(basis, (BBasisConfiguration, str)):
        return ACEBBasisSet(basis)
    raise TypeError(f'basis must be a pyace ACEBBasisSet, BBasisConfiguration or .yaml path, got {type(basis)}')


def descriptor_size(basis=None, centre: str = 'Li') -> int:
    """Number of descriptor entries (B-functions) per ``centre`` atom of ``basis``."""
    basis = ace_basis(centre=centre) if basis is None else _as_basis_set(basis)
    mapping = dict(basis.elements_to_index_map)
    if centre not in mapping:
        raise ValueError(f'centre {centre!r} is not in the basis elements {list(basis.elements_name)}')
    mu = mapping[centre]
    return len(basis.basis_rank1[mu]) + len(basis.basis[mu])


def _environment(atoms: Atoms, centres: np.ndarray, cutoff: float):
    """Positions and neighbour lists of the ``centres`` of ``atoms`` (periodic images included).

    Returns ``(positions, owner, neighbours)``: ``positions`` has the centres first, then the
    other atoms and periodic images within ``cutoff`` of some centre; ``owner`` maps each row to
    its atom in ``atoms``; ``neighbours[k]`` lists the rows within ``cutoff`` of centre ``k``.
    Linear in the number of atoms: images are kept only inside a ``cutoff`` margin around the
    cell and the search runs on a k-d tree.
    """
    positions = atoms.positions
    pbc = np.asarray(atoms.pbc, dtype=bool)
    n_atoms = len(atoms)
    if pbc.any():
        cell = atoms.cell.complete()
        if abs(np.linalg.det(cell)) < 1e-9:
            raise ValueError('periodic directions need non-zero cell vectors')
        fractional = np.linalg.solve(cell.T, positions.T).T
        fractional[:, pbc] -= np.floor(fractional[:, pbc])
        # Distance of lattice planes along each direction is 1 / |b_k| (b: reciprocal rows).
        margin = cutoff * np.linalg.norm(np.linalg.inv(cell).T, axis=1)
        repeats = [int(np.ceil(m)) if p else 0 for m, p in zip(margin, pbc)]
        shifts = list(itertools.product(*(range(-r, r + 1) for r in repeats)))
        base = fractional @ cell
        chunks, owners = [], []
        for shift in shifts:
            shifted = fractional + np.asarray(shift, dtype=float)
            inside = np.all((shifted[:, pbc] > -margin[pbc]) & (shifted[:, pbc] < 1 + margin[pbc]), axis=1)
            if not any(shift):
                inside[:] = True  # the atoms themselves, also off-cell along open axes
            owners.append(np.flatnonzero(inside))
            chunks.append(base[inside] + np.asarray(shift, dtype=float) @ cell)
        offsets = np.cumsum([0] + [len(rows) for rows in owners])
        extended = np.concatenate(chunks)
        owner = np.concatenate(owners)
        centre_rows = offsets[shifts.index((0, 0, 0))] + centres
    else:
        extended, owner, centre_rows = positions, np.arange(n_atoms), centres

    tree = cKDTree(extended)
    found = tree.query_ball_point(extended[centre_rows], r=cutoff)
    lists = [np.asarray(rows, dtype=np.int64) for rows in found]
    lists = [rows[rows != own] for rows, own in zip(lists, centre_rows)]

    # Compact rows: the centres first, then every other row that some centre sees.
    used = np.unique(np.concatenate(lists)) if lists else np.empty(0, dtype=np.int64)
    others = np.setdiff1d(used, centre_rows, assume_unique=True)
    remap = np.full(len(extended), -1, dtype=np.int64)
    remap[centre_rows] = np.arange(len(centre_rows))
    remap[others] = len(centre_rows) + np.arange(len(others))
    rows = np.concatenate([centre_rows, others])
    neighbours = [remap[item] for item in lists]
    return extended[rows], owner[rows], neighbours


def li_ace_descriptors(atoms: Atoms, basis=None, centre: str = 'Li') -> np.ndarray:
    """ACE B-projections of every ``centre`` (Li) atom: array (number of Li, n_features).

    Rows follow the order of the Li atoms in ``atoms``; ``n_features`` is the number of
    Li-centred B-functions of ``basis`` (default :func:`ace_basis`, 326), the same for every
    frame. Values are dimensionless; positions are in Å. Cells may be periodic along any
    subset of axes (images are included up to the cutoff, also for cells smaller than it) or
    not at all.

    The values equal ``PyACECalculator(basis).projections`` of the Li atoms, but only the Li
    environments are built and evaluated, so the cost is O(N) in the number of atoms (k-d tree
    neighbour search, then O(neighbours x functions) per Li).
    """
    from pyace import ACEBEvaluator
    from pyace.calculator import ACECalculator
    from pyace.catomicenvironment import ACEAtomicEnvironment

    basis = ace_basis(centre=centre) if basis is None else _as_basis_set(basis)
    n_features = descriptor_size(basis, centre)
    mapping = dict(basis.elements_to_index_map)
    numbers = atoms.numbers
    present = {chemical_symbols[z] for z in np.unique(numbers)}
    missing = sorted(present - set(mapping))
    if missing:
        raise ValueError(f'species {missing} are not in the basis elements {sorted(mapping)}')
    centres = np.flatnonzero(numbers == atomic_numbers[centre])
    if len(centres) == 0:
        return np.empty((0, n_features))

    positions, owner, neighbours = _environment(atoms, centres, float(basis.cutoffmax))
    species = np.full(len(chemical_symbols), -1, dtype=np.int64)
    for symbol, mu in mapping.items():
        species[atomic_numbers[symbol]] = mu
    env = ACEAtomicEnvironment()
    env.x = positions.tolist()
    env.species_type = species[numbers[owner]].tolist()
    # Only the centres get neighbour lists, so pyace evaluates only them (n_atoms_real = number
    # of lists); every other row is a ghost. pyace folds forces on ghosts back through
    # `origins`, which must point at a real atom: 0 will do, forces are not used here.
    env.neighbour_list = [item.tolist() for item in neighbours]
    env.origins = [0] * len(positions)

    # Keep the evaluator referenced: the calculator does not own it.
    evaluator = ACEBEvaluator(basis)
    calculator = ACECalculator()
    calculator.set_evaluator(evaluator)
    calculator.compute(env, compute_projections=True)
    projections = calculator.projections[: len(centres)]
    descriptors = np.array(projections, dtype=float)
    if descriptors.shape != (len(centres), n_features):
        raise RuntimeError(
            f'pyace returned projections of shape {descriptors.shape}, '
            f'expected ({len(centres)}, {n_features})'
        )
    return descriptors
