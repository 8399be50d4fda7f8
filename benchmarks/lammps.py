"""Benchmark: MD speed of the Allegro model in LAMMPS (project plugin, 1 and 2 MPI ranks) and in
ASE (nequip's calculator), in atom-steps per second, on Li6PS5Cl supercells.

The model is the tests' tiny one (tests/allegro_fixtures.py: `fast` architecture, r_max 4 Å),
built here once. LAMMPS runs NVT Nosé-Hoover and is timed by its own loop time after a short
warm-up run; ASE runs velocity Verlet, timed after the same warm-up. One thread per process.

Run: `.venv/bin/python benchmarks/lammps.py [--large]`; --large adds the ~20,000-atom cell.
Results in benchmarks/results/lammps.json.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # the tests' model builder

from tests.allegro_fixtures import BIN, build_tiny_models, single_thread_env  # noqa: E402

#: name -> (supercell of the 52-atom cell, LAMMPS steps, ASE steps); ~10 s per measurement
CELLS = {'small': ((5, 2, 1), 200, 100), 'medium': ((5, 5, 3), 40, 20), 'large': ((8, 8, 6), 10, 5)}
WARMUP_STEPS = 3


def supercell(repeat):
    from aiida_sei.science import catalogue

    return catalogue.build('argyrodite').repeat(repeat)


def lammps_speed(directory: pathlib.Path, atoms, model: pathlib.Path, steps: int, ranks: int) -> float:
    """Atom-steps per second of NVT MD in LAMMPS, from the loop time of the timed run."""
    from aiida_sei.science.lammps_md import lammps_types, md_settings
    from aiida_sei.science.lammps_output import parse_log
    from aiida_sei.science.lammps_plugin import plugin_path

    types = lammps_types(set(atoms.get_chemical_symbols()), ['Cl', 'Li', 'P', 'S'])
    atoms.write(directory / 'cell.data', format='lammps-data', specorder=types, masses=True, units='metal', atom_style='atomic')
    settings = md_settings({'ensemble': 'nvt'})
    (directory / 'in.lammps').write_text(f"""plugin load {plugin_path()}
units metal
atom_style atomic
read_data cell.data
pair_style allegro
pair_coeff * * {model} {' '.join(types)}
timestep 0.001
velocity all create 300 1 mom yes rot no
fix md all nvt temp 300 300 {settings['thermostat_damping']}
thermo 100
run {WARMUP_STEPS}
run {steps}
""")
    command = [str(BIN / 'lmp'), '-in', 'in.lammps', '-log', 'log.lammps', '-screen', 'none']
    if ranks > 1:
        command = [str(BIN / 'mpirun'), '-np', str(ranks), *command]
    subprocess.run(command, cwd=directory, env=single_thread_env(), check=True)
    log = (directory / 'log.lammps').read_text()
    timed = log[log.rindex(f'run {steps}'):]
    return len(atoms) * steps / parse_log(timed).loop_seconds


def ase_speed(atoms, model: pathlib.Path, steps: int) -> float:
    """Atom-steps per second of velocity-Verlet MD with nequip's ASE calculator."""
    import numpy as np
    import torch
    from ase import units
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution
    from ase.md.verlet import VelocityVerlet
    from nequip.integrations.ase import NequIPCalculator

    torch.set_num_threads(1)
    atoms = atoms.copy()
    atoms.calc = NequIPCalculator.from_compiled_model(str(model), device='cpu', chemical_species_to_atom_type_map=True)
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(1))
    dynamics = VelocityVerlet(atoms, timestep=1.0 * units.fs)
    dynamics.run(WARMUP_STEPS)
    start = time.perf_counter()
    dynamics.run(steps)
    return len(atoms) * steps / (time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--large', action='store_true', help='also the ~20,000-atom cell')
    parser.add_argument('--models', type=pathlib.Path, help='directory with {pair_allegro,ase}.nequip.pt2 already built (default: build them)')
    parser.add_argument('--only', choices=list(CELLS), help='one cell only')
    args = parser.parse_args()
    for variable in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS'):
        os.environ[variable] = '1'
    cells = {k: v for k, v in CELLS.items() if (args.large or k != 'large') and args.only in (None, k)}
    results = {'machine': {'cpus': os.cpu_count(), 'load_average_at_start': os.getloadavg()[0]},
               'model': 'tiny Allegro (fast protocol, r_max 4 A, float32), tests/allegro_fixtures.py',
               'unit': 'atom-steps per second', 'cells': {}}
    with tempfile.TemporaryDirectory() as workdir:
        workdir = pathlib.Path(workdir)
        models = {t: args.models.resolve() / f'{t}.nequip.pt2' for t in ('pair_allegro', 'ase')} if args.models else build_tiny_models(workdir)
        for name, (repeat, lammps_steps, ase_steps) in cells.items():
            atoms = supercell(repeat)
            row = {'atoms': len(atoms)}
            for ranks in (1, 2):
                directory = workdir / f'{name}-{ranks}'
                directory.mkdir()
                row[f'lammps_{ranks}_rank{"s" if ranks > 1 else ""}'] = round(lammps_speed(directory, atoms, models['pair_allegro'], lammps_steps, ranks))
            row['ase'] = round(ase_speed(atoms, models['ase'], ase_steps))
            results['cells'][name] = row
            print(name, row, flush=True)
    results['machine']['load_average_at_end'] = os.getloadavg()[0]
    out = pathlib.Path(__file__).parent / 'results' / 'lammps.json'
    out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written {out}')


if __name__ == '__main__':
    main()
