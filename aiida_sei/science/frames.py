"""Labelled frames (structure + energy, forces, stress) as plain arrays: checks, hashes, I/O.

Units: energy eV, forces eV/Å, stress eV/Å^3 as a 3x3 matrix with ASE's sign convention
(positive = tensile). No AiiDA here.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms
from ase.calculators.singlepoint import SinglePointCalculator
from ase.stress import voigt_6_to_full_3x3_stress

from .catalogue import SPECIES


#: Largest |energy| per atom (eV) taken as a label: all-electron codes reach 1e4, garbage 1e308.
MAX_ENERGY_PER_ATOM = 1.0e6


class FrameError(ValueError):
    """A frame is incomplete or inconsistent (the message names what and where)."""


#: The stress of a frame labelled without one: NaN, never zero (which would be a label).
NO_STRESS = np.full((3, 3), np.nan)


@dataclass
class Frame:
    """One labelled configuration."""

    numbers: np.ndarray
    positions: np.ndarray
    cell: np.ndarray
    pbc: np.ndarray
    energy: float
    forces: np.ndarray
    stress: np.ndarray
    info: dict = field(default_factory=dict)

    @property
    def n_atoms(self) -> int:
        return len(self.numbers)

    @property
    def has_stress(self) -> bool:
        """False for a frame labelled with energy and forces only (its stress is all NaN)."""
        return not np.all(np.isnan(self.stress))

    def to_atoms(self) -> Atoms:
        atoms = Atoms(numbers=self.numbers, positions=self.positions, cell=self.cell, pbc=self.pbc)
        atoms.calc = SinglePointCalculator(atoms, energy=self.energy, forces=self.forces, stress=self.stress)
        atoms.info.update(self.info)
        return atoms


def frame_from_atoms(atoms: Atoms, where: str = 'frame') -> Frame:
    """A checked :class:`Frame` from ASE atoms carrying energy, forces and (if known) stress results.

    A frame without stress (a molecule, an OUTCAR written with ISIF=0) keeps a stress of NaN:
    absent, not zero. The frame's energy is the force-consistent one: ``free_energy`` when the source has it
    (VASP's TOTEN, where ASE's ``energy`` is the sigma->0 extrapolation), else ``energy``.
    """
    results = getattr(atoms.calc, 'results', {}) if atoms.calc is not None else {}
    missing = [key for key in ('energy', 'forces') if key not in results]
    if missing:
        raise FrameError(f'{where}: missing {", ".join(missing)}')
    for key in ('energy', 'free_energy'):
        if key in results and not np.isfinite(results[key]):
            raise FrameError(f'{where}: {key.replace("_", " ")} is {results[key]}')
    stress = np.asarray(results.get('stress', NO_STRESS), float)
    if stress.shape == (6,):
        stress = voigt_6_to_full_3x3_stress(stress)
    info = {k: v for k, v in atoms.info.items() if isinstance(v, (str, int, float, bool))}
    return check_frame(
        Frame(
            numbers=atoms.numbers.copy(),
            positions=atoms.positions.copy(),
            cell=atoms.cell.array.copy(),
            pbc=atoms.pbc.copy(),
            energy=float(results.get('free_energy', results['energy'])),
            forces=np.asarray(results['forces'], float),
            stress=stress,
            info=info,
        ),
        where,
    )


def check_frame(frame: Frame, where: str = 'frame') -> Frame:
    """Refuse unknown species, mismatched shapes, NaN/inf values; returns the frame."""
    from ase.data import chemical_symbols

    symbols = {chemical_symbols[z] for z in np.asarray(frame.numbers)}
    unknown = sorted(symbols - set(SPECIES))
    if unknown:
        raise FrameError(f'{where}: element(s) {", ".join(unknown)} are not species of this study ({", ".join(SPECIES)})')
    n = frame.n_atoms
    if n == 0:
        raise FrameError(f'{where}: no atoms')
    shapes = {'positions': (n, 3), 'forces': (n, 3), 'cell': (3, 3), 'stress': (3, 3), 'pbc': (3,)}
    for name, shape in shapes.items():
        value = np.asarray(getattr(frame, name))
        if value.shape != shape:
            raise FrameError(f'{where}: {name} has shape {value.shape}, expected {shape} for {n} atoms')
    for name in ('positions', 'forces', 'cell'):
        if not np.all(np.isfinite(getattr(frame, name))):
            raise FrameError(f'{where}: {name} contains NaN or inf')
    if frame.has_stress and not np.all(np.isfinite(frame.stress)):
        raise FrameError(f'{where}: stress contains NaN or inf (a stress that is not known is NaN in all nine entries)')
    if not np.isfinite(frame.energy) or abs(frame.energy) / n > MAX_ENERGY_PER_ATOM:
        raise FrameError(f'{where}: energy is {frame.energy} eV ({frame.energy / n:.4g} eV/atom: not a physical energy)')
    return frame


def structure_hash(numbers, positions, cell, decimals: int = 5) -> str:
    """Hash of a configuration (species, positions and cell rounded to 1e-5 Å), for de-duplication."""
    digest = hashlib.sha256()
    for array, dtype in ((numbers, np.int64), (np.round(positions, decimals), np.float64), (np.round(cell, decimals), np.float64)):
        digest.update(np.ascontiguousarray(array, dtype=dtype).tobytes())
    return digest.hexdigest()[:32]


def settings_hash(backend: str, parameters: dict) -> str:
    """Hash of the labelling settings (backend and its physical parameters): frames labelled with
    equal hashes are consistent training data."""
    text = json.dumps({'backend': backend, 'parameters': parameters}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


#: Settings that belong to one frame, not to its level of theory: the k-point mesh (each cell has
#: its own) and GPAW's record of the setups of the elements present (their names are in the
#: parameters, which the theory keeps).
PER_FRAME_SETTINGS = ('kpoints', 'setups')


def theory_hash(backend: str, settings: dict) -> str:
    """Hash of the level of theory: the labelling settings without what is per frame
    (:data:`PER_FRAME_SETTINGS`). Frames of one model share it (their ``settings_hash`` may differ)."""
    return settings_hash(backend, {key: value for key, value in settings.items() if key not in PER_FRAME_SETTINGS})


def read_frames(path, index=':', fmt: str | None = None, allow_truncated: bool = False, allow_unconverged: bool = False,
                settings_label: str | None = None) -> list[Frame]:
    """Frames of a file ASE reads with energy, forces and stress (extxyz, vasprun.xml, OUTCAR, ...).

    A VASP file is recognised by its content whatever its name. Every frame is checked; the first
    bad one raises :class:`FrameError` naming file and frame. A VASP file that was cut off, or an
    ionic step whose SCF stopped at NELM, is refused unless ``allow_truncated`` /
    ``allow_unconverged``; the frames then say so (``converged``, ``source_complete``) and carry
    the file's settings and their hash. Frames of other files carry as ``settings`` what
    :func:`file_settings` finds, with ``settings_label`` (the user's name for the level of theory).
    """
    import ase.io

    from . import vasp_files

    fmt = fmt or vasp_files.is_vasp_file(path) or _extxyz_by_content(path)
    if fmt is None and _is_gpaw_log(path):
        raise FrameError(f'{path}: a GPAW text log, which ASE cannot read from GPAW 26 on; label the structures with '
                         'sei.label (GPAW), or write the frames as extxyz from the GPAW calculator and import that')
    try:
        images = ase.io.read(path, index=index, format=fmt)
    except Exception as exception:  # ASE raises many types for unreadable files
        raise FrameError(f'{_first_unreadable(path, fmt)}: cannot read ({exception}); '
                         'name the format with --format (vasp-xml, vasp-out, extxyz, ...)') from None
    if isinstance(images, Atoms):
        images = [images]
    if not images:
        raise FrameError(f'{path}: no frames')
    frames = [frame_from_atoms(atoms, f'{path}, frame {number}') for number, atoms in enumerate(images)]
    run = vasp_files.inspect(path, fmt)
    if run is not None and index == ':':
        _check_vasp_run(path, frames, run, allow_truncated, allow_unconverged)
    elif run is None:
        settings = file_settings(frames, settings_label)
        for frame in frames:
            if settings and 'settings' not in frame.info:
                frame.info['settings'] = settings
    return frames


#: Info entries of a frame that describe the frame, not what labelled it.
FRAME_INFO = ('system', 'condition', 'origin', 'is_dft', 'converged', 'source_complete', 'settings', 'settings_hash',
              'backend', 'theory_hash', 'step', 'time', 'temperature', 'config_type')


def file_settings(frames: list[Frame], label: str | None = None) -> dict:
    """What labelled the frames of a file that does not say it the way VASP does (extxyz, FLARE):
    the info entries all its frames share (code, functional, cutoff, ...), and ``label``, the
    user's name for the level of theory. Empty when there is neither."""
    shared = {key: value for key, value in frames[0].info.items() if key not in FRAME_INFO}
    for frame in frames[1:]:
        shared = {key: value for key, value in shared.items() if frame.info.get(key) == value}
    return {**shared, **({'label': label} if label else {})}


def _is_gpaw_log(path) -> bool:
    with open(path, 'rb') as handle:
        head = handle.read(512).decode('latin-1')
    return '|__||  | ||/\\|' in head


def _extxyz_by_content(path) -> str | None:
    """'extxyz' when the file starts as one (an atom count, then a comment line with Lattice= or
    Properties=), whatever its name: `frames.txt`, `dft.data`."""
    with open(path, 'rb') as handle:
        lines = handle.read(4096).decode('latin-1').splitlines()
    if len(lines) > 1 and lines[0].strip().isdigit() and ('Lattice=' in lines[1] or 'Properties=' in lines[1]):
        return 'extxyz'
    return None


def _first_unreadable(path, fmt) -> str:
    """``path``, with the number of the first frame ASE cannot read when it reads some."""
    import ase.io

    count = 0
    try:
        for _ in ase.io.iread(path, format=fmt):
            count += 1
    except Exception:  # the same error as the whole read: where it happens is what we want
        return f'{path}, frame {count}' if count else str(path)
    return str(path)


def _check_vasp_run(path, frames: list[Frame], run, allow_truncated: bool, allow_unconverged: bool) -> None:
    """Refuse (or, where allowed, mark) what the VASP file says is not a good label."""
    if not run.complete and not allow_truncated:
        raise FrameError(f'{path}: cut off after {len(frames)} complete ionic step(s) (VASP did not finish writing it); nothing imported. '
                         'Allow it (--allow-truncated) to import the complete steps, marked source_complete=false')
    for number, frame in enumerate(frames):
        where = f'{path}, frame {number} (ionic step {number + 1})'
        if number < len(run.force_rows) and run.force_rows[number] != frame.n_atoms:
            raise FrameError(f'{where}: {run.force_rows[number]} force rows for {frame.n_atoms} atoms (a damaged file); nothing imported')
        converged = run.converged[number] if number < len(run.converged) else True
        if not converged and not allow_unconverged:
            raise FrameError(f'{where}: the SCF stopped at NELM without converging, so its forces are wrong; nothing imported. '
                             'Allow it (--allow-unconverged) to import such frames marked converged=false')
        frame.info.update(converged=converged, source_complete=run.complete, settings=run.settings,
                          settings_hash=settings_hash('vasp', run.settings), backend='vasp')


def split_indices(systems: list[str], fractions: dict[str, float], seed: int, by_system: bool = False) -> dict[str, list[int]]:
    """Frame indices of each named part (the first is the training part).

    Random (the paper's): counts rounded down except for the last part, which takes the rest.
    ``by_system``: each held-out part gets round(fraction x frames) frames, at least one, drawn
    only from the frames a system can spare (each system keeps one for training, in proportion
    to what it spares), so no model is validated on a system it never saw.
    """
    rng = np.random.default_rng(seed)
    names = list(fractions)
    if not by_system:
        order = rng.permutation(len(systems))
        parts, start = {}, 0
        for number, name in enumerate(names):
            stop = len(systems) if number == len(names) - 1 else start + int(fractions[name] * len(systems))
            parts[name] = sorted(int(i) for i in order[start:stop])
            start = stop
        return parts
    pools = {system: [i for i, s in enumerate(systems) if s == system] for system in sorted(set(systems))}
    pools = {system: [pool[i] for i in rng.permutation(len(pool))] for system, pool in pools.items()}
    parts = {name: [] for name in names}
    for name in names[1:]:
        spare = {system: len(pool) - 1 for system, pool in pools.items() if len(pool) > 1}
        wanted = min(max(1, round(fractions[name] * len(systems))), sum(spare.values()))
        for system, count in _largest_remainder(spare, wanted).items():
            parts[name] += pools[system][:count]
            pools[system] = pools[system][count:]
    parts[names[0]] = [i for pool in pools.values() for i in pool]
    return {name: sorted(indices) for name, indices in parts.items()}


def _largest_remainder(weights: dict[str, int], total: int) -> dict[str, int]:
    """``total`` split over the keys in proportion to ``weights``, none above its weight."""
    if total <= 0 or not weights:
        return {}
    shares = {key: total * weight / sum(weights.values()) for key, weight in weights.items()}
    counts = {key: min(int(share), weights[key]) for key, share in shares.items()}
    for key in sorted(shares, key=lambda k: shares[k] - int(shares[k]), reverse=True):
        if sum(counts.values()) >= total:
            break
        if counts[key] < weights[key]:
            counts[key] += 1
    return counts


def write_extxyz(frames, path) -> None:
    """Frames to an extxyz file nequip's ASEDataModule reads (energy, forces, stress; an absent
    stress is written as NaN, which the training's loss skips)."""
    import ase.io

    ase.io.write(path, [frame.to_atoms() for frame in frames], format='extxyz')


#: Reduced formulas of the study's bulk systems.
SYSTEMS = {'Li': 'Li', 'Li6PS5Cl': 'Li6PS5Cl', 'Li2S': 'Li2S', 'Li3P': 'Li3P', 'LiCl': 'LiCl'}


def guess_system(symbols) -> str:
    """The study's name for a composition: a bulk phase, 'interface' (Li metal + electrolyte
    elements), or the reduced formula."""
    symbols = list(symbols)
    return _system_of_counts(tuple(sorted((s, symbols.count(s)) for s in set(symbols))))


@functools.lru_cache(maxsize=1024)
def _system_of_counts(counts: tuple) -> str:
    # cached: pymatgen's Composition costs ~1 ms, and an import of 10^4 frames holds a few cells
    from pymatgen.core import Composition

    counts = dict(counts)
    reduced = Composition(counts).reduced_formula
    if reduced in SYSTEMS:
        return SYSTEMS[reduced]
    if {'P', 'S', 'Cl'} <= set(counts) and counts.get('Li', 0) > 6 * counts['P']:
        return 'interface'
    return reduced
