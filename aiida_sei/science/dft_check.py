"""How far a stand-in labeller and a model are from DFT on a production run: clusters cut out of
its frames, small enough for DFT, and the errors of both against DFT on them.

A frame of thousands of atoms is out of DFT's reach on a laptop; a sphere of ~20 atoms around
an S atom is not. The cut leaves surface atoms whose environment no periodic frame has, so
forces are compared on the core atoms only (well inside the sphere, their neighbours within the
models' cutoffs mostly kept), and energies after one fitted shift per species: the labellers'
energy zeros differ by a constant per element (a level of theory's own reference), which says
nothing about how well they agree.
"""

from __future__ import annotations

import numpy as np
from ase import Atoms
from ase.geometry import find_mic

from .analyses import PS4_CUTOFF, _sei_layout

#: Centres closer than this to the electrolyte's boundary (Å), or beyond it, are `interface`.
INTERFACE_DEPTH = 4.0


REGIONS = ('interface', 'bulk')


def sulfur_regions(atoms: Atoms, axis: int = 2) -> dict[str, np.ndarray]:
    """Indices of the S atoms by region: `interface` (in the SEI, or within
    :data:`INTERFACE_DEPTH` of the intact electrolyte's boundary) and `bulk` (deeper inside the
    electrolyte); all `interface` once no PS4 is left."""
    sulfur = np.flatnonzero(np.array(atoms.get_chemical_symbols()) == 'S')
    layout = _sei_layout(atoms, axis, PS4_CUTOFF)
    if layout is None:
        return {'interface': sulfur, 'bulk': sulfur[:0]}
    z = layout.unwrapped[sulfur]
    near = (z < layout.low + INTERFACE_DEPTH) | (z > layout.high - INTERFACE_DEPTH)
    return {'interface': sulfur[near], 'bulk': sulfur[~near]}


def cluster_centre(atoms: Atoms, region: str, seed: int = 0) -> tuple[int, str]:
    """An S atom of ``region`` drawn at random (``seed``) and its region: the other region's when
    ``region`` has none. A ValueError for a frame without S."""
    pools = sulfur_regions(atoms)
    if not pools[region].size:
        region = next(other for other in REGIONS if other != region)
    if not pools[region].size:
        raise ValueError('the frame has no S atom to centre a cluster on')
    return int(np.random.default_rng(seed).choice(pools[region])), region


def cut_cluster(atoms: Atoms, centre: int, radius: float, vacuum: float) -> Atoms:
    """The atoms within ``radius`` (Å, minimum image) of atom ``centre``, centred in a cubic box
    of edge 2 ``radius`` + ``vacuum`` (periodic, so plane-wave codes take it: with a vacuum wider
    than the cutoffs the images do not see each other)."""
    vectors, distances = find_mic(atoms.positions - atoms.positions[centre], atoms.cell, atoms.pbc)
    keep = distances <= radius
    edge = 2 * radius + vacuum
    return Atoms(np.array(atoms.get_chemical_symbols())[keep], positions=vectors[keep] + edge / 2, cell=[edge] * 3, pbc=True)


def core_mask(cluster: Atoms, core_radius: float) -> np.ndarray:
    """Atoms within ``core_radius`` of the box centre (where :func:`cut_cluster` put the centre atom)."""
    return np.linalg.norm(cluster.positions - np.diag(cluster.cell) / 2, axis=1) <= core_radius


def aligned_energy_errors(compositions: list[dict[str, int]], reference, other) -> dict | None:
    """MAE and RMSE (eV/atom) of ``other`` against ``reference`` energies after the least-squares
    shift per species that best aligns them; None when the clusters are not more than the species
    (the shifts would absorb every difference)."""
    species = sorted({element for composition in compositions for element in composition})
    if len(compositions) <= len(species):
        return None
    counts = np.array([[composition.get(element, 0) for element in species] for composition in compositions], float)
    difference = np.asarray(other, float) - np.asarray(reference, float)
    shifts, *_ = np.linalg.lstsq(counts, difference, rcond=None)
    residual = (difference - counts @ shifts) / counts.sum(axis=1)
    return {'energy_per_atom_mae': float(np.abs(residual).mean()), 'energy_per_atom_rmse': float(np.sqrt((residual**2).mean())),
            'shifts': dict(zip(species, map(float, shifts)))}


def force_errors(reference: list[np.ndarray], other: list[np.ndarray], masks: list[np.ndarray]) -> dict:
    """MAE and RMSE (eV/Å) of force components over the masked atoms of every cluster."""
    errors = np.concatenate([(np.asarray(o) - np.asarray(r))[mask].ravel() for r, o, mask in zip(reference, other, masks)])
    return {'forces_mae': float(np.abs(errors).mean()), 'forces_rmse': float(np.sqrt((errors**2).mean())), 'components': int(errors.size)}
