"""``sei.nequip_train`` parser: packaged model, final metrics and the learning curve."""

from __future__ import annotations

import io

import numpy as np
from aiida import orm
from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.nequip import PACKAGE_FILE, RETRIEVED_LOG, RETRIEVED_METRICS
from aiida_sei.data import ModelData
from aiida_sei.parsers import missing_output
from aiida_sei.science.training_metrics import best_epoch_metrics, first_nan_epoch, learning_curve, package_metadata

OUT_OF_MEMORY = ('out of memory', 'OutOfMemoryError', 'MemoryError')


class NequipTrainParser(Parser):
    """Failures first (memory, walltime, NaN), then the model and its metrics."""

    def _text(self, name: str) -> str:
        try:
            return self.retrieved.base.repository.get_object_content(name)
        except FileNotFoundError:
            return ''

    def parse(self, **kwargs) -> ExitCode | None:
        logs = self._text(RETRIEVED_LOG) + self._text(self.node.base.attributes.get('output_filename', 'aiida.out'))
        if any(marker in logs for marker in OUT_OF_MEMORY):
            return self.exit_codes.ERROR_OUT_OF_MEMORY
        csv_text = self._text(RETRIEVED_METRICS)
        if not csv_text:
            return missing_output(self, self.exit_codes.ERROR_METRICS_MISSING)
        curve = learning_curve(csv_text)
        self.out('learning_curve', self._curve_node(curve))
        nan_epoch = first_nan_epoch(curve)
        if nan_epoch is not None:
            return self.exit_codes.ERROR_NAN_LOSS.format(epoch=nan_epoch)
        self.out('metrics', orm.Dict(best_epoch_metrics(curve)))
        try:
            package = self.retrieved.base.repository.get_object_content(PACKAGE_FILE, mode='rb')
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_MODEL_MISSING)
        self.out('model', self._model_node(package))
        return None

    @staticmethod
    def _curve_node(curve: dict) -> orm.ArrayData:
        node = orm.ArrayData()
        for name, values in curve.items():
            node.set_array(name, np.array([np.nan if v is None else v for v in values], dtype=float))
        return node

    def _model_node(self, package: bytes) -> ModelData:
        metadata = package_metadata(package)
        initial = self.node.inputs.initial_model if 'initial_model' in self.node.inputs else None  # a fine-tuning keeps its architecture
        model_config = initial.base.attributes.get('architecture') if initial else self.node.inputs.config['training_module']['model']
        model = ModelData(io.BytesIO(package), filename=PACKAGE_FILE)
        model.set_model_metadata(
            species=[metadata['atom_types'][i] for i in sorted(metadata['atom_types'])],
            r_max=initial.r_max if initial else model_config['r_max'],
            versions=metadata['versions'],
            dataset_uuid=self.node.inputs.dataset.uuid,
            architecture=model_config,
        )
        return model
