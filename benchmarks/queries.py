"""Benchmark: the provenance queries of aiida_sei.queries on a profile holding 10^3 and 10^4 frames.

Builds, in a throwaway profile (temporary AIIDA_PATH, SQLite storage), the graph a run leaves:
Lennard-Jones-labelled 16-atom Li cells imported with the project's ``import_frames``
calcfunction (500 frames a call, the cheapest real way to store a frame with its provenance),
``merge_datasets``, ``split_dataset``, the stand-in training and compile of tests/test_queries.py
(calcfunctions with the real CalcJobs' link labels, called by a work chain), and a classified
100-step trajectory.
Then times each query of docs/queries.md (best of 3, warm). Results in benchmarks/results/queries.json.

Run: `.venv/bin/python benchmarks/queries.py [N ...]` (default: 1000 10000); one size kept for
later measurements: `--one N --keep DIR`, then `--measure DIR`.
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import tempfile
import time

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parent.parent
RESULTS = ROOT / 'benchmarks' / 'results' / 'queries.json'
CHUNK = 500
TRAJECTORY_STEPS = 100


def build_graph(frames: int, directory: pathlib.Path) -> dict:
    """Store the benchmark graph; returns its nodes and the build time of each part."""
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_sei.calculations.functions.classification import classify_trajectory, cluster_environments, label_clustering, reference_inputs
    from aiida_sei.calculations.functions.dataset import import_frames_file, merge_datasets, split
    from aiida_sei.science import crystals
    import ase.io

    sys.path.insert(0, str(ROOT))  # the stand-ins and cells of tests/test_queries.py
    from tests.test_queries import TrainAndCompile, lj_cells, rattled

    start, seconds = time.perf_counter(), {}
    parts = []
    for number, first in enumerate(range(0, frames, CHUNK)):
        path = directory / f'frames_{number}.extxyz'
        ase.io.write(path, lj_cells(min(CHUNK, frames - first), seed=number), format='extxyz')
        parts.append(import_frames_file(path, origin='benchmark', backend='lennard-jones', is_dft=False)['dataset'])
    seconds['frames_s'] = time.perf_counter() - start
    start = time.perf_counter()
    dataset = merge_datasets(**{f'part_{n:03d}': part for n, part in enumerate(parts)})
    halves = split(dataset, {'train': 0.9, 'validation': 0.1})
    _, workflow = run_get_node(TrainAndCompile, dataset=halves['train'], validation=halves['validation'])
    seconds['datasets_and_model_s'] = time.perf_counter() - start

    start = time.perf_counter()
    li, licl = rattled(crystals.bcc_li(supercell=(2, 2, 2)), 4), rattled(crystals.licl(supercell=(2, 2, 2)), 5)
    clustering = cluster_environments(orm.Dict({'n_components': 5}), a=orm.StructureData(ase=li), b=orm.StructureData(ase=licl))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [orm.StructureData(ase=li)], 'LiCl': [orm.StructureData(ase=licl)]}))
    cells = lj_cells(TRAJECTORY_STEPS, seed=99)
    trajectory = orm.TrajectoryData([orm.StructureData(ase=atoms) for atoms in cells])
    trajectory.set_array('times', np.arange(TRAJECTORY_STEPS) * 0.5)
    series = classify_trajectory(labelled, trajectory)
    seconds['trajectory_s'] = time.perf_counter() - start
    compiled = workflow.outputs.compiled
    return {'compiled': compiled, 'frame': next(halves['train'].iter_frames()), 'trajectory': trajectory, 'series': series, 'build': seconds}


def timed(function, *args, repeat=3) -> tuple[float, object]:
    best = float('inf')
    for _ in range(repeat):
        start = time.perf_counter()
        result = function(*args)
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(graph: dict) -> dict:
    from aiida_sei import queries

    compiled, frame = graph['compiled'], graph['frame']
    cases = {
        'model_frame_uuids': (queries.model_frame_uuids, compiled),
        'model_frame_table': (queries.model_frame_table, compiled),
        'model_labelling_processes': (queries.model_labelling_processes, compiled),
        'models_trained_on': (queries.models_trained_on, frame),
        'composition_over_time': (queries.composition_over_time, graph['trajectory']),
        'ancestor_process_pks': (queries.ancestor_process_pks, compiled),
        'ancestor_processes': (queries.ancestor_processes, compiled),
        # last: 10^4 loaded nodes stay in the session and slow the queries after them (2-4x)
        'model_frames': (queries.model_frames, compiled),
    }
    report = {}
    for name, (function, node) in cases.items():
        seconds, result = timed(function, node)
        report[name] = {'seconds': round(seconds, 4), 'results': len(result)}
    return report


GRAPH_KEYS = ('compiled', 'frame', 'trajectory', 'series')


def run(frames: int, keep: pathlib.Path | None = None) -> dict:
    """Build and measure in a throwaway profile; with ``keep``, the profile stays in that
    directory (AIIDA_PATH) with graph.json, for `--measure DIR` after a change to the queries."""
    os.environ['AIIDA_PATH'] = str(keep) if keep else tempfile.mkdtemp(prefix='sei-bench-queries-')
    from aiida_sei.profile import ensure_profile

    ensure_profile(f'bench-queries-{frames}', echo=lambda _: None)
    with tempfile.TemporaryDirectory() as directory:
        graph = build_graph(frames, pathlib.Path(directory))
    from aiida import orm

    report = {'frames': frames, 'nodes': orm.QueryBuilder().append(orm.Node).count(), 'build': graph['build'], 'queries_s': measure(graph)}
    if keep:
        (keep / 'graph.json').write_text(json.dumps({**{key: graph[key].pk for key in GRAPH_KEYS}, 'report': report}))
    else:
        shutil.rmtree(os.environ['AIIDA_PATH'], ignore_errors=True)  # the throwaway profile
    return report


def measure_kept(keep: pathlib.Path) -> dict:
    """Measure again on a profile kept by `--one N --keep DIR`."""
    os.environ['AIIDA_PATH'] = str(keep)
    from aiida import load_profile, orm

    stored = json.loads((keep / 'graph.json').read_text())
    load_profile(f'bench-queries-{stored["report"]["frames"]}')
    graph = {key: orm.load_node(stored[key]) for key in GRAPH_KEYS}
    return {**stored['report'], 'queries_s': measure(graph)}


def main():
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    if sys.argv[1:2] == ['--one']:  # one size in this process (its own throwaway profile)
        keep = pathlib.Path(sys.argv[4]).resolve() if sys.argv[3:4] == ['--keep'] else None
        print(json.dumps(run(int(sys.argv[2]), keep)))
        return
    if sys.argv[1:2] == ['--measure']:
        print(json.dumps(measure_kept(pathlib.Path(sys.argv[2]).resolve())))
        return
    import subprocess

    reports = []
    for size in [int(n) for n in sys.argv[1:]] or [1000, 10000]:
        output = subprocess.run([sys.executable, __file__, '--one', str(size)], check=True, capture_output=True, text=True).stdout
        reports.append(json.loads(output.strip().splitlines()[-1]))
    report = {'machine': {'cpus': os.cpu_count(), 'storage': 'core.sqlite_dos'}, 'runs': reports}
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + '\n')
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
