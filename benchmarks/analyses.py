"""Benchmark: the paper's per-frame analyses on a ~100,000-atom interface cell.

Run: `.venv/bin/python benchmarks/analyses.py`; results in benchmarks/results/analyses.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

from aiida_sei.science import analyses, catalogue

CELL = {'argyrodite_repeats': [3, 6, 60], 'li_ratio': 8}


def timed(function, *args):
    start = time.perf_counter()
    function(*args)
    return round(time.perf_counter() - start, 3)


def main():
    atoms = catalogue.build('interface', CELL)
    results = {
        'machine': {'cpus': os.cpu_count(), 'threads': os.environ.get('OMP_NUM_THREADS')},
        'cell': CELL,
        'atoms': len(atoms),
        'seconds': {
            'count_intact_ps4': timed(analyses.count_intact_ps4, atoms),
            'sei_thickness': timed(analyses.sei_thickness, atoms),
            'li_phase_fractions (OVITO PTM)': timed(analyses.li_phase_fractions, atoms),
            'partial_rdf Li-S 6 A': timed(analyses.partial_rdf, atoms, 'Li', 'S'),
            'composition_per_anion': timed(analyses.composition_per_anion, atoms.get_chemical_symbols()),
        },
    }
    print(json.dumps(results, indent=2))
    out = pathlib.Path(__file__).parent / 'results' / 'analyses.json'
    out.write_text(json.dumps(results, indent=2) + '\n')


if __name__ == '__main__':
    main()
