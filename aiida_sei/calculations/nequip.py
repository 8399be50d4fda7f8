"""``sei.nequip_train``: train an Allegro model with `nequip-train` and package it.

The job writes the training and validation frames as extxyz and the config generated from a
protocol (``aiida_sei.science.allegro``), runs `nequip-train` and then `nequip-package` on the
best checkpoint. The checkpoints stay in the remote folder (for restarts); the package, the
per-epoch metrics and the log come back.
"""

from __future__ import annotations

import yaml
from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import read_head, read_tail, set_serial_defaults
from aiida_sei.data import DatasetData, ModelData
from aiida_sei.science.allegro import INITIAL_PACKAGE_FILE, RUN_DIRECTORY, TRAIN_FILE, VALIDATION_FILE, is_fine_tuning
from aiida_sei.science.frames import write_extxyz

CONFIG_FILE = 'config.yaml'
PACKAGE_FILE = 'model.nequip.zip'
METRICS_FILE = f'{RUN_DIRECTORY}/metrics/version_0/metrics.csv'
LOG_FILE = f'{RUN_DIRECTORY}/train.log'
#: the training loss Lightning logs every step (shown as progress)
LOSS_COLUMN = 'train_loss_step/weighted_sum'
LAST_CHECKPOINT = f'{RUN_DIRECTORY}/last.ckpt'
RESTART_CHECKPOINT = 'restart.ckpt'
#: plain retrieve_list entries land under their base names
RETRIEVED_METRICS, RETRIEVED_LOG = 'metrics.csv', 'train.log'


def validate_inputs(inputs, namespace):
    """Non-empty datasets whose species the model config (or the model fine-tuned) covers, and
    an initial model exactly when the config fine-tunes one (checked before submission)."""
    if not {'config', 'dataset', 'validation'} <= set(namespace):
        return None  # exposed by a work chain that makes the config (or gets the data) at run time
    config = inputs['config'].get_dict()
    initial = inputs.get('initial_model')
    if is_fine_tuning(config) != (initial is not None):
        return 'a config that fine-tunes (ModelFromPackage) needs `initial_model`, and `initial_model` needs such a config'
    model_species = set(initial.species if initial is not None else config['training_module']['model']['type_names'])
    for name in ('dataset', 'validation'):
        dataset = inputs[name]
        if len(dataset) == 0:
            return f'the {name} dataset is empty'
        missing = set(dataset.elements) - model_species
        if missing:
            return f'the {name} dataset holds {", ".join(sorted(missing))}, which the model config lacks (type_names {sorted(model_species)})'
    return None


class NequipTrainCalculation(CalcJob):
    """`nequip-train` + `nequip-package`: the packaged model, metrics and learning curve."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'train'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('dataset', valid_type=DatasetData, help='Training frames.')
        spec.input('validation', valid_type=DatasetData, help='Validation frames.')
        spec.input('config', valid_type=orm.Dict, help='The nequip-train config (see aiida_sei.science.allegro).')
        spec.input('package_code', valid_type=orm.AbstractCode, help='`nequip-package` on the same computer.')
        spec.input('initial_model', valid_type=ModelData, required=False,
                   help='Fine-tune this packaged model (its weights, architecture and energy shifts) instead of training from scratch.')
        spec.input('restart_folder', valid_type=orm.RemoteData, required=False, help='Remote folder of an earlier training of the same config: resume from its last checkpoint.')
        spec.inputs.validator = validate_inputs
        set_serial_defaults(spec, 'sei.nequip_train')
        spec.output('model', valid_type=ModelData, help='The packaged model (.nequip.zip).')
        spec.output('metrics', valid_type=orm.Dict, help='Train and validation MAE/RMSE (energy per atom eV, forces eV/Å, stress eV/Å^3) of the packaged (best) epoch.')
        spec.output('learning_curve', valid_type=orm.ArrayData, help='Per-epoch training loss and validation metrics.')
        spec.exit_code(300, 'ERROR_MODEL_MISSING', message='No packaged model was produced: training or packaging failed (see train.log and aiida.out).')
        spec.exit_code(301, 'ERROR_METRICS_MISSING', message='The training wrote no metrics file.')
        spec.exit_code(310, 'ERROR_OUT_OF_MEMORY', message='The training ran out of memory.')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before training finished.')
        spec.exit_code(410, 'ERROR_NAN_LOSS', message='The training loss became NaN at epoch {epoch}.')

    @staticmethod
    def progress(workdir) -> str:
        """Epochs done out of max_epochs, and the last training loss, from the metrics file
        (Lightning writes each step's row as it comes; epochs count from 0)."""
        lines = read_tail(workdir / METRICS_FILE).splitlines()
        header = read_head(workdir / METRICS_FILE).split(',')
        rows = [line.split(',') for line in lines[1:] if len(line.split(',')) == len(header)]
        if not rows or not rows[-1][0].isdigit():
            return ''
        config = yaml.safe_load(read_tail(workdir / CONFIG_FILE, size=1 << 20) or '{}')
        text = f'epoch {int(rows[-1][0]) + 1}/{config.get("trainer", {}).get("max_epochs", "?")}'
        column = header.index(LOSS_COLUMN) if LOSS_COLUMN in header else None
        losses = [row[column] for row in rows if column is not None and row[column]]
        return f'{text}, loss {float(losses[-1]):.4g}' if losses else text

    def prepare_for_submission(self, folder):
        write_extxyz([f.get_frame() for f in self.inputs.dataset.iter_frames()], folder.get_abs_path(TRAIN_FILE))
        write_extxyz([f.get_frame() for f in self.inputs.validation.iter_frames()], folder.get_abs_path(VALIDATION_FILE))
        with folder.open(CONFIG_FILE, 'w') as handle:
            yaml.safe_dump(self.inputs.config.get_dict(), handle, sort_keys=False)

        train = datastructures.CodeInfo()
        train.code_uuid = self.inputs.code.uuid
        train.cmdline_params = ['--config-dir', '.', '--config-name', CONFIG_FILE, f'hydra.run.dir={RUN_DIRECTORY}']
        remote_copy_list = []
        local_copy_list = []
        if 'initial_model' in self.inputs:
            model = self.inputs.initial_model
            local_copy_list.append((model.uuid, model.filename, INITIAL_PACKAGE_FILE))
        if 'restart_folder' in self.inputs:
            restart = self.inputs.restart_folder
            remote_copy_list.append((restart.computer.uuid, f'{restart.get_remote_path()}/{LAST_CHECKPOINT}', RESTART_CHECKPOINT))
            train.cmdline_params.append(f'++ckpt_path={RESTART_CHECKPOINT}')
        train.stdout_name = self.metadata.options.output_filename
        package = datastructures.CodeInfo()
        package.code_uuid = self.inputs.package_code.uuid
        package.cmdline_params = ['build', f'{RUN_DIRECTORY}/best.ckpt', PACKAGE_FILE]

        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [train, package]
        calcinfo.codes_run_mode = datastructures.CodeRunMode.SERIAL
        calcinfo.remote_copy_list = remote_copy_list
        calcinfo.local_copy_list = local_copy_list
        calcinfo.provenance_exclude_list = [TRAIN_FILE, VALIDATION_FILE, INITIAL_PACKAGE_FILE]  # nodes already
        calcinfo.retrieve_list = [PACKAGE_FILE, METRICS_FILE, LOG_FILE, self.metadata.options.output_filename]
        return calcinfo
