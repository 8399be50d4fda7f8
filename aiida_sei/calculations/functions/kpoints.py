"""The k-point mesh of a structure, made when a labelling work chain runs (so that each MD frame,
whatever its cell, gets its own mesh) and linked to the structure and the distance it came from."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.science.kpoints import kpoint_mesh


@calcfunction
def create_kpoints(structure: orm.StructureData, distance: orm.Float, gamma_only_above_atoms: orm.Int) -> orm.KpointsData:
    """Gamma-centred mesh with ``distance`` (Å^-1, 2π included) between k-points; Gamma only
    for cells of more than ``gamma_only_above_atoms`` atoms (as the paper's interface)."""
    atoms = structure.get_ase()
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh(kpoint_mesh(atoms.cell, distance.value, len(atoms), gamma_only_above_atoms.value))
    return kpoints
