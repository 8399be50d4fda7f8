"""Benchmark: Allegro training speed on this machine's CPU (or a GPU where there is one).

Seconds per epoch for the `fast` and `paper` architectures, measured as the difference between
a 3-epoch and a 1-epoch `nequip-train` run (so start-up and data loading cancel), on 50 frames
of the 52-atom Li6PS5Cl cell (Lennard-Jones labels: the cost does not depend on the labels).
Also the time from a stored dataset to a compiled model through aiida-sei (train `fast`
5 epochs, package, compile for ASE).

Run: `.venv/bin/python benchmarks/training.py`; results in benchmarks/results/training.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import yaml

BIN = pathlib.Path(sys.executable).parent
N_FRAMES = 50


def write_frames(directory: pathlib.Path) -> None:
    import ase.io
    import numpy as np
    from ase.calculators.lj import LennardJones

    from aiida_sei.science import catalogue

    rng = np.random.default_rng(0)
    images = []
    for seed in range(N_FRAMES):
        atoms = catalogue.build('argyrodite', {'seed': seed})
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        images.append(atoms)
    ase.io.write(directory / 'train.extxyz', images[:40], format='extxyz')
    ase.io.write(directory / 'validation.extxyz', images[40:], format='extxyz')


def train_seconds(directory: pathlib.Path, protocol: str, epochs: int) -> float:
    from aiida_sei.protocols import recursive_merge
    from aiida_sei.science.allegro import training_config
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    inputs = AllegroTrainingWorkChain.get_protocol_inputs(protocol)
    inputs = recursive_merge(inputs, {'training': {'max_epochs': epochs}})
    config = training_config(['Cl', 'Li', 'P', 'S'], inputs)
    name = f'{protocol}-{epochs}.yaml'
    (directory / name).write_text(yaml.safe_dump(config, sort_keys=False))
    start = time.perf_counter()
    subprocess.run(
        [str(BIN / 'nequip-train'), '--config-dir', '.', '--config-name', name, f'hydra.run.dir=run-{protocol}-{epochs}'],
        cwd=directory, check=True, capture_output=True,
    )
    return time.perf_counter() - start


def dataset_to_compiled_model(directory: pathlib.Path) -> dict:
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_sei.calculations.functions.dataset import import_frames_file, split
    from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
    from aiida_sei.profile import ensure_profile
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    ensure_profile('bench-training', echo=lambda _: None)
    dataset = import_frames_file(directory / 'train.extxyz', is_dft=False)['dataset']
    parts = split(dataset, {'train': 0.8, 'validation': 0.2}, seed=0)
    start = time.perf_counter()
    codes = {'train': orm.load_code('nequip-train@localhost'), 'package': orm.load_code('nequip-package@localhost')}
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', dataset=parts['train'], validation=parts['validation'])
    results, node = run_get_node(builder)
    trained = time.perf_counter() - start
    compiled, compile_node = run_get_node(NequipCompileCalculation, code=orm.load_code('nequip-compile@localhost'), model=results['model'])
    total = time.perf_counter() - start
    assert node.is_finished_ok and compile_node.is_finished_ok
    return {'epochs': 5, 'frames': len(parts['train']), 'train_and_package_s': round(trained, 1), 'dataset_to_compiled_model_s': round(total, 1)}


def main():
    results = {'machine': {'cpus': os.cpu_count(), 'threads': os.environ.get('OMP_NUM_THREADS')}, 'frames': N_FRAMES, 'atoms_per_frame': 52}
    with tempfile.TemporaryDirectory() as workdir:
        directory = pathlib.Path(workdir)
        os.environ['AIIDA_PATH'] = workdir
        write_frames(directory)
        for protocol in ('fast', 'paper'):
            one, three = train_seconds(directory, protocol, 1), train_seconds(directory, protocol, 3)
            results[f'{protocol}_seconds_per_epoch'] = round((three - one) / 2, 2)
            results[f'{protocol}_startup_s'] = round(one - (three - one) / 2, 1)
            print(protocol, results[f'{protocol}_seconds_per_epoch'], 's/epoch', flush=True)
        results['pipeline'] = dataset_to_compiled_model(directory)
        print(results['pipeline'], flush=True)
    out = pathlib.Path(__file__).parent / 'results' / 'training.json'
    out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written {out}')


if __name__ == '__main__':
    main()
