"""Read what a nequip training wrote: Lightning's per-epoch metrics CSV and the package metadata."""

from __future__ import annotations

import csv
import io
import math
import zipfile

import yaml

#: nequip metric names -> ours (energy per atom eV, forces eV/Å, stress eV/Å^3)
METRICS = {
    'per_atom_energy_mae': 'energy_per_atom_mae',
    'per_atom_energy_rmse': 'energy_per_atom_rmse',
    'forces_mae': 'forces_mae',
    'forces_rmse': 'forces_rmse',
    'stress_mae': 'stress_mae',
    'stress_rmse': 'stress_rmse',
}
SPLITS = {'train': 'train_metric_epoch', 'validation': 'val0_epoch'}


def learning_curve(csv_text: str) -> dict[str, list[float]]:
    """Per-epoch series: ``epoch``, ``train_loss`` and ``<split>_<metric>`` for both splits.

    Lightning writes one row per logging event with the other columns empty; values of one
    epoch are gathered into one entry (None where a value was never logged, NaN where the
    training logged NaN).
    """
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    epochs = sorted({int(row['epoch']) for row in rows if row.get('epoch') not in (None, '')})
    columns = {'train_loss': 'train_loss_epoch/weighted_sum', 'validation_weighted_sum': 'val0_epoch/weighted_sum'}
    for split, prefix in SPLITS.items():
        for theirs, ours in METRICS.items():
            columns[f'{split}_{ours}'] = f'{prefix}/{theirs}'
    curve = {'epoch': [float(e) for e in epochs]}
    for name, column in columns.items():
        by_epoch = {}
        for row in rows:
            if row.get(column) not in (None, ''):
                by_epoch[int(row['epoch'])] = float(row[column])
        curve[name] = [by_epoch.get(e) for e in epochs]
    return curve


def first_nan_epoch(curve: dict[str, list]) -> int | None:
    """The first epoch whose logged training loss is NaN, or None."""
    for epoch, loss in zip(curve['epoch'], curve['train_loss']):
        if loss is not None and math.isnan(loss):
            return int(epoch)
    return None


def best_epoch_metrics(curve: dict[str, list]) -> dict:
    """Train and validation metrics at the epoch with the lowest validation loss: the epoch of
    the ``best`` checkpoint, which is the one packaged."""
    scores = [math.inf if v is None else v for v in curve['validation_weighted_sum']]
    best = min(range(len(scores)), key=scores.__getitem__)
    return {
        'epochs': len(curve['epoch']),
        'best_epoch': int(curve['epoch'][best]),
        **{split: {ours: _known(curve[f'{split}_{ours}'][best]) for ours in METRICS.values()} for split in SPLITS},
    }


def _known(value):
    """None for a metric with nothing to measure (stress of a split whose frames have none)."""
    return None if value is None or math.isnan(value) else value


def package_metadata(package_bytes: bytes) -> dict:
    """``package_metadata.txt`` of a ``.nequip.zip``: atom types and the versions that built it."""
    from .archives import check_zip

    check_zip(package_bytes, 'model package')
    with zipfile.ZipFile(io.BytesIO(package_bytes)) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith('/package_metadata.txt')]
        return yaml.safe_load(archive.read(name))
