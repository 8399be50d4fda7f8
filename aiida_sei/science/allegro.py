"""nequip/Allegro training configurations from a protocol (pure: dicts in, dict out).

The config is the one YAML file `nequip-train` reads (Hydra); everything a training does is in
it, so storing it as an input makes a training reproducible from its provenance.
"""

from __future__ import annotations

import numpy as np

#: Files the training job writes and reads, relative to its working directory.
TRAIN_FILE = 'train.extxyz'
VALIDATION_FILE = 'validation.extxyz'
RUN_DIRECTORY = 'outputs'
#: The packaged model a fine-tuning starts from, copied into the working directory.
INITIAL_PACKAGE_FILE = 'initial.nequip.zip'


def _mlp(prefix: str, settings: dict, nonlinearity) -> dict:
    return {
        f'{prefix}_mlp_hidden_layers_depth': settings['depth'],
        f'{prefix}_mlp_hidden_layers_width': settings['width'],
        f'{prefix}_mlp_nonlinearity': nonlinearity,
    }


def fit_energy_shifts(compositions: list[dict[str, int]], energies: list[float], species: list[str]) -> dict[str, float]:
    """Per-species energies (eV) that best explain the frames' total energies by least squares,
    E_frame ~ sum_s n_s mu_s: the shifts for data whose labeller has no table of its own. With
    collinear compositions (only Li2S, say) the minimum-norm solution is taken."""
    counts = np.array([[composition.get(s, 0) for s in species] for composition in compositions], float)
    solution, *_ = np.linalg.lstsq(counts, np.asarray(energies, float), rcond=None)
    return {s: float(value) for s, value in zip(species, solution)}


def composition_rank(compositions: list[dict[str, int]], species: list[str]) -> int:
    """How many independent compositions the frames span: below ``len(species)``, the fitted
    shifts are fixed only in combination (one composition fixes only its own total)."""
    counts = np.array([[composition.get(s, 0) for s in species] for composition in compositions], float)
    return int(np.linalg.matrix_rank(counts))


def allegro_model(species: list[str], architecture: dict, seed: int, model_dtype: str) -> dict:
    """The ``training_module.model`` block: an ``allegro.model.AllegroModel``."""
    shifts = architecture.get('per_type_energy_shifts') or {}
    fixed_shifts = all(s in shifts for s in species)
    model = {
        '_target_': 'allegro.model.AllegroModel',
        'seed': seed,
        'model_dtype': model_dtype,
        'type_names': list(species),
        'r_max': architecture['cutoff_radius'],
        'radial_chemical_embed': {
            '_target_': 'allegro.nn.TwoBodyBesselScalarEmbed',
            'num_bessels': architecture['num_bessels'],
            'bessel_trainable': False,
            'polynomial_cutoff_p': architecture['polynomial_cutoff_p'],
        },
        'radial_chemical_embed_dim': architecture['radial_chemical_embed_dim'],
        **_mlp('scalar_embed', architecture['scalar_embed_mlp'], architecture['nonlinearity']),
        'l_max': architecture['l_max'],
        'parity': architecture['parity'],
        'num_layers': architecture['num_layers'],
        'num_scalar_features': architecture['num_scalar_features'],
        'num_tensor_features': architecture['num_tensor_features'],
        'tp_path_channel_coupling': True,
        **_mlp('allegro', architecture['allegro_mlp'], architecture['nonlinearity']),
        **_mlp('readout', architecture['readout_mlp'], None),
        'avg_num_neighbors': '${training_data_stats:num_neighbors_mean}',
        'per_type_energy_shifts': {s: shifts[s] for s in species} if fixed_shifts else '${training_data_stats:per_atom_energy_mean}',
        'per_type_energy_scales': '${training_data_stats:forces_rms}',
        'per_type_energy_shifts_trainable': False,
        'per_type_energy_scales_trainable': False,
    }
    if architecture.get('zbl'):
        model['pair_potential'] = {'_target_': 'nequip.nn.pair_potential.ZBL', 'units': 'metal', 'chemical_species': list(species)}
    return model


#: nequip's model loader that a fine-tuning's model block names
FROM_PACKAGE = 'nequip.model.ModelFromPackage'


def fine_tuned_model() -> dict:
    """The ``training_module.model`` block of a fine-tuning: the weights, architecture and energy
    shifts of the package in :data:`INITIAL_PACKAGE_FILE`. The path is relative: training and
    packaging both run in the job's working directory."""
    return {'_target_': FROM_PACKAGE, 'package_path': INITIAL_PACKAGE_FILE}


def is_fine_tuning(config: dict) -> bool:
    return config['training_module']['model'].get('_target_') == FROM_PACKAGE


def training_config(species: list[str], protocol: dict, stress: bool = True, fine_tune: bool = False) -> dict:
    """The full `nequip-train` config for ``species`` from protocol inputs (see allegro.yaml).

    ``stress=False`` (some frames were labelled without stress, which is NaN in their files):
    the stress term leaves the loss and the metrics' weighted sum, and stress errors are reported
    over the frames that have one. nequip weighs loss terms per batch, not per frame, and a
    NaN-masked term is NaN for a batch of stress-less frames, so this is all-or-nothing.

    ``fine_tune``: the model starts from :data:`INITIAL_PACKAGE_FILE` (:func:`fine_tuned_model`);
    ``species`` and ``architecture.cutoff_radius`` must then be that model's.
    """
    architecture, training = protocol['architecture'], protocol['training']
    seed = protocol['seed']
    species = sorted(species)
    loader = {'_target_': 'torch.utils.data.DataLoader', 'batch_size': training['batch_size']}
    metrics = {
        '_target_': 'nequip.train.EnergyForceStressMetrics',
        'coeffs': {'per_atom_energy_mae': 1.0, 'forces_mae': 1.0, 'stress_mae': 1.0 if stress else None},
        'ignore_nan': {'stress': not stress},
    }
    loss = {'_target_': 'nequip.train.EnergyForceStressLoss', 'per_atom_energy': True,
            'coeffs': {**training['loss_coeffs'], **({} if stress else {'stress': None})}, 'ignore_nan': {'stress': not stress}}
    return {
        'run': ['train'],
        'seed': seed,
        'data': {
            '_target_': 'nequip.data.datamodule.ASEDataModule',
            'seed': seed,
            'train_file_path': TRAIN_FILE,
            'val_file_path': VALIDATION_FILE,
            'transforms': [
                {
                    '_target_': 'nequip.data.transforms.ChemicalSpeciesToAtomTypeMapper',
                    'model_type_names': species,
                    'chemical_species_to_atom_type_map': {s: s for s in species},
                },
                {'_target_': 'nequip.data.transforms.NeighborListTransform', 'r_max': architecture['cutoff_radius']},
            ],
            'train_dataloader': {**loader, 'shuffle': True},  # reshuffled every epoch
            'val_dataloader': loader,
            'stats_manager': {'_target_': 'nequip.data.CommonDataStatisticsManager', 'type_names': species},
        },
        'trainer': {
            '_target_': 'lightning.Trainer',
            'accelerator': training.get('accelerator', 'auto'),
            'max_epochs': training['max_epochs'],
            'check_val_every_n_epoch': 1,
            'log_every_n_steps': 1,
            'logger': {
                '_target_': 'lightning.pytorch.loggers.CSVLogger',
                'save_dir': '${hydra:runtime.output_dir}',
                'name': 'metrics',
                'version': 0,
                'flush_logs_every_n_steps': 1,  # rows on disk as they come: progress while it trains
            },
            'callbacks': [
                {
                    '_target_': 'lightning.pytorch.callbacks.ModelCheckpoint',
                    'monitor': 'val0_epoch/weighted_sum',
                    'dirpath': '${hydra:runtime.output_dir}',
                    'filename': 'best',
                    'save_last': True,
                },
            ],
        },
        'training_module': {
            '_target_': 'nequip.train.EMALightningModule',
            # the packaged (evaluation) model is the moving average of the weights: with 0.999 it
            # is ~98 % the initial weights after 20 steps, so short trainings need a lower decay
            'ema_decay': training.get('ema_decay', 0.999),
            'loss': loss,
            'val_metrics': metrics,
            'train_metrics': metrics,
            'optimizer': {'_target_': 'torch.optim.Adam', 'lr': training['learning_rate']},
            'model': fine_tuned_model() if fine_tune else allegro_model(species, architecture, seed, protocol['model_dtype']),
        },
    }
