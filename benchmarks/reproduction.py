"""Benchmark: the paper's central result at reduced scale (issue 20, docs/reproduction.md).

Runs `aiida-sei reproduce` (sei.interface, `reduced` protocol: CHGNet stand-in labels, checked
against GPAW on clusters of the production) in a profile of its own, or reads a finished run
(``--pk`` in the profile of ``AIIDA_PATH``), and writes benchmarks/results/reproduction.json: the
wall time of each stage, the dataset, the model's errors (validation, test set, against GPAW),
the time series at 300 K and at the elevated temperature (intact PS4, SEI thickness per side,
phase fractions, SEI composition), and whether the run's archive, imported into a fresh profile,
reports the same summary.

Run: `.venv/bin/python benchmarks/reproduction.py` (about two hours on 2 cores);
`--pk PK` to read a finished run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import subprocess
import sys
import tempfile

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'
BIN = pathlib.Path(sys.executable).parent
#: The paper's SEI phase (Fig. 4): Li2S0.72P0.14Cl0.14, per anion.
PAPER_SEI = {'Li': 2.0, 'S': 0.72, 'P': 0.14, 'Cl': 0.14}
#: Stages of sei.interface by the processes that run them (children of the interface node).
STAGES = {
    'StructuresWorkChain': 'structures', 'ActiveLearningSweepWorkChain': 'active learning', 'split': 'training',
    'AllegroTrainingWorkChain': 'training', 'RefinementWorkChain': 'refinement', 'NequipCompileCalculation': 'compile',
    'validate_model': 'checks', 'LammpsBaseWorkChain': 'reference MD', 'trajectory_frames': 'classification',
    'cluster_environments': 'classification', 'label_clustering': 'classification', 'label_unknown_clusters': 'classification',
    'classify_trajectory': 'classification', 'interface_series': 'classification', 'classify_structure': 'classification',
    'last_frames': 'classification', 'li_msd_by_phase': 'classification', 'cut_clusters': 'DFT check', 'dft_check_errors': 'DFT check',
}


def run(command: list[str], env: dict, cwd: pathlib.Path) -> str:
    result = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True)
    if result.returncode:
        raise SystemExit(f'{" ".join(map(str, command))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}')
    return result.stdout


def original(process):
    """The process that actually ran: a process taken from AiiDA's cache took no time; its source did."""
    from aiida import orm

    while process.base.caching.is_created_from_cache:
        process = orm.load_node(process.base.caching.get_cache_source())
    return process


def leaves(process) -> list:
    """The processes under ``process`` that compute (call nothing)."""
    return [p for p in getattr(process, 'called_descendants', []) if not p.called] or [process]


def stage_times(node) -> dict[str, dict[str, float]]:
    """Per stage: ``span_this_run``, from its first process's creation to its last's end in this
    run (a stage replayed from AiiDA's cache takes seconds), and ``compute_summed``, the wall time
    of its computing processes added up, counted on the cache source of each replayed one (what
    the stage costs uncached on one core at a time; processes that ran side by side add up)."""
    spans: dict[str, list[float]] = {}
    summed: dict[str, float] = {}
    named = {node.outputs.trajectory.creator.caller.pk: 'production 300 K'}
    if 'elevated' in node.outputs:
        named[node.outputs.elevated.trajectory.creator.caller.pk] = 'production elevated'
    for child in node.called:
        stage = named.get(child.pk, STAGES.get(child.process_label))
        if child.process_label == 'LabelWorkChain':
            stage = 'DFT check' if child.outputs.frame.base.attributes.get('origin') == 'dft_check' else 'test set'
        if stage is None:
            continue
        span = spans.setdefault(stage, [np.inf, -np.inf])
        span[0], span[1] = min(span[0], child.ctime.timestamp()), max(span[1], child.mtime.timestamp())
        summed[stage] = summed.get(stage, 0.0) + sum(o.mtime.timestamp() - o.ctime.timestamp() for o in map(original, leaves(child)))
    return {
        'span_this_run': {**{stage: round(end - start, 1) for stage, (start, end) in spans.items()},
                          'total': round(node.mtime.timestamp() - node.ctime.timestamp(), 1)},
        'compute_summed': {stage: round(value, 1) for stage, value in summed.items()},
    }


def cached_share(node) -> dict[str, float]:
    """Per stage child, the share of its processes taken from AiiDA's cache (a rerun with caching
    on replays what did not change: its wall time is not the stage's cost)."""
    shares = {}
    for child in node.called:
        descendants = getattr(child, 'called_descendants', [])
        if descendants:
            cached = sum(bool(d.base.caching.is_created_from_cache) for d in descendants)
            shares[f'{child.process_label}<{child.pk}>'] = round(cached / len(descendants), 3)
    return {name: share for name, share in shares.items() if share > 0}


def series(time_series, composition) -> dict:
    """Fig. 2d and Fig. 4c numbers of one production, frame by frame."""
    from aiida_sei.calculations.functions.classification import composition_from_series

    numbers = {name: [None if np.isnan(v) else round(float(v), 4) for v in time_series.get_array(name)] for name in time_series.get_arraynames()}
    fractions = {label: [round(float(c + n), 4) for c, n in zip(parts['core'], parts['non_core'])]
                 for label, parts in composition_from_series(composition).items()}
    return {'time_ps': numbers.pop('time'), **numbers, 'phase_fractions': fractions}


#: Li-S contact distance (Å): the first minimum of the Li-S RDF of Li2S and Li6PS5Cl lies near 3.0 Å.
LI_S_CONTACT = 3.0


def li_s_contacts(trajectory) -> dict:
    """How much Li touches S, first and last frame: Li-S pairs within :data:`LI_S_CONTACT` and Li
    atoms with at least one S there (Li metal turning into Li2S-like SEI raises both)."""
    from aiida_sei.science.geometry import close_pairs

    counts = {}
    for which, step in (('first', 0), ('last', trajectory.numsteps - 1)):
        atoms = trajectory.get_step_structure(step).get_ase()
        symbols = np.array(atoms.get_chemical_symbols())
        first, second, _ = close_pairs(atoms, LI_S_CONTACT)
        li_s = ((symbols[first] == 'Li') & (symbols[second] == 'S')) | ((symbols[first] == 'S') & (symbols[second] == 'Li'))
        bonded = set(np.where(symbols[first] == 'Li', first, second)[li_s].tolist())
        counts[which] = {'li_s_pairs': int(li_s.sum()), 'li_touching_s': len(bonded), 'li': int((symbols == 'Li').sum())}
    return counts


def collect(node) -> dict:
    outputs, summary = node.outputs, node.outputs.summary.get_dict()
    trajectory = outputs.trajectory
    result = {
        'interface_pk': node.pk, 'interface_uuid': node.uuid,
        'wall_time_s': stage_times(node),
        'from_cache': cached_share(node),
        'dataset': {'frames': summary['frames'], 'dft_frames': summary['dft_frames'], 'per_system': summary['frames_per_system']},
        'model_errors': {'validation': outputs.validation_errors.get_dict()['all'],
                         'test_set': outputs.test_errors.get_dict()['all'] if 'test_errors' in outputs else None,
                         'production_check': summary['production_check']},
        'dft_check': outputs.dft_check.get_dict() if 'dft_check' in outputs else None,
        'production': {'atoms': summary['atoms'], 'md_time_ps': summary['md_time_ps'], 'md_steps': summary['md_steps'],
                       'temperature_K': trajectory.creator.inputs.parameters['temperature'],
                       'first_frame_fractions': summary['first_frame_fractions'], 'last_frame_fractions': summary['phase_fractions'],
                       'sei_composition_last_frame': summary['sei_composition'],
                       'series': series(outputs.time_series, outputs.composition), 'li_s_contacts': li_s_contacts(trajectory)},
        'paper_sei_composition': PAPER_SEI,
    }
    if 'elevated' in outputs:
        hot = summary['elevated']
        result['elevated'] = {'temperature_K': hot['temperature'], 'md_time_ps': hot['md_time_ps'], 'last_frame_fractions': hot['phase_fractions'],
                              'sei_composition_last_frame': hot['sei_composition'],
                              'series': series(outputs.elevated.time_series, outputs.elevated.composition),
                              'li_s_contacts': li_s_contacts(outputs.elevated.trajectory)}
    return result


def archive_round_trip(archive: pathlib.Path, uuid: str, original: dict) -> dict:
    """Import the archive into a fresh profile and run `aiida-sei report` there: the same summary?"""
    with tempfile.TemporaryDirectory() as folder:
        folder = pathlib.Path(folder)
        env = {**os.environ, 'AIIDA_PATH': str(folder)}
        run([str(BIN / 'aiida-sei'), 'setup'], env, folder)
        run([str(BIN / 'verdi'), '-p', 'sei', 'archive', 'import', str(archive)], env, folder)
        pk = run([str(BIN / 'verdi'), '-p', 'sei', 'node', 'show', uuid], env, folder).split('pk')[1].split()[0].strip('│| ')
        run([str(BIN / 'aiida-sei'), 'report', pk, '-o', str(folder / 'report')], env, folder)
        reported = json.loads((folder / 'report' / 'summary.json').read_text())
        figures = sorted(path.name for path in (folder / 'report').glob('*.png'))
    return {'same_summary': reported == original, 'figures': figures}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--pk', type=int, help='a finished sei.interface run (reduced protocol) in the profile of AIIDA_PATH')
    parser.add_argument('--output', type=pathlib.Path, default=pathlib.Path(tempfile.gettempdir()) / 'aiida-sei-reproduction')
    arguments = parser.parse_args()
    output = arguments.output
    if arguments.pk is None:  # a profile of its own: nothing else in it, so the archive is this run
        os.environ.setdefault('AIIDA_PATH', str(output / 'aiida'))
        env = {**os.environ, 'OMP_NUM_THREADS': '1', 'OPENBLAS_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
        output.mkdir(parents=True, exist_ok=True)
        log = run([str(BIN / 'aiida-sei'), 'reproduce', '--output', str(output / 'run')], env, output)
        (output / 'reproduce.log').write_text(log)
        arguments.pk = int(log.split('sei.interface<')[1].split('>')[0])
    from aiida import load_profile, orm

    load_profile('sei')
    node = orm.load_node(arguments.pk)
    result = collect(node)
    archive = output / 'run' / 'reproduction.aiida'
    if archive.exists():
        result['archive'] = archive_round_trip(archive, node.uuid, json.loads((output / 'run' / 'summary.json').read_text()))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / 'reproduction.json').write_text(json.dumps(result, indent=1))
    print(json.dumps({key: result[key] for key in ('wall_time_s', 'dataset', 'model_errors')}, indent=1))


if __name__ == '__main__':
    main()
