"""Datasets of a few dozen frames: import, merge, de-duplicate, split, export, re-import, the
provenance query behind them, and the frame's storage layout (one checked arrays file; frames of
the older one-file-per-array layout still load). Frames are labelled with ASE's Lennard-Jones
calculator (cheap, real energies/forces/stress) and imported as a user imports outside data.
Storing at scale (10^3-10^4 frames) is measured by benchmarks/datasets.py, not here."""

import numpy as np
import pytest
from aiida import orm
from ase.calculators.lj import LennardJones

from aiida_sei.calculations.functions.dataset import (
    create_dataset,
    deduplicate_dataset,
    export_dataset,
    extend_dataset,
    extend_split,
    frame_inputs,
    import_frames_file,
    merge_datasets,
    split,
)
from aiida_sei.data import DatasetData, FrameData
from aiida_sei.queries import labelling_processes
from aiida_sei.science import catalogue
from aiida_sei.science.frames import FrameError


def lj_frames(n, seed=0, kind='li2s'):
    """``n`` rattled cells with Lennard-Jones energy, forces and stress."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n):
        atoms = catalogue.build(kind)
        atoms.positions += rng.normal(0, 0.05, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        images.append(atoms)
    return images


def write(images, path):
    import ase.io

    ase.io.write(path, images, format='extxyz')
    return path


def node_count():
    return orm.QueryBuilder().append(orm.Node).count()


@pytest.fixture(scope='module')
def imported(aiida_profile, tmp_path_factory):
    """40 Li2S + 20 LiCl frames imported from extxyz (once for the module)."""
    tmp_path = tmp_path_factory.mktemp('frames')
    li2s = import_frames_file(write(lj_frames(40, 1), tmp_path / 'li2s.extxyz'), origin='aimd', is_dft=False, backend='lj')
    licl = import_frames_file(write(lj_frames(20, 2, 'licl'), tmp_path / 'licl.extxyz'), origin='aimd', is_dft=False, backend='lj')
    return li2s, licl


def test_import_merge_split_export_reimport_is_lossless(imported, tmp_path):
    li2s, licl = imported
    assert len(li2s['dataset']) == 40 and li2s['dataset'].base.attributes.get('systems') == {'Li2S': 40}
    merged = merge_datasets(a=li2s['dataset'], b=licl['dataset'])
    assert len(merged) == 60 and merged.base.attributes.get('systems') == {'Li2S': 40, 'LiCl': 20}
    assert merged.elements == ['Cl', 'Li', 'S']

    parts = split(merged, {'train': 0.9, 'validation': 0.1}, seed=4)
    train, validation = parts['train'], parts['validation']
    assert (len(train), len(validation)) == (54, 6)
    assert not set(train.frame_uuids) & set(validation.frame_uuids)
    assert set(train.frame_uuids) | set(validation.frame_uuids) == set(merged.frame_uuids)
    again = split(merged, {'train': 0.9, 'validation': 0.1}, seed=4)
    assert again['validation'].frame_uuids == validation.frame_uuids

    exported = export_dataset(merged)
    path = tmp_path / 'roundtrip.extxyz'
    path.write_bytes(exported.get_content(mode='rb'))
    reimported = import_frames_file(path)['dataset']
    for original, copy in zip(merged.iter_frames(), reimported.iter_frames()):
        assert copy.energy == original.energy
        assert np.array_equal(copy.get_array('forces'), original.get_array('forces'))
        assert np.array_equal(copy.get_array('stress'), original.get_array('stress'))
        assert np.array_equal(copy.get_array('positions'), original.get_array('positions'))
        assert copy.base.attributes.get('structure_hash') == original.base.attributes.get('structure_hash')


def test_an_extended_split_keeps_every_frame_on_its_side(imported):
    """What fine-tuning needs: the earlier split's frames stay where they were, and the new
    frames are split 90/10 among themselves, so no frame that trained a model validates it."""
    li2s, licl = imported
    before = split(li2s['dataset'], {'train': 0.9, 'validation': 0.1}, seed=4)
    new = list(licl['dataset'].iter_frames())
    after = extend_split(before['train'], before['validation'], orm.Dict({'fractions': {'train': 0.9, 'validation': 0.1}, 'seed': 4}), **frame_inputs(new))
    assert after['train'].frame_uuids[:36] == before['train'].frame_uuids
    assert after['validation'].frame_uuids[:4] == before['validation'].frame_uuids
    added = {'train': after['train'].frame_uuids[36:], 'validation': after['validation'].frame_uuids[4:]}
    assert (len(added['train']), len(added['validation'])) == (18, 2)
    assert set(added['train']) | set(added['validation']) == {frame.uuid for frame in new}
    assert not set(after['train'].frame_uuids) & set(after['validation'].frame_uuids)


def test_versions_share_frames_and_deduplicate(imported):
    li2s, _ = imported
    frames = list(li2s['dataset'].iter_frames())
    small = create_dataset(**frame_inputs(frames[:10]))
    bigger = extend_dataset(small, **frame_inputs(frames[5:20]))
    assert bigger.frame_uuids == [f.uuid for f in frames[:20]]
    assert bigger.creator.inputs.dataset.pk == small.pk  # the version chain is in the graph
    # the same configurations imported twice are duplicates under the same settings
    twice = merge_datasets(a=li2s['dataset'], b=import_frames_file_again(li2s))
    assert len(twice) == 80 and len(deduplicate_dataset(twice)) == 40


def import_frames_file_again(result):
    file = result['frames']['frame_00000'].creator.inputs.file
    with file.as_path() as path:
        return import_frames_file(path, origin='aimd', is_dft=False, backend='lj')['dataset']


def test_query_finds_the_processes_that_made_the_frames(imported):
    li2s, licl = imported
    merged = merge_datasets(a=li2s['dataset'], b=licl['dataset'])
    processes = labelling_processes(merged)
    assert [p.pk for p in processes] == sorted([li2s['dataset'].creator.pk, licl['dataset'].creator.pk])


@pytest.mark.parametrize(
    ('mutate', 'message'),
    [
        (lambda atoms: atoms.calc.results.__setitem__('stress', np.array([0.01, np.nan, 0, 0, 0, 0])), 'frame 3: stress contains NaN'),
        (lambda atoms: atoms.calc.results.pop('forces'), 'frame 3: missing forces'),
        (lambda atoms: atoms.calc.results.__setitem__('energy', float('nan')), 'frame 3: energy is nan'),
        (lambda atoms: atoms.symbols.__setitem__(0, 'Fe'), 'frame 3: element'),
    ],
)
def test_bad_frames_name_file_and_frame_and_store_nothing(aiida_profile, tmp_path, mutate, message):
    images = lj_frames(5, 3)
    mutate(images[3])
    path = write(images, tmp_path / 'bad.extxyz')
    before = node_count()
    with pytest.raises(FrameError, match=message) as info:
        import_frames_file(path)
    assert 'bad.extxyz' in str(info.value)
    assert node_count() == before


def test_mismatched_atom_counts_are_refused(aiida_profile, tmp_path):
    path = write(lj_frames(2, 5), tmp_path / 'short.extxyz')
    lines = path.read_text().splitlines()
    del lines[3]  # drop one atom line of the first frame: its count no longer matches
    path.write_text('\n'.join(lines) + '\n')
    with pytest.raises(FrameError, match='short.extxyz'):
        import_frames_file(path)


def test_dataset_rejects_repeated_frames(imported):
    first, second = list(imported[0]['dataset'].iter_frames())[:2]
    with pytest.raises(ValueError, match='twice'):
        DatasetData([first, second, first])
    assert DatasetData([second, first]).frame_uuids == [second.uuid, first.uuid]


# -- the frame's storage layout -------------------------------------------------------------------

def store_in_the_one_file_per_array_layout(frame) -> FrameData:
    """A frame stored as aiida-sei stored them before the single-file layout: one ``.npy`` per
    array (ArrayData's own ``set_array``) and the same attributes."""
    from aiida import orm

    from aiida_sei.data.frame import ARRAYS_HASH

    new = FrameData(frame, system='Li2S', origin='aimd')
    old = FrameData()
    for name in ('numbers', 'positions', 'cell', 'pbc', 'forces', 'stress'):
        orm.ArrayData.set_array(old, name, new.get_array(name))
    old.base.attributes.set_many({k: v for k, v in new.base.attributes.items() if not k.startswith('array|') and k != ARRAYS_HASH})
    return old.store()


def test_a_frame_is_one_checked_file_and_older_frames_still_load(aiida_profile):
    from aiida import orm

    from aiida_sei.science.frames import frame_from_atoms

    frame = frame_from_atoms(lj_frames(1, 7)[0])
    new = FrameData(frame, system='Li2S').store()
    assert new.base.repository.list_object_names() == ['frame.npz']
    old = store_in_the_one_file_per_array_layout(frame)
    assert sorted(old.base.repository.list_object_names()) == sorted(f'{name}.npy' for name in new.get_arraynames())
    for node in (orm.load_node(new.pk), orm.load_node(old.pk)):  # fresh instances: read from the repository
        loaded = node.get_frame()
        assert np.array_equal(loaded.forces, frame.forces) and np.array_equal(loaded.positions, frame.positions)
        assert np.array_equal(loaded.stress, frame.stress) and loaded.energy == pytest.approx(frame.energy, rel=1e-13)
        assert sorted(node.get_arraynames()) == sorted(new.get_arraynames())
    # both kinds of frame live side by side in a dataset and export alike
    mixed = DatasetData([orm.load_node(old.pk), orm.load_node(new.pk)])
    exported = [frame.get_frame() for frame in mixed.iter_frames()]
    assert np.array_equal(exported[0].forces, exported[1].forces)


def test_equal_frames_hash_alike_and_a_changed_force_changes_the_hash(aiida_profile):
    from aiida_sei.science.frames import frame_from_atoms

    frame = frame_from_atoms(lj_frames(1, 8)[0])
    first, second = (FrameData(frame, system='Li2S').store() for _ in range(2))
    assert first.base.caching.get_hash() == second.base.caching.get_hash() == first.base.caching.compute_hash()
    frame.forces[0, 0] += 1e-6
    assert FrameData(frame, system='Li2S').store().base.caching.get_hash() != first.base.caching.get_hash()


def test_arrays_that_no_longer_match_their_hash_are_refused(aiida_profile):
    """A frame whose arrays file was swapped (an edited archive, a damaged repository)."""
    import io

    from aiida import orm

    from aiida_sei.data.frame import ARRAYS_FILE, FrameIntegrityError
    from aiida_sei.science.frames import frame_from_atoms

    original, other = (frame_from_atoms(atoms) for atoms in lj_frames(2, 9))
    node = FrameData(original, system='Li2S')
    swapped = io.BytesIO()
    np.savez(swapped, **{name: FrameData(other).get_array(name) for name in node.get_arraynames()})
    node.base.repository.put_object_from_bytes(swapped.getvalue(), ARRAYS_FILE)
    node.store()
    with pytest.raises(FrameIntegrityError, match=f'frame<{node.pk}>: frame.npz does not match'):
        orm.load_node(node.pk).get_array('forces')


def test_an_import_interrupted_midway_leaves_nothing_behind(aiida_profile, tmp_path, monkeypatch):
    """Ctrl-C while the frames are being stored: the import's transaction is rolled back."""
    from aiida_sei.calculations.functions import dataset as module

    made = []

    def interrupted(frame, **metadata):
        if len(made) == 3:
            raise KeyboardInterrupt
        made.append(FrameData(frame, **metadata))
        return made[-1]

    monkeypatch.setattr(module, 'FrameData', interrupted)
    path = write(lj_frames(6, 10), tmp_path / 'six.extxyz')
    before = node_count()
    with pytest.raises(KeyboardInterrupt):
        import_frames_file(path, is_dft=False)
    assert len(made) == 3 and node_count() == before


def test_an_archive_of_a_replayed_dataset_holds_the_frames_it_names(aiida_profile, tmp_path):
    """A dataset step replayed from AiiDA's cache returns a copy that names the original frames;
    `export_run` puts those into the archive (without them an imported run cannot read its
    dataset)."""
    from aiida.manage.caching import enable_caching
    from aiida.tools.archive import create_archive
    from aiida.tools.archive.abstract import get_format
    from aiida.tools.graph.deletions import delete_nodes

    from aiida_sei.queries import export_run
    from aiida_sei.science.frames import frame_from_atoms

    frames = [frame_from_atoms(atoms) for atoms in lj_frames(2, 11)]
    with enable_caching():
        original = create_dataset(**{f'frame_{i}': FrameData(f, system='Li2S').store() for i, f in enumerate(frames)})
        inputs = {f'frame_{i}': FrameData(f, system='Li2S').store() for i, f in enumerate(frames)}
        replayed = create_dataset(**inputs)
    assert replayed.creator.base.caching.is_created_from_cache
    assert replayed.frame_uuids == original.frame_uuids != [inputs[k].uuid for k in sorted(inputs)]
    path = tmp_path / 'replay.aiida'
    export_run(replayed.creator, path)
    with get_format().open(path, 'r') as archive:
        stored = set(archive.querybuilder().append(orm.Node, project='uuid').all(flat=True))
    assert set(replayed.frame_uuids) <= stored
    create_archive([replayed.creator], filename=tmp_path / 'links-only.aiida')  # what a plain export misses
    with get_format().open(tmp_path / 'links-only.aiida', 'r') as archive:
        assert not set(replayed.frame_uuids) & set(archive.querybuilder().append(orm.Node, project='uuid').all(flat=True))
    # a frame the dataset names, deleted: refused, not an archive that cannot be read back
    delete_nodes([orm.load_node(original.frame_uuids[0]).pk], dry_run=False, create_forward=False)
    with pytest.raises(ValueError, match='1 node\\(s\\) the run refers to are not in this profile'):
        export_run(replayed.creator, tmp_path / 'broken.aiida')
    assert not (tmp_path / 'broken.aiida').exists()
