"""Lattice parameters of the paper's crystals from relaxed cells (pure: ASE in, numbers out).

The paper relaxed its crystals with DFT (BCC Li: 3.420 Å with VASP PBE) before building cells.
Here each phase has a smallest cell to relax (primitive where the conventional cell is larger),
the conventional lattice parameters read back from the relaxed cell, and the builder parameters
of each structure kind that take them (``catalogue.BUILDERS``).
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.build import bulk

from . import crystals
from .crystals import LATTICE

#: Conventional cell volume / primitive cell volume of the cubic phases relaxed in primitive cells.
_PRIMITIVE_FRACTION = {'Li': 2, 'Li2S': 4, 'LiCl': 4}


#: Phase -> builder of its smallest cell (a fresh Atoms each call: callers relax it in place).
_UNIT_CELLS = {
    'Li': lambda: bulk('Li', 'bcc', a=LATTICE['Li']),                   # 1 atom
    'Li2S': lambda: bulk('SLi2', 'fluorite', a=LATTICE['Li2S']),        # antifluorite, 3 atoms
    'LiCl': lambda: bulk('LiCl', 'rocksalt', a=LATTICE['LiCl']),        # 2 atoms
    'Li3P': crystals.li3p,                                              # hexagonal, 8 atoms
    'Li6PS5Cl': crystals.argyrodite,                                    # 52 atoms, Cl/S disorder on 4a/4d
}

PHASES = tuple(_UNIT_CELLS)

#: Builder parameter of each structure kind -> (phase, lattice parameter) it takes.
KIND_PARAMETERS = {
    'bcc-li': {'a': ('Li', 'a')},
    'li2s': {'a': ('Li2S', 'a')},
    'licl': {'a': ('LiCl', 'a')},
    'li3p': {'a': ('Li3P', 'a'), 'c': ('Li3P', 'c')},
    'argyrodite': {'a': ('Li6PS5Cl', 'a')},
    'doped-li2s': {'a': ('Li2S', 'a')},
    'interface': {'a_li': ('Li', 'a'), 'a_argyrodite': ('Li6PS5Cl', 'a'), 'a_li2s': ('Li2S', 'a')},
}


def unit_cell(phase: str) -> Atoms:
    """The smallest cell of ``phase`` at the project's default lattice parameters."""
    try:
        return _UNIT_CELLS[phase]()
    except KeyError:
        raise ValueError(f'no unit cell for phase {phase!r}; known: {", ".join(PHASES)}') from None


def lattice_parameters(phase: str, atoms: Atoms) -> dict[str, float]:
    """Conventional lattice parameters (Å) of ``phase`` from a relaxed :func:`unit_cell`.

    Cubic phases: a from the volume (a relaxation of a disordered argyrodite cell is not exactly
    cubic); hexagonal Li3P: a as the mean in-plane length, c."""
    if phase == 'Li3P':
        lengths = atoms.cell.lengths()
        return {'a': float(np.mean(lengths[:2])), 'c': float(lengths[2])}
    if phase not in PHASES:
        raise ValueError(f'no lattice parameters for phase {phase!r}; known: {", ".join(PHASES)}')
    return {'a': float((atoms.get_volume() * _PRIMITIVE_FRACTION.get(phase, 1)) ** (1 / 3))}


def phases_of(kind: str) -> set[str]:
    """The phases whose lattice parameters a structure kind takes."""
    return {phase for phase, _ in KIND_PARAMETERS.get(kind, {}).values()}


def builder_parameters(kind: str, lattices: dict[str, dict], given: dict | None = None) -> dict:
    """The builder parameters of ``kind`` taken from relaxed ``lattices`` (phase -> {a, c}),
    except those the user ``given`` explicitly, and phases not relaxed."""
    given = given or {}
    return {name: lattices[phase][key] for name, (phase, key) in KIND_PARAMETERS.get(kind, {}).items()
            if name not in given and phase in lattices}
