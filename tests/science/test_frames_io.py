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



def test_a_frame_labelled_without_stress_keeps_it_absent_through_a_file(tmp_path):
    """Energy and forces only (a cluster code, an OUTCAR written with ISIF=0): the stress is NaN,
    never zero, and stays absent through extxyz; a partly-NaN stress is a damaged label."""
    from ase.calculators.singlepoint import SinglePointCalculator

    atoms = bulk('Li', 'bcc', a=3.44, cubic=True)
    atoms.calc = SinglePointCalculator(atoms, energy=-7.6, forces=np.zeros((2, 3)))
    path = tmp_path / 'no_stress.extxyz'
    atoms.write(path, format='extxyz')
    (frame,) = read_frames(path)
    assert not frame.has_stress and np.isnan(frame.stress).all()
    write_extxyz([frame, frames(1)[0]], tmp_path / 'again.extxyz')
    assert [f.has_stress for f in read_frames(tmp_path / 'again.extxyz')] == [False, True]
    frame.stress = np.eye(3)
    frame.stress[0, 1] = np.nan
    with pytest.raises(FrameError, match='stress contains NaN'):
        check_frame(frame)


def test_stress_errors_are_taken_over_the_frames_that_have_a_stress():
    from aiida_sei.science.model_errors import errors_by_system

    nan = np.full((3, 3), np.nan)
    table = errors_by_system(['Li', 'Li', 'LiCl'], [2, 2, 2], [-7.0, -7.0, -6.0], [-7.2, -6.8, -6.0],
                             [np.zeros((2, 3))] * 3, [np.full((3, 3), 0.01), nan, nan])
    assert table['Li']['stress_mae'] == pytest.approx(0.01) and table['all']['stress_mae'] == pytest.approx(0.01)
    assert table['LiCl']['stress_mae'] is None and table['LiCl']['energy_per_atom_mae'] == 0.0
    assert table['Li']['energy_per_atom_mae'] == pytest.approx(0.1)


def test_an_extxyz_is_recognised_by_its_content_whatever_its_name(tmp_path):
    write_extxyz(frames(2), tmp_path / 'frames.extxyz')
    renamed = tmp_path / 'labels.data'
    renamed.write_bytes((tmp_path / 'frames.extxyz').read_bytes())
    assert [f.energy for f in read_frames(renamed)] == [f.energy for f in frames(2)]


def test_a_split_by_system_validates_only_on_systems_that_also_train():
    from aiida_sei.science.frames import split_indices

    systems = ['Li', 'Li2S', 'Li3P', 'Li3P', 'LiCl']
    random = split_indices(systems, {'train': 0.9, 'validation': 0.1}, seed=0)
    assert sorted(random['train'] + random['validation']) == list(range(5)) and len(random['validation']) == 1
    by_system = split_indices(systems, {'train': 0.9, 'validation': 0.1}, seed=0, by_system=True)
    assert [systems[i] for i in by_system['validation']] == ['Li3P']  # the one system with a frame to spare
    assert {systems[i] for i in by_system['train']} == set(systems)
    many = ['Li'] * 30 + ['Li6PS5Cl'] * 60 + ['LiCl'] * 10
    parts = split_indices(many, {'train': 0.9, 'validation': 0.1}, seed=3, by_system=True)
    held_out = [many[i] for i in parts['validation']]
    assert len(held_out) == 10 and (held_out.count('Li'), held_out.count('Li6PS5Cl'), held_out.count('LiCl')) == (3, 6, 1)
    assert sorted(parts['train'] + parts['validation']) == list(range(100))


def test_the_level_of_theory_ignores_what_is_per_frame_but_not_the_setup_names():
    """GPAW frames of Li and of Li2S record different setups (those of their elements) and
    k-meshes, yet are one level of theory; another Li setup name is another theory."""
    from aiida_sei.science.frames import theory_hash

    parameters = {'ecut': 300, 'xc': 'PBE', 'setups': {'Li': 'sv'}}
    li = {'Li': {'type': 'sv', 'valence': 3, 'fingerprint': 'a'}}
    li2s = {'Li': li['Li'], 'S': {'type': 'paw', 'valence': 6, 'fingerprint': 'b'}}
    metal = theory_hash('gpaw', {'parameters': parameters, 'kpoints': [6, 6, 6], 'setups': li})
    sulfide = theory_hash('gpaw', {'parameters': parameters, 'kpoints': [3, 3, 3], 'setups': li2s})
    assert metal == sulfide
    assert metal != theory_hash('gpaw', {'parameters': {**parameters, 'setups': {'Li': 'paw'}}, 'kpoints': [6, 6, 6], 'setups': li})
