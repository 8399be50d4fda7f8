"""Stand-in labels computed in this Python process: a registered ASE calculator (CHGNet, LJ) as a
calcfunction. Same frame as a `sei.ase` job, without the job: no upload, no new interpreter, no
model load per label (CHGNet's import and weights cost ~3 s a job, its prediction ~0.2 s).
Never DFT: the frames carry ``is_dft = False`` like those of `sei.ase`."""

from __future__ import annotations

import functools
import json
import time
from importlib.metadata import version

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.calculators import calculator_version, load_calculator
from aiida_sei.data import FrameData
from aiida_sei.science.frames import Frame, settings_hash


@functools.lru_cache(maxsize=4)
def _calculator(name: str, parameters: str):
    """The calculator, built once per process and parameter set (``parameters`` as JSON: hashable)."""
    return load_calculator(name, json.loads(parameters))


@calcfunction
def stand_in_single_point(structure: orm.StructureData, calculator: orm.Str, parameters: orm.Dict, frame_metadata: orm.Dict) -> dict:
    """Energy, forces and stress of ``structure`` from the ASE ``calculator`` (a name in the
    ``sei.calculators`` group) as ``frame``, with the calculator's version and timing as ``misc``."""
    start = time.time()
    settings = parameters.get_dict()
    atoms = structure.get_ase()
    atoms.calc = _calculator(calculator.value, json.dumps(settings, sort_keys=True))
    ready = time.time()
    frame = Frame(numbers=atoms.numbers, positions=atoms.positions, cell=atoms.cell.array, pbc=atoms.pbc,
                  energy=float(atoms.get_potential_energy()), forces=np.array(atoms.get_forces(), float),
                  stress=np.array(atoms.get_stress(voigt=False), float))
    backend = f'ase:{calculator.value}'
    misc = {'calculator': calculator.value, 'calculator_class': type(atoms.calc).__name__,
            'calculator_version': calculator_version(atoms.calc), 'ase_version': version('ase'),
            'energy': frame.energy, 'status': 'ok', 'in_process': True,
            'startup_s': ready - start, 'wall_time': time.time() - ready}
    node = FrameData(frame, backend=backend, is_dft=False, settings=settings, settings_hash=settings_hash(backend, settings),
                     converged=True, **frame_metadata.get_dict())
    return {'frame': node, 'misc': orm.Dict(misc)}
