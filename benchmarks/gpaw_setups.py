"""Benchmark: what GPAW's Li setup with 1s in valence (`Li.sv.PBE`, made by `sei-gpaw-setups`)
changes against gpaw-data's 1-electron `Li.PBE`: relaxed lattice parameters of BCC Li, Li2S,
LiCl and Li3P, and the PBE band gap of Li2S, beside the paper's VASP (Li_sv) values.

Each cell is relaxed (cell and positions, fmax 0.005 eV/Å) with the runner `sei.gpaw` uses, at
600 eV and a 0.2 Å^-1 k-mesh (converged for these lattice constants to ~0.002 Å). The gap is
read from the eigenvalues on the relaxation's k-mesh (Gamma-centred; Li2S's gap is direct at
Gamma in PBE, so the mesh contains both edges).

Run: `.venv/bin/python benchmarks/gpaw_setups.py` (~10 min on 2 cores); results go to
benchmarks/results/gpaw_setups.json and are quoted in docs/labels.md.
"""

from __future__ import annotations

import json
import pathlib
import time
from concurrent.futures import ProcessPoolExecutor

PAPER = {'Li': {'a': 3.420}, 'Li2S': {'band_gap_eV': 3.4}}
EXPERIMENT = {'Li': {'a': 3.451}, 'Li2S': {'a': 5.71}, 'LiCl': {'a': 5.13}, 'Li3P': {'a': 4.264, 'c': 7.579}}
PHASES = ('Li', 'Li2S', 'LiCl', 'Li3P')
PARAMETERS = {'ecut': 600, 'xc': 'PBE', 'smearing': 0.05, 'convergence': {'energy': 1e-6, 'density': 1e-5},
              'maxiter': 300, 'mixer': {'beta': 0.05, 'nmaxold': 5, 'weight': 50.0}}


def run(case):
    import numpy as np
    from ase.dft.bandgap import bandgap

    from aiida_sei.runners.gpaw_singlepoint import make_calculator, relax, setups_used
    from aiida_sei.science.kpoints import kpoint_mesh
    from aiida_sei.science.lattices import lattice_parameters, unit_cell

    phase, setup = case
    atoms = unit_cell(phase)
    mesh = kpoint_mesh(atoms.cell, 0.2, len(atoms), 200)
    atoms.calc = make_calculator({**PARAMETERS, 'setups': {'Li': setup}}, mesh, txt=None)
    start = time.perf_counter()
    steps = relax(atoms, {'fmax': 0.005, 'steps': 100, 'cell': True}, logfile=None)['steps']
    gap, _, _ = bandgap(atoms.calc, output=None)
    return phase, setup, {**{k: round(v, 4) for k, v in lattice_parameters(phase, atoms).items()},
                          'band_gap_eV': round(float(gap), 3), 'li_valence': setups_used(atoms.calc)['Li']['valence'],
                          'kpoints': [int(n) for n in mesh], 'relax_steps': steps, 'wall_s': round(time.perf_counter() - start, 1),
                          'energy_eV_per_atom': round(float(np.mean(atoms.get_potential_energy() / len(atoms))), 5)}


def main():
    results = {'settings': {**PARAMETERS, 'kpoints_distance': 0.2, 'fmax': 0.005}, 'paper_vasp': PAPER, 'experiment': EXPERIMENT, 'phases': {}}
    with ProcessPoolExecutor(2) as pool:
        for phase, setup, row in pool.map(run, [(p, s) for p in PHASES for s in ('paw', 'sv')]):
            results['phases'].setdefault(phase, {})[f'Li.{setup}'] = row
            print(phase, setup, row, flush=True)
    out = pathlib.Path(__file__).parent / 'results' / 'gpaw_setups.json'
    out.write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
    main()
