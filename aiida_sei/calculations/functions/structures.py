"""The paper's structures as calcfunctions: every structure node links back to its inputs.

Use :func:`build_structure_node` (or :func:`import_structure_file`) rather than the bare
calcfunctions: they check everything that can be checked before a node is stored, so bad input
leaves nothing behind in the profile.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase import Atoms

from aiida_sei.science import catalogue

# The structure last built by build_structure_node, reused by the calcfunction body so that a
# checked build is not computed twice. The builders are deterministic functions of their
# parameters, so the reuse does not change what the calcfunction computes.
_checked: dict = {}


def _key(kind: str, parameters: dict) -> str:
    return json.dumps([kind, parameters], sort_keys=True)


def _jsonable(value):
    """Plain-JSON copy of builder metadata (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _outputs(kind: str, atoms: Atoms) -> dict:
    info = {'kind': kind, 'formula': atoms.get_chemical_formula(), 'n_atoms': len(atoms)}
    info.update(_jsonable(atoms.info))
    return {'structure': orm.StructureData(ase=atoms), 'info': orm.Dict(info)}


@calcfunction
def build_structure(kind: orm.Str, parameters: orm.Dict, lattices: orm.Dict | None = None) -> dict:
    """Build one structure of the paper (``kind`` in ``aiida_sei.science.catalogue.BUILDERS``).

    Outputs ``structure`` and ``info`` (formula, atom count and what the builder reports: realised
    disorder, interface mismatch, slab ranges). ``lattices``: the relaxed lattice parameters that
    ``parameters`` took (sei.structures links them, so a cell leads back to its relaxation).
    """
    params = parameters.get_dict()
    atoms = _checked.pop(_key(kind.value, params), None)
    if atoms is None:
        atoms = catalogue.build(kind.value, params)
    return _outputs(kind.value, atoms)


@calcfunction
def import_structure(file: orm.SinglefileData) -> dict:
    """A structure read from a file (any ASE format), checked for species and overlaps."""
    atoms = _read(file)
    catalogue.check_atoms(atoms)
    return _outputs('imported', atoms)


def _read(file: orm.SinglefileData) -> Atoms:
    import ase.io

    with file.as_path() as path:
        return ase.io.read(path, format=_format(file.filename))


def _format(filename: str) -> str | None:
    return 'extxyz' if pathlib.Path(filename).suffix.lower() in ('.xyz', '.extxyz') else None


def build_structure_node(kind: str, parameters: dict | None = None, label: str | None = None) -> dict:
    """Check, then build and store ``kind``: returns the calcfunction's outputs.

    Raises :class:`aiida_sei.science.validation.StructureInputError` before storing anything.
    """
    resolved = catalogue.resolve_parameters(kind, parameters)
    atoms = catalogue.build(kind, resolved)
    _checked.clear()
    _checked[_key(kind, resolved)] = atoms
    metadata = {'label': label} if label else {}
    return build_structure(kind=orm.Str(kind), parameters=orm.Dict(resolved), metadata=metadata)


def import_structure_file(path) -> dict:
    """Check, then import a structure file with provenance (the file becomes a node)."""
    import ase.io

    path = pathlib.Path(path)
    catalogue.check_atoms(ase.io.read(path, format=_format(path.name)))
    return import_structure(file=orm.SinglefileData(path.resolve()))
