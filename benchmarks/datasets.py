"""Benchmark: cost of storing and querying datasets of 10^3 and 10^4 frames.

Frames are 52-atom Li6PS5Cl cells with Lennard-Jones labels (the cost of a frame node does not
depend on where its numbers came from), imported through `import_frames_file` into a fresh
embedded profile. Records seconds and repository disk per frame, and the time of the queries
that read a dataset back: iterating its frames and `labelling_processes`.

Run: `.venv/bin/python benchmarks/datasets.py [N ...]`; results in benchmarks/results/datasets.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import tempfile
import time


def directory_size(path) -> int:
    return int(subprocess.run(['du', '-sb', str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def measure(n_frames: int, workdir: pathlib.Path) -> dict:
    import ase.io
    import numpy as np
    from aiida import load_profile
    from ase.calculators.lj import LennardJones

    from aiida_sei.calculations.functions.dataset import import_frames_file, merge_datasets
    from aiida_sei.profile import ensure_profile
    from aiida_sei.queries import labelling_processes
    from aiida_sei.science import catalogue

    profile = ensure_profile(f'bench-{n_frames}', echo=lambda _: None)
    load_profile(profile.name, allow_switch=True)
    rng = np.random.default_rng(0)
    images = []
    for _ in range(n_frames):
        atoms = catalogue.build('argyrodite')
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        images.append(atoms)
    path = workdir / f'frames-{n_frames}.extxyz'
    ase.io.write(path, images, format='extxyz')

    storage = pathlib.Path(profile.storage_config['filepath'])
    before = directory_size(storage)
    start = time.perf_counter()
    dataset = import_frames_file(path, origin='benchmark', is_dft=False, backend='lj')['dataset']
    store_s = time.perf_counter() - start
    disk = directory_size(storage) - before

    start = time.perf_counter()
    n_read = sum(1 for _ in dataset.iter_frames())
    iterate_s = time.perf_counter() - start
    start = time.perf_counter()
    processes = labelling_processes(dataset)
    query_s = time.perf_counter() - start
    start = time.perf_counter()
    merge_datasets(a=dataset, b=dataset)
    merge_s = time.perf_counter() - start
    assert n_read == n_frames and len(processes) == 1
    return {
        'frames': n_frames,
        'atoms_per_frame': 52,
        'store_s': round(store_s, 2),
        'store_ms_per_frame': round(1000 * store_s / n_frames, 2),
        'disk_kb_per_frame': round(disk / n_frames / 1024, 2),
        'iterate_frames_s': round(iterate_s, 2),
        'labelling_processes_query_s': round(query_s, 3),
        'merge_new_version_s': round(merge_s, 2),
    }


def main(sizes):
    results = {'machine': {'cpus': os.cpu_count()}, 'runs': []}
    with tempfile.TemporaryDirectory() as workdir:
        os.environ['AIIDA_PATH'] = workdir  # a throw-away configuration, never the user's
        for n in sizes:
            row = measure(n, pathlib.Path(workdir))
            results['runs'].append(row)
            print(row, flush=True)
    out = pathlib.Path(__file__).parent / 'results' / 'datasets.json'
    out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written {out}')


if __name__ == '__main__':
    main([int(n) for n in sys.argv[1:]] or [1000, 10000])
