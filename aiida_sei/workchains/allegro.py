"""``sei.allegro.train``: train and package an Allegro model, with restarts for what a retry fixes."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, calcfunction, process_handler, while_

from aiida_sei.calculations.nequip import NequipTrainCalculation
from aiida_sei.protocols import ProtocolMixin, code_roles, fill_builder
from aiida_sei.science.allegro import composition_rank, fit_energy_shifts, training_config

MIN_LEARNING_RATE = 1e-6


@calcfunction
def energy_shifts(dataset, validation, tables: orm.Dict) -> orm.Dict:
    """The per-species energy shifts (eV) of a training, and where they come from: the fixed table
    of the labelling backend when every frame has one backend that ``tables`` lists (the paper's
    VASP single-atom energies for VASP labels), else a least-squares fit over the training and
    validation frames. A shift is a constant of the level of theory that labelled the data, like
    the single-atom energies it stands in for; fitting it on the training split alone leaves a
    species seen only in validation (the demo's one Li2S frame) without one."""
    import re

    frames = [*dataset.iter_frames(), *validation.iter_frames()]
    species = sorted(set(dataset.elements) | set(validation.elements))
    backends = sorted({str(frame.base.attributes.get('backend', None)) for frame in frames})
    table = (tables.get_dict().get(backends[0]) or {}) if len(backends) == 1 else {}  # a null table: fitted
    if set(species) <= set(table):
        return orm.Dict({'shifts': {s: table[s] for s in species}, 'source': f'fixed: the table of {backends[0]} labels'})
    compositions = [{s: int(n) for s, n in re.findall(r'([A-Z][a-z]?)(\d+)', frame.base.attributes.get('formula'))} for frame in frames]
    shifts = fit_energy_shifts(compositions, [frame.energy for frame in frames], species)
    source = f'fitted by least squares over the {len(frames)} training and validation frames, labelled by {", ".join(backends)}'
    if (rank := composition_rank(compositions, species)) < len(species):
        source += (f'; the frames span {rank} independent composition(s) for {len(species)} species, so only combinations '
                   'of the shifts are fixed (minimum-norm solution): do not compare them across compositions')
    return orm.Dict({'shifts': shifts, 'source': source})


@calcfunction
def inherited_energy_shifts(model) -> orm.Dict:
    """The energy shifts of a fine-tuned model: those of the model it starts from, which
    nequip's ModelFromPackage keeps (fixed, not trained)."""
    shifts = model.base.attributes.get('architecture', {}).get('per_type_energy_shifts')
    return orm.Dict({'shifts': shifts if isinstance(shifts, dict) else {},
                     'source': 'kept from the initial model (fine-tuning keeps its shifts)'})


def _settings_error(what: str, value) -> str | None:
    """Whether a nequip config can be made with ``value`` as the ``what`` settings (a key it lacks)."""
    from aiida_sei.protocols import load_protocol_file

    try:
        training_config(['Li'], {**load_protocol_file('allegro')['default_inputs'], what: value.get_dict()})
    except KeyError as exception:
        return f'{what} lacks {exception}'
    return None


def validate_architecture(value, _):
    return _settings_error('architecture', value)


def validate_training(value, _):
    return _settings_error('training', value)


def validate_inputs(inputs, namespace):
    if 'dataset' not in namespace['train']:
        return None  # exposed by a work chain that splits its dataset when it runs
    for name in ('dataset', 'validation'):
        if len(inputs['train'][name]) == 0:
            return f'the {name} dataset is empty'
    if (initial := inputs['train'].get('initial_model')) is not None:
        missing = (set(inputs['train']['dataset'].elements) | set(inputs['train']['validation'].elements)) - set(initial.species)
        if missing:
            return f'the data hold {", ".join(sorted(missing))}, which the initial model lacks (its species: {", ".join(initial.species)})'
    theories = set()
    for name in ('dataset', 'validation'):
        theories |= set(inputs['train'][name].base.attributes.get('theories', {})) - {'unknown'}
    if len(theories) > 1 and not inputs.get('allow_mixed_theories', orm.Bool(False)).value:
        return (f'the training data mixes {len(theories)} levels of theory (frames labelled with different settings: '
                'dataset attribute `theories`); one model, one level of theory. Set allow_mixed_theories to train anyway')
    return None


class AllegroTrainingWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Runs :class:`NequipTrainCalculation`: a NaN loss halves the learning rate, running out of
    memory halves the batch size, hitting the walltime resumes from the last checkpoint."""

    _process_class = NequipTrainCalculation
    _protocol_file = 'allegro'
    _keys_are_ports = True
    #: Code roles -> the `aiida-sei setup` code that plays them on localhost.
    CODES = {'train': 'nequip-train', 'package': 'nequip-package'}
    NODES = ('dataset', 'validation')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(NequipTrainCalculation, namespace='train', exclude=('config',))
        spec.input('architecture', valid_type=orm.Dict, validator=validate_architecture,
                   help='The Allegro model: cutoff_radius, l_max, num_layers, ... (allegro.yaml explains each against the paper).')
        spec.input('training', valid_type=orm.Dict, validator=validate_training,
                   help='batch_size, learning_rate, max_epochs, loss_coeffs, accelerator.')
        spec.input('seed', valid_type=orm.Int, default=lambda: orm.Int(0), help='Seed of the weights and the data shuffling.')
        spec.input('energy_shifts', valid_type=orm.Dict, default=lambda: orm.Dict({}),
                   help='Fixed per-species energy shifts (eV) by labelling backend ({vasp: {Li: ..}}); data of other backends get fitted ones.')
        spec.input('allow_mixed_theories', valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help='Train on frames labelled at different levels of theory (different settings besides the k-points).')
        spec.input('model_dtype', valid_type=orm.Str, default=lambda: orm.Str('float32'), help='float32 or float64.')
        spec.inputs.validator = validate_inputs
        spec.outline(cls.setup, while_(cls.should_run_process)(cls.run_process, cls.inspect_process), cls.results)
        spec.expose_outputs(NequipTrainCalculation)
        spec.output('energy_shifts_used', valid_type=orm.Dict, required=False, help='The per-species energy shifts of the model and their source.')
        spec.exit_code(410, 'ERROR_NAN_UNRECOVERABLE', message='The loss is NaN even at learning rate {lr}.')
        spec.exit_code(310, 'ERROR_MEMORY_UNRECOVERABLE', message='Out of memory even with batch size 1.')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, dataset=None, validation=None):
        """Builder training on ``dataset`` (validated on ``validation``; both None: a parent
        sets them) with ``protocol`` (`fast`, `paper`); ``codes``: train and package. The model's
        species are those of the data, found when it runs."""
        codes = code_roles(cls, codes)
        builder = cls.get_builder()
        fill_builder(builder, cls.get_protocol_inputs(protocol, overrides))
        builder.train.code, builder.train.package_code = codes['train'], codes['package']
        if options:
            builder.train.metadata.options = {**builder.train.metadata.options, **options}
        if dataset is not None:
            builder.train.dataset, builder.train.validation = dataset, validation
        return builder

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(NequipTrainCalculation, 'train'))
        train = self.ctx.inputs
        initial = train.get('initial_model')
        if initial is not None:
            species = list(initial.species)
            shifts = inherited_energy_shifts(initial)
            self.report(f'fine-tuning model<{initial.pk}> (its weights, architecture and energy shifts)')
        else:
            species = sorted(set(train.dataset.elements) | set(train.validation.elements))
            shifts = energy_shifts(train.dataset, train.validation, self.inputs.energy_shifts)
        self.out('energy_shifts_used', shifts)
        self.report(f'energy shifts (eV) {", ".join(f"{s} {v:.4f}" for s, v in shifts["shifts"].items())}: {shifts["source"]}')
        without_stress = sum(data.base.attributes.get('frames_without_stress', 0) for data in (train.dataset, train.validation))
        if without_stress:
            self.report(f'{without_stress} of {len(train.dataset) + len(train.validation)} frames have no stress: '
                        'training on energies and forces only (stress errors over the frames that have one)')
        settings = self._settings(shifts['shifts'], initial)
        self.ctx.inputs.config = orm.Dict(training_config(species, settings, stress=not without_stress, fine_tune=initial is not None))

    def _settings(self, shifts: dict, initial=None) -> dict:
        architecture = {**self.inputs.architecture.get_dict(), 'per_type_energy_shifts': shifts}
        if initial is not None:
            architecture['cutoff_radius'] = initial.r_max  # the neighbour lists the model was built for
        return {'architecture': architecture, 'training': self.inputs.training.get_dict(),
                'seed': self.inputs.seed.value, 'model_dtype': self.inputs.model_dtype.value}

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
