"""Benchmark: does the active-learning loop need fewer labels than uniform or random sampling
over the paper's condition grid? (issue 18)

1. ``sei.active_learning.sweep`` runs the real loop (embedded profile) on the 52-atom Li6PS5Cl cell
   and a 100-atom Li|Li6PS5Cl interface cell over a reduced grid of the paper's conditions
   (300, 500, 800 K NPT at 0 GPa; 5 GPa at 300 K; 5 % expansion NVT at 300 K), twice: with the
   curriculum (a system's conditions one after another, each continuing the previous SGP) and
   without (every condition from scratch, as the paper ran them). Labels come from CHGNet computed
   in-process (``sei.ase.inline``): a stand-in for DFT, so that labels can be counted in the
   hundreds on 2 cores; they count labels, not DFT time.
2. The curriculum run's MD (every stored frame of every segment) is the pool. Four frames per
   system and condition are held out and labelled: the test set.
3. Frames chosen by each strategy (the loop's dataset; uniform: N frames evenly spaced over a
   system's MD, all conditions in the curriculum's order; random: N frames at random) are fitted
   by the same learner, the loop's own rule (the first frame's atoms all become sparse points,
   then the atoms of each frame above the ``add_atom`` uncertainty, at least the most uncertain
   one; hyperparameters trained at 2, 4, 8, ... frames and at the end), so that only the choice of
   frames differs. The loop's own SGP (trained on line) is reported beside it.
4. Labels at equal held-out force RMSE: the uniform (random) count that reaches the loop's error,
   interpolated log-log between the counts measured, per system; summed over systems for the
   overall factor ``uniform_over_loop``.
5. Allegro (`fast` architecture, the same number of epochs for each set) trained on the loop's
   frames and on uniform and random sets of growing size, errors on the same test set.
6. Each loop iteration's wall time by component (MD job start-up, MD, AiiDA around the job, the
   in-process label, SGP update, dataset, work-chain steps), medians over the curriculum run.

Run: `.venv/bin/python benchmarks/active_learning_sweep.py` (about 2 h of sweeps, then 1.5 h of
comparisons, on 2 cores); `--resume` reuses the sweeps and each system's finished comparison of
the last run (cached under /tmp). Results: benchmarks/results/active_learning_sweep.json, written
after each system, so a cut run keeps what it measured.
"""

from __future__ import annotations

import json
import os
import pathlib
import pickle
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).parent))
from active_learning import chgnet_labels as chgnet_label  # noqa: E402
from active_learning import iteration_components, md_frames  # noqa: E402

RESULTS = pathlib.Path(__file__).parent / 'results'
CACHE = pathlib.Path(tempfile.gettempdir()) / 'aiida-sei-al-sweep'
STRUCTURES = {'lpscl': ('argyrodite', None), 'interface': ('interface', {'argyrodite_repeats': [1, 1, 1], 'li_layers': 4})}
STEPS = {'lpscl': 600, 'interface': 300}
SGP = {'cutoff': 5.0, 'n_max': 6, 'l_max': 2}
THRESHOLDS = {'dft': 0.15, 'add_atom': 0.03}  # the paper's for Li6PS5Cl and the interface
SWEEP = {'temperatures_K': [300, 500, 800], 'pressures_GPa': [5], 'expansions': [0.05]}
N_TEST = 4  # held-out frames per system and condition
ALLEGRO_EPOCHS = 100


def overrides(curriculum: bool, steps: int) -> dict:
    return {
        'sgp': SGP, 'thresholds': THRESHOLDS, 'train_until': 20, 'hyperparameter_tolerance': 0.02, 'max_dft_calls': 40,
        'md': {'temperature_K': 300, 'total_steps': steps, 'segment_steps': 400, 'thin': 5, 'seed': 1},
        'label': {'backend': 'ase_inline', 'protocol': 'universal'},
        'sweep': {**SWEEP, 'curriculum': curriculum},
    }


def run_sweeps() -> dict:
    """One sweep per system (their MD lengths differ) and mode, all four at once in this
    process's runner (the MD jobs run side by side); mode -> system -> sweep pk."""
    import asyncio

    from aiida import orm

    from aiida_sei.calculations.functions.structures import build_structure_node
    from aiida_sei.profile import local_runner
    from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain

    python = orm.load_code('python@localhost')
    runner, nodes = local_runner(), {}
    for mode, curriculum in (('curriculum', True), ('independent', False)):
        for system, (kind, parameters) in STRUCTURES.items():
            structure = build_structure_node(kind, parameters)['structure']
            builder = ActiveLearningSweepWorkChain.get_builder_from_protocol(
                {'md': python, 'label': python}, 'fast', overrides(curriculum, STEPS[system]), structures={system: structure})
            nodes.setdefault(mode, {})[system] = runner.submit(builder)
    start = time.perf_counter()
    while not all(node.is_terminated for runs in nodes.values() for node in runs.values()):
        runner.loop.run_until_complete(asyncio.sleep(2))
    runner.close()
    for mode, runs in nodes.items():
        for system, node in runs.items():
            assert node.is_finished_ok, f'{mode} {system}: {node.exit_message}'
            print(f'{mode} {system}: sweep<{node.pk}> {len(node.outputs.dataset)} labels', flush=True)
    return {'wall_s': round(time.perf_counter() - start), **{mode: {s: n.pk for s, n in runs.items()} for mode, runs in nodes.items()}}


def loops_by_condition(sweep) -> dict:
    """Condition name -> the sei.active_learning run of that condition."""
    from aiida_sei.workchains.active_learning import ActiveLearningWorkChain

    names = {json.dumps(c, sort_keys=True): name for name, c in sweep.inputs.conditions.get_dict().items()}
    return {names[json.dumps(run.inputs.frame_metadata['condition'], sort_keys=True)]: run
            for run in sweep.called if run.process_class is ActiveLearningWorkChain}


def frame_tuple(node):
    frame = node.get_frame()
    atoms = frame.to_atoms()
    atoms.calc = None
    return atoms, frame.energy, frame.forces, frame.stress


def fit(labelled, settings) -> object:
    """The loop's learner on ``labelled`` frames in order (see the module docstring)."""
    from aiida_sei.science import sgp

    model = sgp.make_sgp(sorted(set(labelled[0][0].get_chemical_symbols())), settings)
    for n, (atoms, energy, forces, stress) in enumerate(labelled, 1):
        if n == 1:
            chosen = range(len(atoms))
        else:
            chosen = sgp.atoms_to_add(sgp.uncertainties(model, atoms), THRESHOLDS['add_atom'])
        sgp.add_frame(model, atoms, energy, forces, stress, chosen)
        if n >= 2 and (n & (n - 1) == 0 or n == len(labelled)):
            sgp.train(model)
    return model


def errors(model, test) -> dict:
    from aiida_sei.science import sgp

    squares = [np.square(sgp.predict(model, atoms)[1] - forces).mean() for atoms, _, forces, _ in test]
    return {'force_rmse': float(np.sqrt(np.mean(squares)))}


def interpolate(curve: list[dict], target: float) -> float | None:
    """Labels at which the curve reaches ``target`` (log-log between the bracketing points)."""
    for low, high in zip(curve, curve[1:]):
        if low['force_rmse'] > target >= high['force_rmse']:
            x = np.interp(np.log(target), np.log([high['force_rmse'], low['force_rmse']]), np.log([high['labels'], low['labels']]))
            return float(np.exp(x))
    if curve and curve[0]['force_rmse'] <= target:
        return float(curve[0]['labels'])  # an upper bound: the smallest set measured already reaches it
    return None


def sampling_curve(pool, test, settings, how: str, counts, target: float, rng) -> list[dict]:
    """SGP errors of N frames of ``pool`` chosen evenly (``uniform``) or at random, for growing N
    until one count beyond the target is reached."""
    curve = []
    for count in counts:
        if count > len(pool):
            break
        if how == 'uniform':
            chosen = np.linspace(0, len(pool) - 1, count).round().astype(int)
        else:
            chosen = rng.choice(len(pool), size=count, replace=False)
        labelled = chgnet_label([pool[i] for i in chosen])
        curve.append({'labels': int(count), **errors(fit(labelled, settings), test), 'frames': [int(i) for i in chosen]})
        print(how, count, curve[-1]['force_rmse'], flush=True)
        if curve[-1]['force_rmse'] <= target:
            break
    return curve


def allegro_errors(train, test, name: str) -> dict:
    """Train the `fast` Allegro architecture on ``train`` for ALLEGRO_EPOCHS epochs and return its
    last-epoch errors on ``test`` (the validation file; no checkpoint chosen by it)."""
    import ase.io
    import yaml
    from ase.calculators.singlepoint import SinglePointCalculator

    from aiida_sei.protocols import recursive_merge
    from aiida_sei.science.allegro import TRAIN_FILE, VALIDATION_FILE, fit_energy_shifts, training_config
    from aiida_sei.science.training_metrics import learning_curve
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    def images(labelled):
        out = []
        for atoms, energy, forces, stress in labelled:
            atoms = atoms.copy()
            atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces, stress=stress)
            out.append(atoms)
        return out

    species = ['Cl', 'Li', 'P', 'S']
    compositions = [{s: a.get_chemical_symbols().count(s) for s in species} for a, *_ in train]
    shifts = fit_energy_shifts(compositions, [e for _, e, _, _ in train], species)
    inputs = recursive_merge(AllegroTrainingWorkChain.get_protocol_inputs('fast'),
                             {'training': {'max_epochs': ALLEGRO_EPOCHS}, 'architecture': {'per_type_energy_shifts': shifts}})
    directory = CACHE / f'allegro-{name}'
    directory.mkdir(parents=True, exist_ok=True)
    ase.io.write(directory / TRAIN_FILE, images(train), format='extxyz')
    ase.io.write(directory / VALIDATION_FILE, images(test), format='extxyz')
    (directory / 'config.yaml').write_text(yaml.safe_dump(training_config(species, inputs), sort_keys=False))
    start = time.perf_counter()
    subprocess.run([str(pathlib.Path(sys.executable).parent / 'nequip-train'), '--config-dir', '.', '--config-name', 'config.yaml',
                    'hydra.run.dir=run'], cwd=directory, check=True, capture_output=True)
    curve = learning_curve((directory / 'run' / 'metrics' / 'version_0' / 'metrics.csv').read_text())
    result = {'labels': len(train), 'energy_mae_meV_per_atom': 1000 * curve['validation_energy_per_atom_mae'][-1],
              'force_rmse': curve['validation_forces_rmse'][-1], 'train_s': round(time.perf_counter() - start, 1)}
    print('allegro', name, result, flush=True)
    return result


COUNTS = (4, 8, 16, 32, 64, 128)


def system_comparison(system: str, curriculum: int, independent: int, rng) -> tuple[dict, list, list, list]:
    """Everything measured for one system (the pks of its two sweeps); also its test set, pool and
    the loop's frames (for Allegro)."""
    from aiida import orm

    sweep = orm.load_node(curriculum)
    loops = loops_by_condition(sweep)
    order = _curriculum(sweep)
    pools = {name: md_frames(loops[name]) for name in order}
    test, pool, test_conditions = [], [], []
    for name in order:
        held = set(rng.choice(len(pools[name]), size=N_TEST, replace=False).tolist())
        test += chgnet_label([f for i, f in enumerate(pools[name]) if i in held])
        test_conditions += [name] * N_TEST
        pool += [f for i, f in enumerate(pools[name]) if i not in held]
    settings = sweep.inputs.active_learning.sgp_settings.get_dict()

    online = loops[order[-1]].outputs.sgp.load()
    loop_frames = [frame_tuple(f) for f in sweep.outputs.dataset.iter_frames()]
    refit = fit(loop_frames, settings)
    loop_error = errors(refit, test)['force_rmse']
    independent_sweep = orm.load_node(independent)
    independent_frames = [frame_tuple(f) for f in independent_sweep.outputs.dataset.iter_frames()]
    per_condition = lambda model: {name: errors(model, [t for t, c in zip(test, test_conditions) if c == name])['force_rmse'] for name in order}  # noqa: E731

    uniform = sampling_curve(pool, test, settings, 'uniform', COUNTS, loop_error, rng)
    random = sampling_curve(pool, test, settings, 'random', COUNTS, loop_error, rng)
    result = {
        'atoms': len(test[0][0]), 'md_steps_per_condition': STEPS[system], 'conditions': order,
        'pool_frames': len(pool), 'test_frames': len(test),
        'loop': {'labels': len(loop_frames), 'labels_by_condition': _labels_by_condition(loops, order),
                 'force_rmse': loop_error, 'force_rmse_online_sgp': errors(online, test)['force_rmse'],
                 'force_rmse_by_condition': per_condition(refit)},
        'loop_without_curriculum': {'labels': len(independent_frames), 'labels_by_condition': _labels_by_condition(loops_by_condition(independent_sweep), order),
                                    'force_rmse': errors(fit(independent_frames, settings), test)['force_rmse']},
        'uniform': [{k: v for k, v in point.items() if k != 'frames'} for point in uniform],
        'random': [{k: v for k, v in point.items() if k != 'frames'} for point in random],
        'uniform_labels_at_loop_error': interpolate(uniform, loop_error),
        'random_labels_at_loop_error': interpolate(random, loop_error),
    }
    return result, test, pool, loop_frames


def _curriculum(sweep) -> list[str]:
    from aiida_sei.workchains.active_learning_sweep import curriculum_order

    return curriculum_order(sweep.inputs.conditions.get_dict())


def _labels_by_condition(loops, order) -> dict:
    """Labels each condition's run added (a continued run's dataset holds its predecessors')."""
    counts, before = {}, 0
    for name in order:
        run = loops[name]
        total = len(run.outputs.dataset)
        counts[name] = total - (before if 'dataset' in run.inputs else 0)
        before = total
    return counts


def allegro_comparison(systems: dict) -> dict:
    """One Allegro model per selection (all systems together, as the pipeline trains), errors on
    the pooled test set; uniform and random sets at the loop's size, twice and half of it."""
    test = [t for s in systems.values() for t in s['test']]
    loop = [t for s in systems.values() for t in s['loop_frames']]
    rows = {'loop': allegro_errors(loop, test, 'loop')}
    for factor in (0.5, 1, 2):
        for how in ('uniform', 'random'):
            chosen = []
            for s in systems.values():
                count = min(len(s['pool']), max(2, round(factor * len(s['loop_frames']))))
                pool = s['pool']
                index = (np.linspace(0, len(pool) - 1, count).round().astype(int) if how == 'uniform'
                         else np.random.default_rng(1).choice(len(pool), size=count, replace=False))
                chosen += chgnet_label([pool[i] for i in index])
            rows[f'{how}_x{factor:g}'] = allegro_errors(chosen, test, f'{how}-{factor:g}')
    curve = lambda how: sorted(({'labels': r['labels'], 'force_rmse': r['force_rmse']} for k, r in rows.items() if k.startswith(how)), key=lambda r: r['labels'])  # noqa: E731
    return {'epochs': ALLEGRO_EPOCHS, 'test_frames': len(test), 'models': rows,
            'uniform_labels_at_loop_error': interpolate(curve('uniform'), rows['loop']['force_rmse']),
            'random_labels_at_loop_error': interpolate(curve('random'), rows['loop']['force_rmse'])}


def smoke() -> None:
    """`--smoke`: the same code on a few steps and small sets (minutes), results not written."""
    global CACHE, COUNTS, ALLEGRO_EPOCHS, N_TEST
    STEPS.update(lpscl=80, interface=80)
    SWEEP.update(temperatures_K=[300, 800], pressures_GPa=[], expansions=[])
    CACHE, COUNTS, ALLEGRO_EPOCHS, N_TEST = CACHE.with_name(CACHE.name + '-smoke'), (2, 4), 2, 2


def main():
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from aiida import orm

    from aiida_sei.profile import ensure_profile

    if '--smoke' in sys.argv:
        smoke()
    ensure_profile('bench-active-learning' + ('-smoke' if '--smoke' in sys.argv else ''), echo=lambda _: None)
    CACHE.mkdir(exist_ok=True)
    cached = CACHE / 'sweeps.json'
    if '--resume' in sys.argv and cached.exists():
        sweeps = json.loads(cached.read_text())
    else:
        sweeps = run_sweeps()
        cached.write_text(json.dumps(sweeps))
    out = CACHE / 'active_learning_sweep.json' if '--smoke' in sys.argv else RESULTS / 'active_learning_sweep.json'
    rng = np.random.default_rng(0)
    systems, details = {}, {}
    for system in STRUCTURES:
        systems[system], details[system] = cached_comparison(system, sweeps, rng)
        report = summary(sweeps, systems)
        out.write_text(json.dumps(report, indent=2))  # a cut run keeps what it measured
    report['iteration'] = iteration_components([run for pk in sweeps['curriculum'].values()
                                                for run in loops_by_condition(orm.load_node(pk)).values()])
    out.write_text(json.dumps(report, indent=2))
    report['allegro'] = allegro_comparison(details)
    out.write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))


def cached_comparison(system: str, sweeps: dict, rng) -> tuple[dict, dict]:
    """`system_comparison`, or its result from the cache of a run with the same sweeps (`--resume`)."""
    path = CACHE / f'comparison-{system}.pickle'
    if '--resume' in sys.argv and path.exists():
        cached = pickle.loads(path.read_bytes())
        if cached['sweeps'] == sweeps:
            rng.bit_generator.state = cached['rng']
            return cached['result'], cached['details']
    result, *parts = system_comparison(system, sweeps['curriculum'][system], sweeps['independent'][system], rng)
    details = dict(zip(('test', 'pool', 'loop_frames'), parts))
    path.write_bytes(pickle.dumps({'sweeps': sweeps, 'rng': rng.bit_generator.state, 'result': result, 'details': details}))
    return result, details


def summary(sweeps: dict, systems: dict) -> dict:
    """The report over the systems compared so far; ``uniform_over_loop`` once all are in."""
    loop_labels = sum(s['loop']['labels'] for s in systems.values())
    ratio = lambda key: (sum(s[key] for s in systems.values()) / loop_labels  # noqa: E731
                         if len(systems) == len(STRUCTURES) and None not in [s[key] for s in systems.values()] else None)
    return {
        'machine': {'cpus': os.cpu_count(), 'threads': os.environ['OMP_NUM_THREADS']},
        'labeller': 'CHGNet 0.3.0 in-process (sei.ase.inline): a stand-in for DFT',
        'sgp': SGP, 'thresholds': THRESHOLDS, 'sweep': SWEEP,
        'sweep_pks': sweeps,
        'systems': systems,
        'loop_labels': loop_labels,
        'loop_without_curriculum_labels': sum(s['loop_without_curriculum']['labels'] for s in systems.values()),
        'uniform_over_loop': ratio('uniform_labels_at_loop_error'),
        'random_over_loop': ratio('random_labels_at_loop_error'),
    }

if __name__ == '__main__':
    main()
