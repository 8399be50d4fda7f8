"""Benchmark: cost of storing frames next to bare `orm.Dict` nodes, and of importing and
reading back datasets of 10^3 and 10^4 frames.

Frames are 52-atom Li6PS5Cl cells with Lennard-Jones labels (the cost of a frame node does not
depend on where its numbers came from). In one fresh embedded profile per size:

- `store`: N `sei.frame` nodes and N bare `orm.Dict` nodes holding the same queryable
  attributes, each stored on its own (`node.store()`), in alternating blocks of 100 so that both
  see the same machine load and the same growing database; `frame_over_dict` is their ratio.
- `import`: an N-frame extxyz through `import_frames_file` (parse, check, store, link, dataset).
- reading back: iterating the dataset's frames, `labelling_processes`, a merged version.

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

BLOCK = 100


def directory_size(path) -> int:
    return int(subprocess.run(['du', '-sb', str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def labelled_cells(n_frames: int) -> list:
    import numpy as np
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_sei.science import catalogue

    rng, images = np.random.default_rng(0), []
    for _ in range(n_frames):
        atoms = catalogue.build('argyrodite')
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        results = {k: atoms.calc.get_property(k, atoms) for k in ('energy', 'forces', 'stress')}
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


def store_side_by_side(frames: list) -> dict:
    """Seconds to store the frames as `sei.frame` nodes and as bare Dicts of their attributes."""
    from aiida import orm

    from aiida_sei.data import FrameData

    metadata = {'system': 'Li6PS5Cl', 'origin': 'benchmark', 'is_dft': False, 'backend': 'lj'}
    seconds = {'frame': 0.0, 'dict': 0.0}
    for start in range(0, len(frames), BLOCK):
        block = frames[start : start + BLOCK]
        begin = time.perf_counter()
        nodes = [FrameData(frame, **metadata).store() for frame in block]
        seconds['frame'] += time.perf_counter() - begin
        attributes = [dict(node.base.attributes.items()) for node in nodes]
        begin = time.perf_counter()
        for values in attributes:
            orm.Dict(values).store()
        seconds['dict'] += time.perf_counter() - begin
    return seconds


def measure(n_frames: int, workdir: pathlib.Path) -> dict:
    import ase.io
    from aiida import load_profile

    from aiida_sei.calculations.functions.dataset import import_frames_file, merge_datasets
    from aiida_sei.profile import ensure_profile
    from aiida_sei.queries import labelling_processes
    from aiida_sei.science.frames import frame_from_atoms

    profile = ensure_profile(f'bench-{n_frames}', echo=lambda _: None)
    load_profile(profile.name, allow_switch=True)
    images = labelled_cells(n_frames)
    path = workdir / f'frames-{n_frames}.extxyz'
    ase.io.write(path, images, format='extxyz')

    stored = store_side_by_side([frame_from_atoms(atoms) for atoms in images])

    storage = pathlib.Path(profile.storage_config['filepath'])
    before = directory_size(storage)
    start = time.perf_counter()
    dataset = import_frames_file(path, origin='benchmark', is_dft=False, backend='lj')['dataset']
    import_s = time.perf_counter() - start
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
        'store_frame_ms': round(1000 * stored['frame'] / n_frames, 2),
        'store_dict_ms': round(1000 * stored['dict'] / n_frames, 2),
        'frame_over_dict': round(stored['frame'] / stored['dict'], 2),
        'import_s': round(import_s, 1),
        'import_ms_per_frame': round(1000 * import_s / n_frames, 2),
        'disk_kb_per_frame': round(disk / n_frames / 1024, 2),
        'iterate_frames_s': round(iterate_s, 2),
        'labelling_processes_query_s': round(query_s, 3),
        'merge_new_version_s': round(merge_s, 2),
    }


def main(sizes):
    results = {'machine': {'cpus': os.cpu_count(), 'load_average_at_start': round(os.getloadavg()[0], 2)}, 'runs': []}
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
