"""Benchmark: classification throughput and memory for 10^4, 10^5 and 10^6 Li environments.

Environments are Li centres of rattled crystals of the five reference phases and the doped SEI
phase (the mix of a reacted interface). 10^4 and 10^5 are clustered in full; for 10^5 a
2x10^4 subsample is also clustered and the rest assigned, and the labels of both routes are
compared; 10^6 goes the subsample route with descriptors computed and assigned in chunks.

Run: `.venv/bin/python benchmarks/classification.py`; results in
benchmarks/results/classification.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import resource
import time

import numpy as np

from aiida_sei.science import crystals
from aiida_sei.science.classification import assign, classify, fit_clustering, label_clusters
from aiida_sei.science.descriptors import li_ace_descriptors

PHASES = [
    lambda seed: crystals.bcc_li(supercell=(6, 6, 6)),
    lambda seed: crystals.argyrodite(supercell=(3, 3, 3), seed=seed),
    lambda seed: crystals.li2s(supercell=(5, 5, 5)),
    lambda seed: crystals.li3p(supercell=(6, 6, 3)),
    lambda seed: crystals.licl(supercell=(6, 6, 6)),
    lambda seed: crystals.doped_li2s(x=0.14, supercell=(5, 5, 5), seed=seed),
]
REFERENCE_NAMES = ['Li', 'Li6PS5Cl', 'Li2S', 'Li3P', 'LiCl']
SUBSAMPLE = 20_000


def frames(seed0=0):
    """Endless rattled frames cycling through the phases."""
    seed = seed0
    while True:
        for phase, make in enumerate(PHASES):
            atoms = make(seed)
            atoms.positions += np.random.default_rng((seed, phase)).normal(0, 0.08, atoms.positions.shape)
            yield atoms
        seed += 1


def descriptors(n, seed0=0):
    rows, total = [], 0
    for atoms in frames(seed0):
        block = li_ace_descriptors(atoms)
        rows.append(block)
        total += len(block)
        if total >= n:
            return np.vstack(rows)[:n]


def references():
    return {name: li_ace_descriptors(make(900)) for name, make in zip(REFERENCE_NAMES, PHASES)}


def rss_gb():
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6, 2)


def full(n):
    start = time.perf_counter()
    x = descriptors(n)
    described = time.perf_counter() - start
    fitted = fit_clustering(x, n_components=20, Z=3.0, maxk=100)
    clustered = time.perf_counter() - start
    label_clusters(fitted, references())
    return fitted, x, {'descriptors_s': round(described, 1), 'total_s': round(clustered, 1), 'clusters': fitted.n_clusters,
                       'environments_per_s': round(n / clustered), 'peak_rss_gb': rss_gb()}


def main():
    results = {'machine': {'cpus': os.cpu_count(), 'threads': os.environ.get('OMP_NUM_THREADS')}, 'runs': {}}
    for n in (10_000, 100_000):
        fitted, x, row = full(n)
        if n == 100_000:
            start = time.perf_counter()
            sample = np.random.default_rng(0).choice(n, SUBSAMPLE, replace=False)
            sub = fit_clustering(x[sample], n_components=20, Z=3.0, maxk=100)
            label_clusters(sub, references())
            labels_sub, _ = classify(sub, x)
            row['subsample_route_s'] = round(time.perf_counter() - start, 1)
            labels_full = np.array(fitted.labels, dtype=object)[fitted.cluster]
            row['subsample_vs_full_label_agreement'] = round(float(np.mean(labels_sub == labels_full)), 4)
        results['runs'][str(n)] = row
        print(n, row, flush=True)
    start = time.perf_counter()
    sub = fit_clustering(descriptors(SUBSAMPLE, seed0=100), n_components=20, Z=3.0, maxk=100)
    assigned = 0
    for chunk_seed in range(10_000):
        chunk = descriptors(50_000, seed0=1000 + 7 * chunk_seed)
        assign(sub, chunk)
        assigned += len(chunk)
        if assigned >= 1_000_000:
            break
    elapsed = time.perf_counter() - start
    results['runs']['1000000'] = {'route': f'cluster {SUBSAMPLE} + assign in chunks of 50,000', 'total_s': round(elapsed, 1),
                                  'environments_per_s': round(assigned / elapsed), 'peak_rss_gb': rss_gb()}
    print(results['runs']['1000000'], flush=True)
    out = pathlib.Path(__file__).parent / 'results' / 'classification.json'
    out.write_text(json.dumps(results, indent=2) + '\n')
    print(f'written {out}')


if __name__ == '__main__':
    main()
