"""Benchmark: time and peak memory to build the paper's cells, from the active-learning cell
to multi-million-atom production cells (pure builders, no profile), and to store them as nodes
up to the 21,120-atom cell.

Run: `make benchmarks` (or `.venv/bin/python benchmarks/structures.py`); results go to
benchmarks/results/structures.json and are quoted in docs/structures.md.
"""

from __future__ import annotations

import json
import multiprocessing
import pathlib
import platform
import resource
import time

CASES = {
    'interface_al (1x1x1, 14 Li layers)': ('interface', {'argyrodite_repeats': [1, 1, 1], 'li_layers': 14}),
    'interface 21,120 (3x6x10, 16:1)': ('interface', {'argyrodite_repeats': [3, 6, 10], 'li_ratio': 16}),
    'interface 3x6x80, 8:1': ('interface', {'argyrodite_repeats': [3, 6, 80], 'li_ratio': 8}),
    'interface 18x36x40, 8:1': ('interface', {'argyrodite_repeats': [18, 36, 40], 'li_ratio': 8}),
}
STORE_UP_TO = 25_000


def _build(kind, parameters, queue):
    from aiida_sei.science import catalogue

    start = time.perf_counter()
    atoms = catalogue.build(kind, parameters)
    seconds = time.perf_counter() - start
    queue.put({'atoms': len(atoms), 'build_s': round(seconds, 3), 'peak_rss_gb': round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 3)})


def _store(kind, parameters):

    from aiida_sei.calculations.functions.structures import build_structure_node
    from aiida_sei.profile import ensure_profile

    ensure_profile(echo=lambda _: None)
    start = time.perf_counter()
    build_structure_node(kind, parameters)
    return round(time.perf_counter() - start, 3)


def main():
    results = {'machine': {'cpus': multiprocessing.cpu_count(), 'python': platform.python_version()}, 'cases': {}}
    for name, (kind, parameters) in CASES.items():
        queue = multiprocessing.Queue()
        process = multiprocessing.Process(target=_build, args=(kind, parameters, queue))  # own peak RSS
        process.start()
        row = queue.get()
        process.join()
        if row['atoms'] <= STORE_UP_TO:
            row['build_and_store_node_s'] = _store(kind, parameters)
        results['cases'][name] = row
        print(f'{name:40s} {row}')
    out = pathlib.Path(__file__).parent / 'results' / 'structures.json'
    out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written {out}')


if __name__ == '__main__':
    main()
