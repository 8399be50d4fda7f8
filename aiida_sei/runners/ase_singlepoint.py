"""ASE-calculator single point for aiida-sei's `sei.ase` CalcJob.

Reads `structure.extxyz` and `aiida_input.json` ({"calculator": name, "parameters": {...}}),
loads the calculator factory `name` from the entry-point group `sei.calculators`, and writes
`results.json` (energy eV, forces eV/Å, stress eV/Å^3 as 3x3, status).
"""

import json
import time

STARTED = time.time()  # before the heavy imports: start-up = imports + loading the model
from importlib.metadata import version

import ase.io

from aiida_sei.calculators import calculator_version, load_calculator


def main():
    with open('aiida_input.json') as handle:
        job = json.load(handle)
    atoms = ase.io.read('structure.extxyz', format='extxyz')
    atoms.calc = load_calculator(job['calculator'], job['parameters'])
    start = time.time()
    startup = start - STARTED
    results = {
        'calculator': job['calculator'],
        'calculator_class': type(atoms.calc).__name__,
        'calculator_version': calculator_version(atoms.calc),
        'ase_version': version('ase'),
        'energy': float(atoms.get_potential_energy()),
        'forces': atoms.get_forces().tolist(),
        'stress': atoms.get_stress(voigt=False).tolist(),
        'status': 'ok',
        'startup_s': startup,
    }
    results['wall_time'] = time.time() - start
    with open('results.json', 'w') as handle:
        json.dump(results, handle)


if __name__ == '__main__':
    main()
