"""Reading labelled frames: where a file is damaged, and values no code produces (no profile)."""

import numpy as np
import pytest
from ase.build import bulk

from aiida_sei.science.frames import Frame, FrameError, check_frame, read_frames, write_extxyz


def frames(count=3):
    result = []
    for seed in range(count):
        atoms = bulk('Li', 'bcc', a=3.44, cubic=True)
        atoms.rattle(0.05, seed=seed)
        result.append(Frame(atoms.numbers, atoms.positions, atoms.cell.array, atoms.pbc, -3.8 * len(atoms),
                            np.full((len(atoms), 3), 0.1), np.eye(3) * 0.01))
    return result


def test_a_cut_off_extxyz_names_the_frame_it_stops_in(tmp_path):
    path = tmp_path / 'frames.extxyz'
    write_extxyz(frames(3), path)
    lines = path.read_text().splitlines(keepends=True)
    path.write_text(''.join(lines[:-1]))  # the last atom line of frame 2 is lost
    with pytest.raises(FrameError, match='frames.extxyz, frame 2: cannot read'):
        read_frames(path)


@pytest.mark.parametrize(('change', 'message'), [
    (lambda f: setattr(f, 'energy', 1e308), 'not a physical energy'),
    (lambda f: [setattr(f, name, value) for name, value in (('numbers', np.zeros(0, int)), ('positions', np.zeros((0, 3))), ('forces', np.zeros((0, 3))))], 'no atoms'),
])
def test_values_no_code_produces_are_refused(change, message):
    frame = frames(1)[0]
    change(frame)
    with pytest.raises(FrameError, match=message):
        check_frame(frame)

