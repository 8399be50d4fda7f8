"""Turn aiida-vasp's outputs into a frame node (aiida-vasp's own parser did the reading)."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase.units import GPa

from aiida_sei.data import FrameData
from aiida_sei.science.frames import Frame


def vasp_stress_to_ase(stress_kbar) -> np.ndarray:
    """VASP's stress (kBar, positive = compressive) -> ASE's (eV/Å^3, positive = tensile)."""
    return -0.1 * GPa * np.asarray(stress_kbar, float)


@calcfunction
def frame_from_vasp(structure: orm.StructureData, misc: orm.Dict, frame_metadata: orm.Dict) -> FrameData:
    """The labelled frame of a VASP single point: free energy (TOTEN, eV), forces (eV/Å) and
    stress from ``misc``; ``frame_metadata`` holds the frame metadata and the settings hash."""
    results = misc.get_dict()
    atoms = structure.get_ase()
    frame = Frame(
        numbers=atoms.numbers,
        positions=atoms.positions,
        cell=atoms.cell.array,
        pbc=atoms.pbc,
        energy=float(results['total_energies']['energy_free']),
        forces=np.asarray(results['forces'], float),
        stress=vasp_stress_to_ase(results['stress']),
    )
    return FrameData(frame, backend="vasp", is_dft=True, **frame_metadata.get_dict())
