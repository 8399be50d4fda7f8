"""Benchmark: sei.new_phase at its `fast` protocol (GPAW PBE, 300 eV, 0.4 Å^-1, fmax 0.01 eV/Å,
Li with 1s in valence): the paper's four orderings of Li2S0.75P0.125Cl0.125 (24 atoms) and
Li2S, Li3P, LiCl relaxed; E above the hull and gaps beside the paper's VASP numbers; wall time.

Run: `.venv/bin/python benchmarks/new_phase.py [--protocol fast|tiny] [--run PK]` (PK: a
finished run in the benchmark profile to report again); results in
benchmarks/results/new_phase.json, quoted in docs/new_phase.md.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time

RESULTS = pathlib.Path(__file__).parent / 'results'


def run(protocol: str):
    from aiida import orm
    from aiida.engine import run_get_node

    from aiida_sei.workchains.new_phase import NewPhaseWorkChain

    start = time.perf_counter()
    codes = {'relax': orm.load_code('gpaw@localhost'), 'lammps': orm.load_code('lmp@localhost')}
    _, node = run_get_node(NewPhaseWorkChain.get_builder_from_protocol(codes, protocol))
    return node, time.perf_counter() - start


def main():
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    from aiida import orm

    from aiida_sei.profile import ensure_profile

    arguments = dict(zip(sys.argv[1::2], sys.argv[2::2]))
    protocol = arguments.get('--protocol', 'fast')
    ensure_profile('bench-new-phase', echo=lambda _: None)
    if '--run' in arguments:
        node = orm.load_node(int(arguments['--run']))
        wall = (node.mtime - node.ctime).total_seconds()
    else:
        node, wall = run(protocol)
    if not node.is_finished_ok:
        raise SystemExit(f'sei.new_phase<{node.pk}> failed: {node.exit_message}')
    summary = node.outputs.summary.get_dict()
    relax = node.inputs.relax
    report = {
        'machine': {'cpus': os.cpu_count(), 'threads': os.environ['OMP_NUM_THREADS']},
        'protocol': protocol,
        'run_pk': node.pk,
        'settings': {'ecut_eV': relax.gpaw.parameters['ecut'], 'kpoints_distance': relax.kpoints_distance.value,
                     'relax': relax.gpaw.relax.get_dict(), 'setups': relax.gpaw.parameters['setups'], 'xc': relax.gpaw.parameters['xc']},
        'orderings': {name: {key: row[key] for key in ('formula', 'multiplicity', 'p_cl_distance', 'e_above_hull_meV_per_atom', 'band_gap_eV')}
                      for name, row in summary['orderings'].items()},
        'lowest': summary['lowest'],
        'competing': summary['competing'],
        'mixing_entropy_meV_per_atom_300K': summary['mixing_entropy_meV_per_atom'],
        'mixing_entropy_meV_per_formula_unit_300K': summary['mixing_entropy_meV_per_formula_unit'],
        'offset_temperature_K': summary['offset_temperature_K'],
        'paper': summary['paper'],
        'wall_s': round(wall),
    }
    name = 'new_phase.json' if protocol == 'fast' else f'new_phase_{protocol}.json'
    (RESULTS / name).write_text(json.dumps(report, indent=2) + '\n')
    for row_name, row in report['orderings'].items():
        print(f'{row_name}: x{row["multiplicity"]}, E_hull {row["e_above_hull_meV_per_atom"]:.1f} meV/atom, gap {row["band_gap_eV"]:.2f} eV')
    print(f'wall {wall:.0f} s -> {RESULTS / name}')


if __name__ == '__main__':
    main()
