"""The structures of the paper by name: kind -> builder, with parameter checking.

Each builder is a pure function returning :class:`ase.Atoms`; :func:`build` resolves defaults
so that the full parameter set can be stored with the structure it produced.
"""

from __future__ import annotations

import inspect

import numpy as np
from ase import Atoms

from . import crystals, interfaces
from .geometry import close_pairs
from .validation import StructureInputError

BUILDERS = {
    'bcc-li': crystals.bcc_li,
    'argyrodite': crystals.argyrodite,
    'li2s': crystals.li2s,
    'li3p': crystals.li3p,
    'licl': crystals.licl,
    'doped-li2s': crystals.doped_li2s,
    'interface': interfaces.li_argyrodite_interface,
}

#: Elements of the study; anything else is refused.
SPECIES = ('Li', 'P', 'S', 'Cl')
#: Closest approach (Å) accepted in a structure; the shortest bond of the study, P-S, is 2.0 Å.
MIN_DISTANCE = 1.0


def builder(kind: str):
    """The builder function of ``kind`` or a :class:`StructureInputError` listing the kinds."""
    try:
        return BUILDERS[kind]
    except KeyError:
        raise StructureInputError(f'unknown structure kind {kind!r}; known: {", ".join(BUILDERS)}') from None


def resolve_parameters(kind: str, parameters: dict | None = None) -> dict:
    """``parameters`` completed with the builder's defaults; unknown names are refused."""
    signature = inspect.signature(builder(kind))
    parameters = dict(parameters or {})
    unknown = set(parameters) - set(signature.parameters)
    if unknown:
        raise StructureInputError(
            f'unknown parameter(s) {", ".join(sorted(unknown))} for {kind!r}; '
            f'accepted: {", ".join(signature.parameters)}'
        )
    resolved = {name: p.default for name, p in signature.parameters.items()}
    resolved.update(parameters)
    return {name: list(v) if isinstance(v, tuple) else v for name, v in resolved.items()}


def build(kind: str, parameters: dict | None = None) -> Atoms:
    """Build ``kind`` with ``parameters`` and check the result (species, no overlapping atoms)."""
    atoms = builder(kind)(**resolve_parameters(kind, parameters))
    check_atoms(atoms)
    return atoms


def check_atoms(atoms: Atoms, min_distance: float = MIN_DISTANCE) -> None:
    """Refuse an empty cell, elements outside :data:`SPECIES` and atoms closer than ``min_distance`` Å."""
    if len(atoms) == 0:
        raise StructureInputError('the structure has no atoms')
    unknown = sorted(set(atoms.get_chemical_symbols()) - set(SPECIES))
    if unknown:
        raise StructureInputError(f'element(s) {", ".join(unknown)} are not species of this study ({", ".join(SPECIES)})')
    check_overlap(atoms, min_distance)


def check_overlap(atoms: Atoms, min_distance: float = MIN_DISTANCE) -> None:
    """Refuse atoms closer than ``min_distance`` Å (any species: a model's own check follows)."""
    if len(atoms) < 2:
        return
    first, second, distance = close_pairs(atoms, min_distance)
    if len(distance):
        k = int(np.argmin(distance))
        raise StructureInputError(
            f'atoms {first[k]} ({atoms[first[k]].symbol}) and {second[k]} ({atoms[second[k]].symbol}) '
            f'are {distance[k]:.3f} Å apart (< {min_distance} Å): overlapping atoms'
        )


def write(atoms: Atoms, path) -> None:
    """Write ``atoms`` to ``path``: extxyz for .xyz/.extxyz (scalar metadata in the comment
    line), otherwise the format ASE infers from the suffix (CIF, POSCAR, ...)."""
    import pathlib

    import ase.io

    path = pathlib.Path(path)
    plain = atoms.copy()
    plain.info = {k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float))}
    if path.suffix.lower() in ('.xyz', '.extxyz'):
        ase.io.write(path, plain, format='extxyz')
    else:
        ase.io.write(path, plain)
