"""A tiny Allegro model for Li, P, S and Cl, compiled for LAMMPS and for ASE (shared fixture).

One epoch of the `fast` protocol on a few Lennard-Jones-labelled argyrodite cells: the numbers
mean nothing physically, but the model has the paper's species and the real architecture, so
LAMMPS and ASE must agree on it. Building it (train + two AOTInductor compiles) takes a minute
or two; the result is kept in pytest's cache, keyed by the config and the versions that made it,
so later sessions on the same machine reuse it.
"""

from __future__ import annotations

import hashlib
import json
import os
import pathlib
import shutil
import subprocess
import sys

import numpy as np
import pytest

BIN = pathlib.Path(sys.executable).parent
SPECIES = ['Cl', 'Li', 'P', 'S']
TARGETS = ('pair_allegro', 'ase')


def single_thread_env() -> dict:
    """Environment for engine subprocesses: one thread each, the venv's MPI library."""
    env = dict(os.environ, OMP_NUM_THREADS='1', OPENBLAS_NUM_THREADS='1', MKL_NUM_THREADS='1')
    lib = str(pathlib.Path(sys.prefix) / 'lib')
    env['LD_LIBRARY_PATH'] = ':'.join(p for p in (lib, env.get('LD_LIBRARY_PATH')) if p)
    return env


def lennard_jones_cells(build, count: int, seed: int = 0, rattle: float = 0.05):
    """``count`` copies of ``build()`` rattled by ``rattle`` Å, labelled with Lennard-Jones
    energy, forces and stress (as single-point results, as a file of DFT frames holds them)."""
    from ase.calculators.lj import LennardJones
    from ase.calculators.singlepoint import SinglePointCalculator

    rng, cells = np.random.default_rng(seed), []
    for _ in range(count):
        atoms = build()
        atoms.positions += rng.normal(0, rattle, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        results = {k: atoms.calc.get_property(k, atoms) for k in ('energy', 'forces', 'stress')}
        atoms.calc = SinglePointCalculator(atoms, **results)
        cells.append(atoms)
    return cells


def argyrodite_cells(count: int, seed: int = 0):
    """Rattled 52-atom Li6PS5Cl cells labelled with Lennard-Jones energy, forces and stress."""
    from aiida_sei.science import catalogue

    return lennard_jones_cells(lambda: catalogue.build('argyrodite'), count, seed)


def sheared_argyrodite(repeat=(1, 1, 1)):
    """Rattled Li6PS5Cl with a triclinic cell already in LAMMPS' lower-triangular form."""
    from aiida_sei.science import catalogue

    atoms = catalogue.build('argyrodite').repeat(repeat)
    cell = atoms.cell.array.copy()
    cell[1, 0], cell[2, 0], cell[2, 1] = 0.6, -0.4, 0.3
    atoms.set_cell(cell, scale_atoms=True)
    atoms.positions += np.random.default_rng(3).normal(0, 0.05, atoms.positions.shape)
    atoms.wrap()
    return atoms


def tiny_config() -> dict:
    from aiida_sei.science.allegro import training_config
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    inputs = AllegroTrainingWorkChain.get_protocol_inputs('fast', {'training': {'max_epochs': 1, 'batch_size': 2, 'accelerator': 'cpu'}})
    return training_config(SPECIES, inputs)


def _cache_key(config: dict) -> str:
    from importlib.metadata import version

    from aiida_sei.runners import nequip_compile

    versions = [version(p) for p in ('nequip', 'nequip-allegro', 'torch')]
    compiler = pathlib.Path(nequip_compile.__file__).read_text()  # what the compile changes in the graph
    return hashlib.sha256(json.dumps([config, versions, compiler], sort_keys=True).encode()).hexdigest()[:16]


def build_tiny_models(directory: pathlib.Path) -> dict[str, pathlib.Path]:
    """Train for one epoch in ``directory`` and compile for LAMMPS and ASE: {target: path}
    (``<target>.nequip.pt2`` in ``directory``)."""
    import ase.io
    import yaml

    from aiida_sei.science.allegro import RUN_DIRECTORY, TRAIN_FILE, VALIDATION_FILE

    cells = argyrodite_cells(6)
    ase.io.write(directory / TRAIN_FILE, cells[:4], format='extxyz')
    ase.io.write(directory / VALIDATION_FILE, cells[4:], format='extxyz')
    (directory / 'config.yaml').write_text(yaml.safe_dump(tiny_config(), sort_keys=False))
    env = single_thread_env()
    train = subprocess.run([BIN / 'nequip-train', '-cp', str(directory), '-cn', 'config.yaml', f'hydra.run.dir={RUN_DIRECTORY}'],
                           cwd=directory, env=env, capture_output=True, text=True)
    if train.returncode:
        raise RuntimeError(f'nequip-train failed: {train.stderr[-2000:]}')
    paths = {target: directory / f'{target}.nequip.pt2' for target in TARGETS}
    # the two compiles are independent single-threaded processes: run them side by side
    compiles = [subprocess.Popen([BIN / 'sei-nequip-compile', '--mode', 'aotinductor', '--device', 'cpu', '--target', target,
                                  f'{RUN_DIRECTORY}/best.ckpt', str(path)], cwd=directory, env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for target, path in paths.items()]
    for process in compiles:
        _, stderr = process.communicate()
        if process.returncode:
            raise RuntimeError(f'nequip-compile failed: {stderr.decode()[-2000:]}')
    return paths


#: Models built in this process: each test module importing the fixture gets its own
#: session-scoped instance, and they must not build twice.
_BUILT: dict[str, pathlib.Path] = {}


@pytest.fixture(scope='session')
def tiny_allegro(request, tmp_path_factory) -> dict[str, pathlib.Path]:
    """{'pair_allegro': path, 'ase': path} of the tiny model's compiled files (see module doc)."""
    if not _BUILT:
        _BUILT.update(_cached_or_built(request, tmp_path_factory))
    return dict(_BUILT)


def _cached_or_built(request, tmp_path_factory) -> dict[str, pathlib.Path]:
    """Built once per machine and engine versions (pytest's cache), or once per test run; a file
    lock makes pytest-xdist workers wait for the one that builds."""
    from filelock import FileLock

    from tests.conftest import once

    if getattr(request.config, 'cache', None) is None:  # pytest -p no:cacheprovider
        directory = once(tmp_path_factory, 'tiny-allegro', build_tiny_models)
        return {target: directory / f'{target}.nequip.pt2' for target in TARGETS}
    cache = pathlib.Path(request.config.cache.mkdir('sei-tiny-allegro')) / _cache_key(tiny_config())
    with FileLock(str(cache) + '.lock'):
        if not all((cache / f'{target}.nequip.pt2').exists() for target in TARGETS):
            paths = build_tiny_models(tmp_path_factory.mktemp('tiny-allegro'))
            cache.mkdir(parents=True, exist_ok=True)
            for path in paths.values():
                shutil.copy(path, cache / path.name)
    return {target: cache / f'{target}.nequip.pt2' for target in TARGETS}
