"""Benchmark: sei.new_phase at its `fast` protocol (GPAW PBE, 300 eV, 0.4 Å^-1, fmax 0.05 eV/Å,
Li with 1s in valence): the paper's four orderings of Li2S0.75P0.125Cl0.125 (24 atoms) and
Li2S, Li3P, LiCl relaxed; E above the hull and gaps beside the paper's VASP numbers; wall time.

Then (unless ``--diffusivity 0``) Li D(T) as well. No model of the project has seen the new
phase, so one is made for it here, and what it stands on is said: CHGNet (universal potential, a
stand-in for DFT labels) NVT MD of the lowest ordering (24 atoms) at the MD temperatures gives labelled
frames (imported as `sei.frame`s with backend chgnet); a `fast`-architecture Allegro model trained
longer on them (sei.allegro.train), checked on held-out frames (validate_model) and compiled for
LAMMPS; then sei.new_phase again with the model: the relaxations come from AiiDA's cache, the MD
and the diffusivity are new.

Run: `.venv/bin/python benchmarks/new_phase.py [--protocol fast|tiny] [--run PK] [--diffusivity 0|1]
[--diffusivity-run PK] [--profile NAME]` (PK: a finished run in the benchmark profile to report
again; one process per profile: SQLite takes one writer at a time); results in
benchmarks/results/new_phase.json, quoted in docs/new_phase.md.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import sys
import time

RESULTS = pathlib.Path(__file__).parent / 'results'


#: The stand-in model for D(T): CHGNet MD of the lowest ordering, then Allegro trained on it.
STAND_IN = {
    'chgnet_model': '0.3.0',
    'cell_repeats': (1, 1, 1),     # the 24-atom ordering (CHGNet: ~0.1 s a step on one core)
    'timestep_fs': 2.0,
    'steps': 1000,                 # per temperature
    'sample_every': 20,            # 50 frames per temperature
    'friction': 0.02,              # Langevin, 1/fs
    'split': {'fractions': {'train': 0.8, 'validation': 0.2}, 'seed': 0},
    # the fast architecture, trained 60x longer than the `fast` protocol's 5 epochs
    'training': {'training': {'max_epochs': 300, 'ema_decay': 0.99}},
}


def run(protocol: str, model=None):
    from aiida import orm
    from aiida.engine import run_get_node
    from aiida.manage.caching import enable_caching

    from aiida_sei.workchains.new_phase import NewPhaseWorkChain

    start = time.perf_counter()
    codes = {'relax': orm.load_code('gpaw@localhost'), 'lammps': orm.load_code('lmp@localhost')}
    # a rerun (after an interrupt, or with a model) reuses every relaxation job that already finished
    with enable_caching(identifier='aiida.calculations:sei.gpaw'):
        _, node = run_get_node(NewPhaseWorkChain.get_builder_from_protocol(codes, protocol, model=model))
    return node, time.perf_counter() - start


def chgnet_frames(structure, temperatures, path: pathlib.Path) -> float:
    """CHGNet Langevin MD of ``structure`` at each temperature; every N-th frame with CHGNet's
    energy, forces and stress written to ``path`` (extxyz). Returns the wall time."""
    import ase.io
    import numpy as np
    from ase import units
    from ase.calculators.singlepoint import SinglePointCalculator
    from ase.md.langevin import Langevin
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    from aiida_sei.calculators import chgnet

    start, frames = time.perf_counter(), []
    calculator = chgnet(model=STAND_IN['chgnet_model'])
    for temperature in temperatures:
        atoms = structure.get_ase().repeat(STAND_IN['cell_repeats'])
        atoms.calc = calculator
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature, rng=np.random.default_rng(int(temperature)))
        dynamics = Langevin(atoms, STAND_IN['timestep_fs'] * units.fs, temperature_K=temperature, friction=STAND_IN['friction'] / units.fs)
        for _ in range(STAND_IN['steps'] // STAND_IN['sample_every']):
            dynamics.run(STAND_IN['sample_every'])
            frame = atoms.copy()
            frame.calc = SinglePointCalculator(frame, energy=atoms.get_potential_energy(), forces=atoms.get_forces(),
                                               stress=atoms.get_stress(voigt=False))
            frame.info['condition'] = f'T{temperature:g}K'
            frames.append(frame)
        print(f'CHGNet MD at {temperature} K: {len(frames)} frames', flush=True)
    ase.io.write(path, frames, format='extxyz')
    return time.perf_counter() - start


def stand_in_model(node, temperatures) -> tuple:
    """(compiled model for LAMMPS, what it stands on) for the lowest ordering of run ``node``."""
    import tempfile

    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_sei.calculations.functions.dataset import import_frames_file, split_dataset
    from aiida_sei.calculations.functions.validation import validate_model
    from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    lowest = node.outputs.summary['lowest']
    structure = node.outputs.relaxed[lowest]
    # the MD is kept by structure and settings: a rerun after a later failure does not repeat it
    path = pathlib.Path(tempfile.gettempdir()) / f'sei-bench-chgnet-{structure.uuid}-{"-".join(map(str, temperatures))}-{STAND_IN["steps"]}.extxyz'
    seconds = {}
    if not path.exists():
        seconds['chgnet_md_s'] = chgnet_frames(structure, temperatures, path.with_suffix('.partial'))
        path.with_suffix('.partial').rename(path)
    imported = import_frames_file(path, backend='chgnet', is_dft=False, origin='chgnet-md', system='Li2S(1-2x)PxClx',
                                  settings_label=f'CHGNet {STAND_IN["chgnet_model"]}')
    parts = split_dataset(imported['dataset'], orm.Dict(STAND_IN['split']))
    codes = {role: orm.load_code(f'{role}@localhost') for role in ('nequip-train', 'nequip-package', 'nequip-compile')}
    start = time.perf_counter()
    builder = AllegroTrainingWorkChain.get_builder_from_protocol({'train': codes['nequip-train'], 'package': codes['nequip-package']}, 'fast',
                                                                 STAND_IN['training'], dataset=parts['train'], validation=parts['validation'])
    trained, training = run_get_node(builder)
    assert training.is_finished_ok, training.exit_message
    seconds['training_s'] = time.perf_counter() - start
    start = time.perf_counter()
    compiled = {target: run_get_node(NequipCompileCalculation, code=codes['nequip-compile'], model=trained['model'], target=orm.Str(target))
                for target in ('pair_allegro', 'ase')}
    assert all(job.is_finished_ok for _, job in compiled.values()), [job.exit_message for _, job in compiled.values()]
    seconds['compile_s'] = time.perf_counter() - start
    errors = validate_model(compiled['ase'][0]['compiled'], parts['validation'])['errors'].get_dict()['all']
    stand_in = {'labels': f'CHGNet {STAND_IN["chgnet_model"]} (a universal potential standing in for DFT)',
                'md': {'structure': f'{lowest} x {list(STAND_IN["cell_repeats"])}', 'temperatures_K': temperatures,
                       **{key: STAND_IN[key] for key in ('timestep_fs', 'steps', 'sample_every')}},
                'frames': {'train': len(parts['train']), 'validation': len(parts['validation'])},
                'model': {'protocol': 'fast', **STAND_IN['training'], 'pk': trained['model'].pk},
                'validation_vs_chgnet': {'energy_meV_per_atom_mae': 1000 * errors['energy_per_atom_mae'], 'forces_eV_per_A_rmse': errors['forces_rmse']},
                'wall_s': {key: round(value) for key, value in seconds.items()}}
    print(f'stand-in model: {stand_in["validation_vs_chgnet"]}', flush=True)
    return compiled['pair_allegro'][0]['compiled'], stand_in


def relaxations(node) -> dict:
    """Per ordering or phase: BFGS steps and wall time of its relaxation jobs as they ran (a cached
    job: its source's)."""
    from aiida import orm
    from aiida.common.links import LinkType

    rows = {}
    for link in node.base.links.get_outgoing(link_type=LinkType.CALL_WORK).all():
        if link.link_label.startswith('relax_'):
            jobs = [orm.load_node(job.base.caching.get_cache_source() or job.uuid) for job in link.node.called_descendants if job.process_label == 'GpawCalculation']
            rows[link.link_label.removeprefix('relax_')] = {
                'bfgs_steps': sum(job.outputs.misc['relax']['steps'] for job in jobs),
                'wall_s': round(sum((job.mtime - job.ctime).total_seconds() for job in jobs))}
    return rows


def orderings(node) -> dict:
    """Per ordering: the summary's row and the relaxed lattice on Li2S's scale (its XRD's)."""
    from aiida_sei.science.new_phase import anion_lattice_parameter

    keys = ('formula', 'multiplicity', 'p_cl_distance', 'e_above_hull_meV_per_atom', 'band_gap_eV')
    return {name: {**{key: row[key] for key in keys}, 'anion_lattice_A': anion_lattice_parameter(node.outputs.relaxed[name].get_ase())}
            for name, row in node.outputs.summary['orderings'].items()}


def with_diffusivity(node, protocol: str, pk: str | None) -> tuple:
    """(sei.new_phase run with the stand-in model, report entries): a new run (its relaxations
    from the cache of ``node``'s), or the finished run ``pk``."""
    from aiida import orm

    from aiida_sei.workchains.new_phase import NewPhaseWorkChain

    if pk is None:
        temperatures = NewPhaseWorkChain.get_protocol_inputs(protocol)['diffusivity']['temperatures']
        model, stand_in = stand_in_model(node, temperatures)
        final, wall = run(protocol, model)
    else:
        final = orm.load_node(int(pk))
        stand_in, wall = None, (final.mtime - final.ctime).total_seconds()
    if not final.is_finished_ok:
        raise SystemExit(f'sei.new_phase<{final.pk}> with the model failed: {final.exit_message}')
    md = final.inputs.diffusivity
    result = final.outputs.diffusivity.get_dict()
    for temperature, row in result['temperatures'].items():
        print(f'D({temperature} K) = {row["D_cm2_s"]:.2e} ± {row["D_err_cm2_s"]:.1e} cm^2/s')
    atoms = len(final.outputs.relaxed[final.outputs.summary['lowest']].sites) * math.prod(md.supercell.get_list())
    entries = {'diffusivity_settings': {'supercell': md.supercell.get_list(), 'atoms': atoms, 'parameters': md.parameters.get_dict(),
                                        'analysis': md.analysis.get_dict()},
               'diffusivity': result,
               **({'stand_in_model': stand_in} if stand_in else {}),
               'diffusivity_run_wall_s': round(wall)}
    return final, entries


def main():
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from aiida import orm

    from aiida_sei.profile import ensure_profile

    arguments = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    protocol = arguments.get('--protocol', 'fast')
    ensure_profile(arguments.get('--profile', 'bench-new-phase'), echo=lambda _: None)
    if '--run' in arguments:
        node = orm.load_node(int(arguments['--run']))
        wall = (node.mtime - node.ctime).total_seconds()
    else:
        node, wall = run(protocol)
    if not node.is_finished_ok:
        raise SystemExit(f'sei.new_phase<{node.pk}> failed: {node.exit_message}')
    entries = {}
    if arguments.get('--diffusivity', '1') == '1':  # the run with the model is a whole run: the report is its
        node, entries = with_diffusivity(node, protocol, arguments.get('--diffusivity-run'))
    summary = node.outputs.summary.get_dict()
    relax = node.inputs.relax.gpaw  # sei.gpaw.relax's inputs
    report = {
        'machine': {'cpus': os.cpu_count(), 'threads': os.environ['OMP_NUM_THREADS']},
        'protocol': protocol,
        'run_pk': node.pk,
        'settings': {'ecut_eV': relax.gpaw.parameters['ecut'], 'kpoints_distance': relax.kpoints_distance.value,
                     'relax': relax.gpaw.relax.get_dict(), 'setups': relax.gpaw.parameters['setups'], 'xc': relax.gpaw.parameters['xc']},
        'orderings': orderings(node),
        'lowest': summary['lowest'],
        'competing': summary['competing'],
        'mixing_entropy_meV_per_atom_300K': summary['mixing_entropy_meV_per_atom'],
        'mixing_entropy_meV_per_formula_unit_300K': summary['mixing_entropy_meV_per_formula_unit'],
        'offset_temperature_K': summary['offset_temperature_K'],
        'paper': summary['paper'],
        'first_run_wall_s': round(wall),
        'relaxations': relaxations(node),
        **entries,
    }
    name = 'new_phase.json' if protocol == 'fast' else f'new_phase_{protocol}.json'
    (RESULTS / name).write_text(json.dumps(report, indent=2) + '\n')
    for row_name, row in report['orderings'].items():
        print(f'{row_name}: x{row["multiplicity"]}, E_hull {row["e_above_hull_meV_per_atom"]:.1f} meV/atom, gap {row["band_gap_eV"]:.2f} eV')
    print(f'wall {wall:.0f} s -> {RESULTS / name}')


if __name__ == '__main__':
    main()
