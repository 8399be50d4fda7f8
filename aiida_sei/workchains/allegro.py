"""``sei.allegro.train``: train and package an Allegro model, with restarts for what a retry fixes."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_sei.calculations.nequip import NequipTrainCalculation
from aiida_sei.protocols import ProtocolMixin
from aiida_sei.science.allegro import training_config

MIN_LEARNING_RATE = 1e-6


class AllegroTrainingWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Runs :class:`NequipTrainCalculation`: a NaN loss halves the learning rate, running out of
    memory halves the batch size, hitting the walltime resumes from the last checkpoint."""

    _process_class = NequipTrainCalculation
    _protocol_file = 'allegro'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(NequipTrainCalculation, namespace='train')
        spec.outline(cls.setup, while_(cls.should_run_process)(cls.run_process, cls.inspect_process), cls.results)
        spec.expose_outputs(NequipTrainCalculation)
        spec.exit_code(410, 'ERROR_NAN_UNRECOVERABLE', message='The loss is NaN even at learning rate {lr}.')
        spec.exit_code(310, 'ERROR_MEMORY_UNRECOVERABLE', message='Out of memory even with batch size 1.')

    @classmethod
    def get_builder_from_protocol(cls, code, package_code, dataset, validation, protocol=None, overrides=None, options=None):
        """Builder training on ``dataset`` (validated on ``validation``) with ``protocol``
        (`fast`, `paper`); species come from the datasets."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        species = sorted(set(dataset.elements) | set(validation.elements))
        builder = cls.get_builder()
        builder.train.code = code
        builder.train.package_code = package_code
        builder.train.dataset = dataset
        builder.train.validation = validation
        builder.train.config = orm.Dict(training_config(species, inputs))
        builder.train.metadata.options = {**inputs['options'], **(options or {})}
        return builder

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(NequipTrainCalculation, 'train'))

    def _update_config(self, update) -> dict:
        config = self.ctx.inputs.config.get_dict()
        update(config)
        self.ctx.inputs.config = orm.Dict(config)
        return config

    @process_handler(priority=500, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_NAN_LOSS])
    def handle_nan_loss(self, node):
        """Halve the learning rate and train again."""
        lr = self.ctx.inputs.config['training_module']['optimizer']['lr']
        if lr / 2 < MIN_LEARNING_RATE:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_NAN_UNRECOVERABLE.format(lr=lr))
        self._update_config(lambda c: c['training_module']['optimizer'].update(lr=lr / 2))
        self.report(f'{node.process_label}<{node.pk}>: {node.exit_message}; learning rate {lr} -> {lr / 2}')
        return ProcessHandlerReport(True)

    @process_handler(priority=400, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_OUT_OF_MEMORY])
    def handle_out_of_memory(self, node):
        """Halve the batch size and train again."""
        size = self.ctx.inputs.config['data']['train_dataloader']['batch_size']
        if size <= 1:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_MEMORY_UNRECOVERABLE)

        def halve(config):
            for loader in ('train_dataloader', 'val_dataloader'):
                config['data'][loader]['batch_size'] = max(1, size // 2)

        self._update_config(halve)
        self.report(f'{node.process_label}<{node.pk}> ran out of memory; batch size {size} -> {max(1, size // 2)}')
        return ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=[NequipTrainCalculation.exit_codes.ERROR_OUT_OF_WALLTIME])
    def handle_out_of_walltime(self, node):
        """Resume from the last checkpoint in the failed job's remote folder."""
        self.ctx.inputs.restart_folder = node.outputs.remote_folder
        self.report(f'{node.process_label}<{node.pk}> hit the walltime; resuming from its last checkpoint')
        return ProcessHandlerReport(True)
