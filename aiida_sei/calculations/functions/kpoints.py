"""The k-point mesh of a structure, made when a labelling work chain runs (so that each MD frame,
whatever its cell, gets its own mesh) and linked to the structure and the distance it came from."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.science.kpoints import kpoint_mesh


def kpoints_choice(mesh_port: str):
    """Validator of a work chain that takes an explicit mesh at ``mesh_port`` (dotted path) or
    ``kpoints_distance``: exactly one of them (skipped where a parent exposes it without them)."""

    def validate(inputs, namespace):
        if 'kpoints_distance' not in namespace:
            return None  # exposed without it: the exposing process sets the mesh
        mesh = inputs
        for part in mesh_port.split('.'):
            mesh = mesh.get(part) if mesh is not None else None
        if (mesh is None) == ('kpoints_distance' not in inputs):
            return f'give exactly one of {mesh_port} and kpoints_distance'
        return None

    return validate


@calcfunction
def create_kpoints(structure: orm.StructureData, distance: orm.Float, gamma_only_above_atoms: orm.Int) -> orm.KpointsData:
    """Gamma-centred mesh with ``distance`` (Å^-1, 2π included) between k-points; Gamma only
    for cells of more than ``gamma_only_above_atoms`` atoms (as the paper's interface)."""
    atoms = structure.get_ase()
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh(kpoint_mesh(atoms.cell, distance.value, len(atoms), gamma_only_above_atoms.value))
    return kpoints
