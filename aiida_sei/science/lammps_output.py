"""Reading what LAMMPS writes: the log (version, thermo table, errors, speed) and custom dumps
(frames with orthogonal or triclinic boxes). Pure: text or file handles in, numbers out.
"""

from __future__ import annotations

import dataclasses
import itertools
import re
from collections.abc import Iterable, Iterator

import numpy as np

_VERSION = re.compile(r'^LAMMPS \((?P<version>[^)]*)\)', re.MULTILINE)
_LOOP = re.compile(r'^Loop time of (?P<seconds>\S+) on (?P<ranks>\d+) procs for (?P<steps>\d+) steps with (?P<atoms>\d+) atoms', re.MULTILINE)
_PERFORMANCE = re.compile(r'^Performance:.*?(?P<steps_per_second>[\d.eE+-]+) timesteps/s(?:, (?P<katom_steps>[\d.eE+-]+) katom-step/s)?', re.MULTILINE)
_ERROR = re.compile(r'^ERROR(?: on proc \d+)?: (?P<message>.*)$', re.MULTILINE)


@dataclasses.dataclass
class LammpsLog:
    """What a LAMMPS log says: ``thermo`` maps the thermo header's column names to arrays."""

    version: str | None
    thermo: dict[str, np.ndarray]
    errors: list[str]
    ranks: int | None = None
    steps: int | None = None
    atoms: int | None = None
    loop_seconds: float | None = None
    steps_per_second: float | None = None


def _thermo_rows(lines: list[str]) -> dict[str, np.ndarray]:
    """Rows of every thermo table (between a 'Step ...' header and 'Loop time'), joined."""
    header, in_table, rows = None, False, []
    for line in lines:
        words = line.split()
        if words[:1] == ['Step']:
            header, in_table = words, True
        elif line.startswith('Loop time'):
            in_table = False
        elif in_table and len(words) == len(header):
            try:
                rows.append([float(w) for w in words])  # float() reads LAMMPS' nan and -nan
            except ValueError:
                continue  # a warning or message between rows
    if header is None:
        return {}
    table = np.array(rows, float).reshape(-1, len(header))
    return {name: table[:, k] for k, name in enumerate(header)}


def parse_log(text: str, stdout: str = '') -> LammpsLog:
    """The log of a run; ``stdout`` adds error lines only other ranks printed (error->one)."""
    version = _VERSION.search(text)
    errors = list(dict.fromkeys(m['message'].strip() for m in _ERROR.finditer(text + '\n' + stdout)))
    log = LammpsLog(version=version['version'] if version else None, thermo=_thermo_rows(text.splitlines()), errors=errors)
    loop = _LOOP.search(text)
    if loop:
        log.ranks, log.steps, log.atoms = int(loop['ranks']), int(loop['steps']), int(loop['atoms'])
        log.loop_seconds = float(loop['seconds'])
    performance = _PERFORMANCE.search(text)
    if performance:
        log.steps_per_second = float(performance['steps_per_second'])
    return log


@dataclasses.dataclass
class DumpFrame:
    """One frame of a custom dump: cell rows (Å), positions relative to the box origin (Å),
    and every other column by name, all sorted by atom id."""

    step: int
    cell: np.ndarray
    positions: np.ndarray
    columns: dict[str, np.ndarray]


def box_cell(bounds: list[list[float]], triclinic: bool) -> tuple[np.ndarray, np.ndarray]:
    """Cell rows and origin from a dump's BOX BOUNDS lines (LAMMPS' bounding-box convention:
    for triclinic boxes the bounds enclose the tilted box, so the tilts are taken back out)."""
    (xlo, xhi, *xy), (ylo, yhi, *xz), (zlo, zhi, *yz) = bounds
    xy, xz, yz = (xy[0], xz[0], yz[0]) if triclinic else (0.0, 0.0, 0.0)
    xlo, xhi = xlo - min(0.0, xy, xz, xy + xz), xhi - max(0.0, xy, xz, xy + xz)
    ylo, yhi = ylo - min(0.0, yz), yhi - max(0.0, yz)
    cell = np.array([[xhi - xlo, 0.0, 0.0], [xy, yhi - ylo, 0.0], [xz, yz, zhi - zlo]])
    return cell, np.array([xlo, ylo, zlo])


def iter_dump(lines: Iterable[str]) -> Iterator[DumpFrame]:
    """Frames of a LAMMPS custom dump with columns id and x y z (more columns are kept)."""
    lines = iter(lines)
    for line in lines:
        if not line.startswith('ITEM: TIMESTEP'):
            continue
        step = int(next(lines))
        next(lines)  # ITEM: NUMBER OF ATOMS
        natoms = int(next(lines))
        box_header = next(lines)
        bounds = [[float(w) for w in next(lines).split()] for _ in range(3)]
        names = next(lines).split()[2:]
        block = list(itertools.islice(lines, natoms))
        if len(block) < natoms:
            return  # a frame cut short by a crash: stop at the last complete one
        table = np.loadtxt(block, ndmin=2).reshape(natoms, len(names))
        table = table[np.argsort(table[:, names.index('id')])]
        columns = {name: table[:, k] for k, name in enumerate(names)}
        cell, origin = box_cell(bounds, triclinic='xy' in box_header)
        positions = np.stack([columns.pop(axis) for axis in ('x', 'y', 'z')], axis=1) - origin
        yield DumpFrame(step=step, cell=cell, positions=positions, columns=columns)
