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

#: Atoms in the conventional cell of the cubic phases: a from the volume per atom of any cell.
_CONVENTIONAL_ATOMS = {'Li': 2, 'Li2S': 12, 'LiCl': 8, 'Li6PS5Cl': 52}

#: Phase -> builder of its smallest cell, or with ``cubic`` its conventional cubic one (a fresh
#: Atoms each call: callers relax it in place).
_UNIT_CELLS = {
    'Li': lambda cubic: bulk('Li', 'bcc', a=LATTICE['Li'], cubic=cubic),              # 1 atom (2)
    'Li2S': lambda cubic: bulk('SLi2', 'fluorite', a=LATTICE['Li2S'], cubic=cubic),   # antifluorite, 3 atoms (12)
    'LiCl': lambda cubic: bulk('LiCl', 'rocksalt', a=LATTICE['LiCl'], cubic=cubic),   # 2 atoms (8)
    'Li3P': lambda cubic: crystals.li3p(),                                            # hexagonal, 8 atoms
    'Li6PS5Cl': lambda cubic: crystals.argyrodite(),                                  # 52 atoms, Cl/S disorder on 4a/4d
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


def unit_cell(phase: str, cubic: bool = False) -> Atoms:
    """The smallest cell of ``phase`` at the project's default lattice parameters; with ``cubic``
    the conventional cell of the cubic phases, whose Gamma-centred k-meshes hold the fcc zone's X
    point at any density (Li2S's PBE conduction band minimum: an odd mesh of the 3-atom cell misses
    it and overstates the gap by 0.3 eV)."""
    try:
        return _UNIT_CELLS[phase](cubic)
    except KeyError:
        raise ValueError(f'no unit cell for phase {phase!r}; known: {", ".join(PHASES)}') from None


def lattice_parameters(phase: str, atoms: Atoms) -> dict[str, float]:
    """Conventional lattice parameters (Å) of ``phase`` from a relaxed :func:`unit_cell`.

    Cubic phases: a from the volume per atom, for a primitive or conventional cell (a relaxation
    of a disordered argyrodite cell is not exactly cubic); hexagonal Li3P: a as the mean in-plane
    length, c."""
    if phase == 'Li3P':
        lengths = atoms.cell.lengths()
        return {'a': float(np.mean(lengths[:2])), 'c': float(lengths[2])}
    if phase not in PHASES:
        raise ValueError(f'no lattice parameters for phase {phase!r}; known: {", ".join(PHASES)}')
    return {'a': float((atoms.get_volume() / len(atoms) * _CONVENTIONAL_ATOMS[phase]) ** (1 / 3))}


def phases_of(kind: str) -> set[str]:
    """The phases whose lattice parameters a structure kind takes."""
    return {phase for phase, _ in KIND_PARAMETERS.get(kind, {}).values()}


def builder_parameters(kind: str, lattices: dict[str, dict], given: dict | None = None) -> dict:
    """The builder parameters of ``kind`` taken from relaxed ``lattices`` (phase -> {a, c}),
    except those the user ``given`` explicitly, and phases not relaxed."""
    given = given or {}
    return {name: lattices[phase][key] for name, (phase, key) in KIND_PARAMETERS.get(kind, {}).items()
            if name not in given and phase in lattices}
