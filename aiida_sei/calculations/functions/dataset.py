"""Dataset operations as calcfunctions, so every dataset version keeps its provenance.

A dataset references frames by UUID; the functions here make new versions without copying any
frame arrays. Frames passed as inputs are linked (``frame_00000``, ...), in dataset order.
"""

from __future__ import annotations

import pathlib

import numpy as np
from aiida import orm
from aiida.engine import calcfunction
from ase.data import chemical_symbols

from aiida_sei.data import DatasetData, FrameData
from aiida_sei.science.frames import guess_system, read_frames, settings_hash, split_indices, write_extxyz

EXPORT_FILENAME = 'dataset.extxyz'


def frame_inputs(frames) -> dict:
    """Frames as calcfunction keyword inputs with order-preserving link labels."""
    return {f'frame_{number:05d}': frame for number, frame in enumerate(frames)}


def _ordered(frames: dict) -> list:
    """Frames in the order of their link labels' numbers (``frame_00002`` before ``frame_00010``)."""
    return [frames[label] for label in sorted(frames, key=lambda label: int(label.rsplit('_', 1)[1]))]


@calcfunction
def create_dataset(**frames) -> DatasetData:
    """A dataset of the given frames (keyword inputs, ordered by link label)."""
    return DatasetData(_ordered(frames))


@calcfunction
def extend_dataset(dataset: DatasetData, **frames) -> DatasetData:
    """A new version of ``dataset`` with ``frames`` appended (frames already in it are skipped)."""
    present = set(dataset.frame_uuids)
    return DatasetData(list(dataset.iter_frames()) + [f for f in _ordered(frames) if f.uuid not in present])


@calcfunction
def merge_datasets(**datasets) -> DatasetData:
    """The union of datasets, in input order; a frame in several datasets appears once."""
    merged, seen = [], set()
    for label in sorted(datasets):
        for frame in datasets[label].iter_frames():
            if frame.uuid not in seen:
                seen.add(frame.uuid)
                merged.append(frame)
    return DatasetData(merged)


@calcfunction
def deduplicate_dataset(dataset: DatasetData) -> DatasetData:
    """Keep the first of frames with the same structure labelled with the same settings."""
    kept, seen = [], set()
    for frame in dataset.iter_frames():
        key = (frame.base.attributes.get('structure_hash'), frame.base.attributes.get('settings_hash', None))
        if key not in seen:
            seen.add(key)
            kept.append(frame)
    return DatasetData(kept)


def check_fractions(fractions: dict) -> None:
    if not fractions or any(f < 0 for f in fractions.values()) or abs(sum(fractions.values()) - 1) > 1e-9:
        raise ValueError(f'split fractions must be non-negative and sum to 1, got {fractions}')
    if any(not name.isidentifier() for name in fractions):
        raise ValueError(f'split names must be identifiers, got {list(fractions)}')


def split(dataset: DatasetData, fractions: dict, seed: int = 0, by_system: bool = False) -> dict:
    """Check, then split ``dataset`` with :func:`split_dataset` (paper: train 0.9, validation 0.1,
    at random; ``by_system``: held-out frames only from systems with frames to spare)."""
    check_fractions(fractions)
    return split_dataset(dataset, orm.Dict({'fractions': fractions, 'seed': seed, **({'by_system': True} if by_system else {})}))


@calcfunction
def split_dataset(dataset: DatasetData, parameters: orm.Dict) -> dict:
    """Split into named parts: ``parameters = {fractions: {train: 0.9, validation: 0.1}, seed: 0,
    by_system: false}`` (see :func:`~aiida_sei.science.frames.split_indices`)."""
    check_fractions(parameters['fractions'])
    return {name: DatasetData(part) for name, part in _split_frames(list(dataset.iter_frames()), parameters).items()}


def _split_frames(frames: list, parameters: orm.Dict) -> dict[str, list]:
    """``frames`` in the named parts of :func:`~aiida_sei.science.frames.split_indices`."""
    systems = [frame.base.attributes.get('system', None) or 'unknown' for frame in frames]
    indices = split_indices(systems, parameters['fractions'], int(parameters.get('seed', 0)), bool(parameters.get('by_system', False)))
    return {name: [frames[i] for i in part] for name, part in indices.items()}


@calcfunction
def extend_split(train: DatasetData, validation: DatasetData, parameters: orm.Dict, **frames) -> dict:
    """An earlier split kept and extended: ``train`` and ``validation`` each with their share of
    ``frames`` (split as :func:`split_dataset` by ``parameters``). What fine-tuning needs: a frame
    that trained a model never validates the model fine-tuned from it."""
    parts = _split_frames(_ordered(frames), parameters)
    return {'train': DatasetData(list(train.iter_frames()) + parts['train']),
            'validation': DatasetData(list(validation.iter_frames()) + parts['validation'])}


@calcfunction
def export_dataset(dataset: DatasetData) -> orm.SinglefileData:
    """The dataset as one extxyz file (energy, forces, stress per frame) for nequip."""
    import io
    import tempfile

    with tempfile.TemporaryDirectory() as directory:
        path = f'{directory}/{EXPORT_FILENAME}'
        write_extxyz([frame.get_frame() for frame in dataset.iter_frames()], path)
        with open(path, 'rb') as handle:
            return orm.SinglefileData(io.BytesIO(handle.read()), filename=EXPORT_FILENAME)


#: Import options that are not frame metadata: the ASE format, and what to accept from a VASP file.
IMPORT_OPTIONS = ('format', 'allow_truncated', 'allow_unconverged', 'settings_label')


def import_frames_file(path, **metadata) -> dict:
    """Import the frames of ``path`` with :func:`import_frames`, all or nothing.

    ``metadata``: frame metadata over :data:`IMPORT_DEFAULTS` (origin, is_dft, backend, system,
    condition) and :data:`IMPORT_OPTIONS` (``format``; ``allow_truncated``/``allow_unconverged``
    import the complete / unconverged steps of a VASP file, marked, instead of refusing it;
    ``settings_label`` names the level of theory of a file that does not record it, as extxyz).

    Bad files raise :class:`~aiida_sei.science.frames.FrameError` naming the file and frame, and
    nothing is stored: the import runs in one storage transaction, so a bad frame, an error or an
    interrupt (Ctrl-C) rolls back every node it made. One commit instead of one per frame is also
    what keeps storing N frames linear in N (each commit expires every node the session holds).
    """
    from aiida.manage import get_manager

    from aiida_sei.data.frame import IMPORT_DEFAULTS, METADATA_KEYS

    unknown = set(metadata) - set(METADATA_KEYS) - set(IMPORT_OPTIONS)
    if unknown:
        raise ValueError(f'unknown frame metadata {sorted(unknown)}; allowed: {", ".join(METADATA_KEYS + IMPORT_OPTIONS)}')
    with get_manager().get_profile_storage().transaction():
        return import_frames(file=orm.SinglefileData(pathlib.Path(path).resolve()), settings=orm.Dict({**IMPORT_DEFAULTS, **metadata}))


@calcfunction
def import_frames(file: orm.SinglefileData, settings: orm.Dict) -> dict:
    """Frames from a file labelled outside AiiDA (extxyz, FLARE _dft.xyz, vasprun.xml, OUTCAR).

    ``settings``: frame metadata (origin, default 'imported'; is_dft; backend; condition; system,
    guessed per frame when absent) and ``format``, the ASE reader. Outputs ``frames.frame_NNNNN`` and
    ``dataset``.
    """
    settings = settings.get_dict()
    options = {key: settings.pop(key) for key in IMPORT_OPTIONS if key in settings}
    with file.as_path() as path:
        frames = read_frames(path, fmt=options.get('format'), allow_truncated=options.get('allow_truncated', False),
                             allow_unconverged=options.get('allow_unconverged', False), settings_label=options.get('settings_label'))
    settings.setdefault('origin', 'imported')
    nodes = {}
    for number, frame in enumerate(frames):
        system = settings.get('system') or guess_system([chemical_symbols[z] for z in frame.numbers])
        if 'settings' in frame.info and 'settings_hash' not in frame.info:  # an extxyz's shared info and the user's label
            backend = frame.info.setdefault('backend', settings.get('backend') or 'imported')
            frame.info['settings_hash'] = settings_hash(backend, frame.info['settings'])
        nodes[f'frame_{number:05d}'] = FrameData(frame, **{**settings, 'system': system})
    return {'frames': nodes, 'dataset': DatasetData(_ordered(nodes))}
