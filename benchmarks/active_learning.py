"""Benchmark: what active learning buys, and what AiiDA costs around it.

1. Runs ``sei.active_learning`` (the real work chain, embedded profile, fast SGP settings) with
   one of two labellers (``--labels``):
   - ``gpaw`` (default): DFT labels (GPAW `fast` protocol, PBE) of the 16-atom BCC Li cell at
     600 K; ~20 s a label on one core, so the DFT share of the wall time is real;
   - ``chgnet``: the 52-atom Li6PS5Cl cell at 600 K with CHGNet (a many-body potential, ~0.1 s a
     frame): the count of labels on the electrolyte, not the DFT time.
2. Takes the MD that run produced (every stored frame of every segment), holds out 25 frames,
   labels them, and measures the final SGP's force error on them.
3. Uniform sampling of the same MD: every N-th frame labelled (all atoms as sparse points,
   hyperparameters trained once on them), for growing numbers of labels, until the SGP reaches
   the loop's held-out force error.
4. AiiDA overhead: the loop's wall time minus the MD and labelling time measured inside the
   jobs, as a share of the wall time.

Run: `.venv/bin/python benchmarks/active_learning.py [--labels gpaw|gpaw-tight|chgnet] [--loop PK]` (PK: a finished loop in the
benchmark profile to analyse again instead of running one); results in
benchmarks/results/active_learning[_chgnet].json.

`--components N`: the lean-iteration measurement instead: the CHGNet loop stopped after N labels,
each iteration's wall time split by component (runner start-up, MD, label, AiiDA around each job,
SGP update, dataset, work-chain steps), in benchmarks/results/active_learning_iteration.json.
"""

from __future__ import annotations

import json
import os
import pathlib
import time

import numpy as np

RESULTS = pathlib.Path(__file__).parent / 'results'
GPAW_LI = {
    'system': 'BCC Li, 16 atoms, 600 K NVT, GPAW PBE labels (fast protocol)',
    'structure': ('bcc-li', {'supercell': [2, 2, 2]}),
    'results': 'active_learning.json',
    'overrides': {
        'sgp': {'cutoff': 5.0, 'n_max': 6, 'l_max': 2},
        'system_thresholds': {'Li': {'dft': 0.05, 'add_atom': 0.01}},
        'md': {'temperature_K': 600, 'pressure_GPa': None, 'total_steps': 500, 'segment_steps': 500, 'thin': 2, 'seed': 1},
        'max_dft_calls': 40,
        'train_until': 40,
        'label': {'backend': 'gpaw', 'protocol': 'fast'},
    },
    'n_test': 12,
    'uniform_counts': (3, 6, 12, 24, 48),
}
SETUPS = {
    'gpaw': GPAW_LI,
    # The same with 5x tighter thresholds: more labels, lower error, the curve to compare with.
    'gpaw-tight': {
        **GPAW_LI,
        'system': GPAW_LI['system'] + ', thresholds 0.01 / 0.002',
        'results': 'active_learning_tight.json',
        'overrides': {**GPAW_LI['overrides'], 'system_thresholds': {'Li': {'dft': 0.01, 'add_atom': 0.002}}},
        'uniform_counts': (2, 4, 8, 16, 32),
    },
    'chgnet': {
        'system': 'Li6PS5Cl, 52 atoms, 600 K NVT, CHGNet labels',
        'structure': ('argyrodite', None),
        'results': 'active_learning_chgnet.json',
        'overrides': {
            'sgp': {'cutoff': 5.0, 'n_max': 6, 'l_max': 2},
            'thresholds': {'dft': 0.08, 'add_atom': 0.02},
            'md': {'temperature_K': 600, 'pressure_GPa': None, 'total_steps': 250, 'segment_steps': 250, 'thin': 2, 'seed': 1},
            'max_dft_calls': 30,
            'train_until': 40,
            'label': {'backend': 'ase', 'protocol': 'universal'},
        },
        'n_test': 25,
        'uniform_counts': (5, 10, 20, 40, 80),
    },
}


def chgnet_labels(images):
    from aiida_sei.calculators import chgnet

    calculator = chgnet(model='0.3.0')
    labelled = []
    for atoms in images:
        atoms = atoms.copy()
        atoms.calc = calculator
        labelled.append(_detached(atoms, atoms.get_potential_energy()))
    return labelled


def _detached(atoms, energy) -> tuple:
    """(atoms, energy, forces, stress) with the calculator let go: the label is in the tuple, and
    the Atoms then pickle and do not hold a DFT calculation's wavefunctions."""
    label = (energy, atoms.get_forces(), atoms.get_stress(voigt=False))
    atoms.calc = None
    return (atoms, *label)


def gpaw_labels(images):
    """The loop's own DFT settings (GPAW `fast` protocol, the runner's calculator), out of AiiDA."""
    from aiida_sei.protocols import load_protocol_file, recursive_merge
    from aiida_sei.runners.gpaw_singlepoint import make_calculator
    from aiida_sei.science.kpoints import kpoint_mesh

    protocols = load_protocol_file('gpaw')
    inputs = recursive_merge(protocols['default_inputs'], protocols['protocols']['fast'])
    labelled = []
    for atoms in images:
        atoms = atoms.copy()
        mesh = kpoint_mesh(atoms.cell, inputs['kpoints_distance'], len(atoms), inputs['gamma_only_above_atoms'])
        atoms.calc = make_calculator(inputs['gpaw']['parameters'], mesh, txt=None)
        labelled.append(_detached(atoms, atoms.get_potential_energy(force_consistent=True)))  # as the runner stores it
        print(f'gpaw label {len(labelled)}/{len(images)}', flush=True)
    return labelled


LABELLERS = {'gpaw': gpaw_labels, 'chgnet': chgnet_labels}


def force_rmse(model, test) -> float:
    from aiida_sei.science import sgp

    errors = [sgp.predict(model, atoms)[1] - forces for atoms, _, forces, _ in test]
    return float(np.sqrt(np.mean(np.square(errors))))


def run_loop(setup: dict):
    from aiida import orm

    from aiida_sei.calculations.functions.structures import build_structure_node
    from aiida_sei.profile import run_locally
    from aiida_sei.workchains.active_learning import ActiveLearningWorkChain

    md_code = orm.load_code('python@localhost')
    label_code = orm.load_code('gpaw@localhost' if setup['overrides']['label']['backend'] == 'gpaw' else 'python@localhost')
    structure = build_structure_node(*setup['structure'])['structure']
    builder = ActiveLearningWorkChain.get_builder_from_protocol({'md': md_code, 'label': label_code}, 'fast', setup['overrides'], structure=structure)
    start = time.perf_counter()
    results, node = run_locally(builder)
    assert node.is_finished_ok, node.exit_message
    return results, node, time.perf_counter() - start


def md_frames(node):
    """Every stored frame of the loop's MD, in time order."""
    from aiida_sei.calculations.flare_md import FlareMdCalculation

    frames = []
    for segment in sorted((c for c in node.called if c.process_class is FlareMdCalculation), key=lambda c: c.ctime):
        if 'trajectory' in segment.outputs:
            trajectory = segment.outputs.trajectory
            frames += [trajectory.get_step_structure(i).get_ase() for i in range(trajectory.numsteps)]
    return frames


def inner_seconds(node) -> dict:
    """MD and labelling time measured inside the jobs (their runners' own clocks)."""
    from aiida_sei.calculations.flare_md import FlareMdCalculation

    jobs = node.called_descendants
    md = sum(c.outputs.misc['wall_time'] for c in jobs if c.process_class is FlareMdCalculation)
    labels = [c.outputs.misc['wall_time'] for c in jobs if c.process_label in ('AseCalculation', 'GpawCalculation') and 'misc' in c.outputs]
    return {'md_s': md, 'labels_s': float(sum(labels)), 'n_label_jobs': len(labels)}


def iteration_components(loops) -> dict:
    """Where each iteration's wall time goes, median over the iterations that labelled (seconds),
    over the ``loops`` (sei.active_learning nodes): the MD job's span split into its runner's
    start-up (imports, SGP load), the MD and the rest (AiiDA: upload, submit, poll, retrieve,
    parse, store); the label's (a job's start-up and AiiDA as for the MD, or, in-process, the
    calculator's time and the rest of sei.label); the calcfunctions (SGP update, dataset); the
    remainder of the iteration (work-chain steps)."""
    from aiida_sei.calculations.flare_md import FlareMdCalculation

    rows = []
    for node in loops:
        called = sorted(node.called, key=lambda c: c.ctime)
        segments = [c for c in called if c.process_class is FlareMdCalculation]
        for md, after in zip(segments, segments[1:]):
            between = [c for c in called if md.ctime <= c.ctime < after.ctime]
            labels = [c for c in between if c.process_label == 'LabelWorkChain']
            if labels and md.is_finished_ok:
                rows.append(_iteration_row(md, labels[0], between, after))
    median = {key: float(np.median([row[key] for row in rows])) for key in rows[0]} if rows else {}
    if median:
        median['outside_md_and_labels_s'] = median['iteration_s'] - median['md_work_s'] - median['label_work_s']
    return {'iterations': len(rows), 'median_s': median}


def _span(node) -> float:
    return (node.mtime - node.ctime).total_seconds()


def _iteration_row(md, label, between, after) -> dict:
    (work,) = [c for c in label.called_descendants if c.process_label in ('AseCalculation', 'GpawCalculation', 'stand_in_single_point')]
    label_startup = work.outputs.misc['startup_s'] if work.process_label != 'stand_in_single_point' else 0.0
    spans = {c.process_label: _span(c) for c in between if c.process_label in ('update_sgp', 'extend_dataset')}
    misc = md.outputs.misc
    row = {
        'md_startup_s': misc['startup_s'], 'md_work_s': misc['wall_time'], 'md_aiida_s': _span(md) - misc['startup_s'] - misc['wall_time'],
        'label_startup_s': label_startup, 'label_work_s': work.outputs.misc['wall_time'],
        'label_aiida_s': _span(label) - label_startup - work.outputs.misc['wall_time'],
        'update_sgp_s': spans.get('update_sgp', 0.0), 'extend_dataset_s': spans.get('extend_dataset', 0.0),
        'iteration_s': (after.ctime - md.ctime).total_seconds(),
    }
    row['work_chain_s'] = row['iteration_s'] - _span(md) - _span(label) - row['update_sgp_s'] - row['extend_dataset_s']
    return row


def sgp_costs(sgp_node) -> dict:
    """Seconds to load the final SGP from its JSON, retrain its hyperparameters, write it back:
    what every update_sgp (load, add, train, store) and every MD job (load) pays."""
    from aiida_sei.science import sgp

    start = time.perf_counter()
    model = sgp_node.load()
    loaded = time.perf_counter()
    sgp.train(model)
    trained = time.perf_counter()
    sgp.to_json(model)
    return {'load_s': loaded - start, 'train_s': trained - loaded, 'dump_s': time.perf_counter() - trained,
            'n_training_structures': model.n_training_structures}


def uniform_curve(frames, test, target: float, settings: dict, setup: dict, label) -> list[dict]:
    from aiida_sei.science import sgp

    curve, cache = [], {}  # labels by frame index: the sets of growing N share frames
    species = sorted(set(frames[0].get_chemical_symbols()))
    for count in setup['uniform_counts']:
        if count > len(frames):
            break
        chosen = np.linspace(0, len(frames) - 1, count).round().astype(int)
        missing = [i for i in chosen if i not in cache]
        cache.update(zip(missing, label([frames[i] for i in missing])))
        model = sgp.make_sgp(species, settings)
        for atoms, energy, forces, stress in (cache[i] for i in chosen):
            sgp.add_frame(model, atoms, energy, forces, stress, range(len(atoms)))
        sgp.train(model)  # all frames known at once: one hyperparameter optimisation
        curve.append({'labels': count, 'force_rmse': force_rmse(model, test)})
        print(curve[-1], flush=True)
        if curve[-1]['force_rmse'] <= target:
            break
    return curve


def stored_loop(pk: int):
    from aiida import orm

    node = orm.load_node(pk)
    assert node.is_finished_ok, node.exit_message
    return {key: node.outputs[key] for key in ('sgp', 'dataset', 'state')}, node, (node.mtime - node.ctime).total_seconds()


#: The same measurement (this mode, 20 labels, same machine idle) at commit 8b78eaf: before the
#: 0.1-s local polling and the SGP kept in memory between updates.
BEFORE = {'commit': '8b78eaf',
          'loop_s': 449.3,
          'labels': 19,
          'iterations': 18,
          'median_s': {'md_startup_s': 2.12,
                       'md_work_s': 3.57,
                       'md_aiida_s': 2.05,
                       'label_startup_s': 2.86,
                       'label_work_s': 0.25,
                       'label_aiida_s': 4.5,
                       'update_sgp_s': 6.09,
                       'extend_dataset_s': 0.16,
                       'iteration_s': 23.64,
                       'work_chain_s': 1.1,
                       'outside_md_and_labels_s': 19.82},
          'final_sgp': {'load_s': 5.48, 'train_s': 11.6, 'dump_s': 0.01, 'n_training_structures': 19}}


#: The same measurement on the same idle machine before the in-process labels (each label a
#: `sei.ase` job) and the hyperparameter tolerance.
LABEL_JOBS = {'commit': 'fc9737e',
              'loop_s': 370.0,
              'labels': 19,
              'iterations': 18,
              'median_s': {'md_startup_s': 2.24,
                           'md_work_s': 3.39,
                           'md_aiida_s': 1.37,
                           'label_startup_s': 2.97,
                           'label_work_s': 0.28,
                           'label_aiida_s': 2.8,
                           'update_sgp_s': 4.18,
                           'extend_dataset_s': 0.13,
                           'iteration_s': 18.19,
                           'work_chain_s': 0.29,
                           'outside_md_and_labels_s': 14.52},
              'final_sgp': {'load_s': 4.57, 'train_s': 11.15, 'dump_s': 0.01, 'n_training_structures': 19}}


def components(labels: int):
    """The lean-iteration measurement: the CHGNet loop on Li6PS5Cl stopped after ``labels``
    labels, labels computed in-process, hyperparameters retrained at every label (the paper's) and
    until they settle (2 %); each iteration's wall time by component, and the cost of the final
    SGP's load, training and dump; results in active_learning_iteration.json."""
    report = {'machine': {'cpus': os.cpu_count(), 'threads': os.environ['OMP_NUM_THREADS']},
              'system': SETUPS['chgnet']['system'] + f', stopped after {labels} labels, in-process labels'}
    for name, tolerance in (('retrain_every_label', 0.0), ('retrain_until_settled', 0.02)):
        setup = {**SETUPS['chgnet'], 'overrides': {**SETUPS['chgnet']['overrides'], 'max_dft_calls': labels, 'hyperparameter_tolerance': tolerance,
                                                    'label': {'backend': 'ase_inline', 'protocol': 'universal'}}}
        results, node, wall = run_loop(setup)
        report[name] = {'hyperparameter_tolerance': tolerance, 'loop_pk': node.pk, 'loop_s': wall, 'labels': len(results['dataset']),
                        'iteration': iteration_components([node]), 'final_sgp': sgp_costs(results['sgp'])}
    report.update(label_jobs=LABEL_JOBS, before=BEFORE)
    (RESULTS / 'active_learning_iteration.json').write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def main():
    import sys

    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from aiida_sei.profile import ensure_profile

    arguments = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    if '--components' in arguments:
        ensure_profile('bench-active-learning', echo=lambda _: None)
        return components(int(arguments['--components']))
    setup_name = arguments.get('--labels', 'gpaw')
    setup = SETUPS[setup_name]
    labels = setup_name.split('-')[0]
    ensure_profile('bench-active-learning', echo=lambda _: None)
    results, node, wall = stored_loop(int(arguments['--loop'])) if '--loop' in arguments else run_loop(setup)
    print(f'loop {node.pk}: {len(results["dataset"])} labels, {wall:.0f} s', flush=True)
    frames = md_frames(node)
    rng = np.random.default_rng(0)
    held_out = sorted(rng.choice(len(frames), size=setup['n_test'], replace=False))
    test = LABELLERS[labels]([frames[i] for i in held_out])
    pool = [f for i, f in enumerate(frames) if i not in set(held_out)]
    loop_error = force_rmse(results['sgp'].load(), test)
    settings = {k: v for k, v in node.inputs.sgp_settings.get_dict().items()}
    curve = uniform_curve(pool, test, loop_error, settings, setup, LABELLERS[labels])
    reached = next((point['labels'] for point in curve if point['force_rmse'] <= loop_error), None)
    inner = inner_seconds(node)
    report = {
        'machine': {'cpus': os.cpu_count(), 'threads': os.environ['OMP_NUM_THREADS']},
        'system': setup['system'],
        'loop_pk': node.pk,
        'settings': setup['overrides'],
        'md_frames_stored': len(frames),
        'active_learning': {'labels': len(results['dataset']), 'force_rmse_eV_per_A': loop_error, 'md_steps': results['state'].step},
        'uniform_sampling': curve,
        'uniform_labels_to_match': reached,
        'wall_time': {'loop_s': wall, **inner, 'outside_md_and_labels_share': 1 - (inner['md_s'] + inner['labels_s']) / wall},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / setup['results']).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


if __name__ == '__main__':
    main()
