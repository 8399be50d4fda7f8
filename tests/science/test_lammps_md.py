"""The LAMMPS input script and the restart arithmetic of `sei.lammps` (pure: no LAMMPS runs here;
tests/test_lammps_restart.py runs them)."""

import numpy as np
import pytest

from aiida_sei.science import lammps_md
from aiida_sei.science.lammps_md import (
    PARENT_RESTART_FILE,
    RESTART_FILES,
    MdSettingsError,
    SegmentGapError,
    input_script,
    last_restart,
    md_settings,
    segment_masks,
)

TYPES = ['Cl', 'Li', 'P', 'S']


def lines(script: str) -> list[str]:
    return script.splitlines()


def test_a_fresh_run_reads_the_data_file_draws_velocities_and_writes_alternating_restart_files():
    script = lines(input_script(TYPES, md_settings({'steps': 400, 'dump_interval': 20, 'thermo_interval': 10})))
    assert 'read_data structure.data' in script and not any(line.startswith('read_restart') for line in script)
    assert any(line.startswith('velocity all create 300.0 12345') for line in script)
    assert f'restart 20 {RESTART_FILES[0]} {RESTART_FILES[1]}' in script
    assert script.index(f'restart 20 {RESTART_FILES[0]} {RESTART_FILES[1]}') < script.index('run 400 upto') == len(script) - 1


def test_a_continuation_reads_the_restart_file_keeps_the_velocities_and_runs_up_to_the_same_step():
    settings = md_settings({'steps': 400, 'dump_interval': 20, 'thermo_interval': 10})
    fresh, continued = lines(input_script(TYPES, settings)), lines(input_script(TYPES, settings, restart=True))
    assert f'read_restart {PARENT_RESTART_FILE}' in continued
    assert continued.index('units metal') < continued.index(f'read_restart {PARENT_RESTART_FILE}') < continued.index('pair_style allegro')
    for absent in ('read_data', 'velocity', 'atom_style', 'boundary'):  # all of it is in the restart file
        assert not any(line.startswith(absent) for line in continued), absent
    assert continued[-1] == 'run 400 upto'  # the steps left, numbered as in the first segment
    # the same integrator under the same fix ID (LAMMPS gives it back its thermostat state), dump and thermo
    same = [line for line in fresh if line.startswith(('fix md', 'dump', 'thermo', 'restart', 'pair_coeff', 'timestep', 'plugin'))]
    assert len(same) == 10 and all(line in continued for line in same)


def test_the_restart_interval_defaults_to_every_frame_and_thermo_row_and_must_be_a_multiple_of_thermo():
    assert md_settings({})['restart_interval'] == 100  # dump 100, thermo 10
    assert md_settings({'dump_interval': 50, 'thermo_interval': 20})['restart_interval'] == 100  # their lcm
    assert md_settings({'restart_interval': 30, 'thermo_interval': 10})['restart_interval'] == 30
    for bad in (25, -10, True, 2.0, 'often'):
        with pytest.raises(MdSettingsError, match='restart_interval must be 0'):
            md_settings({'restart_interval': bad, 'thermo_interval': 10})
    assert not any(line.startswith('restart') for line in lines(input_script(TYPES, md_settings({'restart_interval': 0}))))


@pytest.mark.parametrize(('first', 'last', 'expected'), [
    (0, 40, (40, 'restart.b')),   # writes at 20 (a) and 40 (b): what LAMMPS wrote in test_lammps_restart.py
    (0, 35, (20, 'restart.a')),   # 40 not reached
    (0, 19, None),                # cut before the first write
    (20, 20, None),               # LAMMPS writes none on the first step of a run
    (20, 45, (40, 'restart.a')),  # a continuation from 20 starts again with the first file
    (20, 79, (60, 'restart.b')),
    (15, 79, (60, 'restart.a')),  # from a step between writes: 20 (a), 40 (b), 60 (a)
])
def test_the_newest_complete_restart_file(first, last, expected):
    assert last_restart({'restart_interval': 20}, first, last) == expected


def test_the_restart_file_named_is_never_the_one_a_cut_may_have_left_half_written():
    """For every segment start and cut point: the file named holds the newest write whose thermo
    row was printed; the next write (which the cut may have interrupted) went to the other file."""
    settings = md_settings({'dump_interval': 20, 'thermo_interval': 10})
    interval = settings['restart_interval']
    for first in range(0, 120, 10):
        writes = [(step, RESTART_FILES[n % 2]) for n, step in enumerate(range(first // interval * interval + interval, 400, interval))]
        for last in range(first, 300, 10):  # thermo rows, so the last row is a multiple of 10
            done = [write for write in writes if write[0] <= last]
            assert last_restart(settings, first, last) == (done[-1] if done else None)
            following = [write for write in writes if write[0] > last]
            if done and following:
                assert following[0][1] != done[-1][1]
    assert last_restart(md_settings({'restart_interval': 0}), 0, 1000) is None


def test_segments_join_with_the_rows_a_continuation_ran_again_taken_from_it():
    """Segment 1 ran 0-35, was cut, segment 2 went on from its restart file at 20 up to 60."""
    thermo = [np.arange(0, 36, 5), np.arange(20, 61, 5)]
    masks = segment_masks([(0, 35), (20, 60)], thermo)
    joined = np.concatenate([rows[mask] for rows, mask in zip(thermo, masks)])
    assert list(joined) == list(range(0, 61, 5))
    assert list(masks[0]) == [True] * 4 + [False] * 4 and masks[1].all()
    # a segment cut before it wrote a restart file is run again from the same point: all of it dropped
    masks = segment_masks([(0, 35), (20, 25), (20, 60)], [thermo[0], np.arange(20, 26, 5), thermo[1]])
    assert [int(mask.sum()) for mask in masks] == [4, 0, 9]


def test_segments_that_leave_steps_out_are_refused():
    with pytest.raises(SegmentGapError, match='segment 1 starts at step 40, but the segments before it stopped at step 35'):
        segment_masks([(0, 35), (40, 60)], [np.arange(0, 36, 5), np.arange(40, 61, 5)])
    lammps_md.check_spans([(0, 35), (20, 25), (20, 60)])  # the same restart point twice is fine
