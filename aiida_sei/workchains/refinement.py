"""``sei.refinement``: the paper's refinement of the Allegro model (Fig. 1, step 3).

Each iteration: compile the current model for ASE, run MD of the interface (NPT) and of each
reaction product (NVT) with it (``sei.ase_md``), sample frames evenly from each trajectory,
label them (``sei.label``; origins ``refinement_md`` and ``product_md``), append them to the
dataset, split it 90/10, retrain (``sei.allegro.train``; from scratch, or with ``fine_tune`` from
the current model's weights) and validate old and new model on the new validation split. The
paper ran AIMD of the products; here the model's MD proposes the product frames and DFT labels
them, so every frame is a single-point DFT label.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction, while_

from aiida_sei.calculations.ase_md import AseMdCalculation, md_settings
from aiida_sei.calculations.functions.dataset import check_fractions, extend_dataset, extend_split, frame_inputs, split
from aiida_sei.calculations.functions.validation import validate_model
from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import CompiledModelData, DatasetData, ModelData
from aiida_sei.protocols import ProtocolMixin, child_inputs, code_roles
from aiida_sei.workchains import failure
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.label import PER_FRAME, LabelWorkChain, label_inputs, submit_label

INTERFACE = 'interface'
ORIGINS = {INTERFACE: 'refinement_md'}  # every product: 'product_md'


@calcfunction
def sample_trajectory(trajectory: orm.TrajectoryData, n_frames: orm.Int) -> dict:
    """``n_frames`` structures evenly spaced over the trajectory, step 0 (the input) excluded;
    all frames after step 0 when there are fewer. Outputs ``frame_00``, ``frame_01``, ..."""
    indices = sampled_indices(trajectory.numsteps, n_frames.value)
    return {f'frame_{k:02d}': trajectory.get_step_structure(int(i)) for k, i in enumerate(indices)}


def sampled_indices(numsteps: int, n_frames: int) -> list[int]:
    """Frame indices 1..numsteps-1, ``n_frames`` of them evenly spaced (ending at the last)."""
    if numsteps < 2 or n_frames < 1:
        return []
    return sorted({int(i) for i in np.round(np.linspace(1, numsteps - 1, min(n_frames, numsteps - 1)))})


def validate_md(value, _):
    values = value.get_dict()
    if set(values) != {INTERFACE, 'products'}:
        return f'md needs exactly `interface` and `products` (sei.ase_md parameters), got {sorted(values)}'
    try:
        for parameters in values.values():
            md_settings(parameters)
    except ValueError as exception:
        return f'md: {exception}'
    return None


def validate_split(value, _):
    try:
        check_fractions(value['fractions'])
    except (KeyError, ValueError) as exception:
        return f'split: {exception}'
    if set(value['fractions']) != {'train', 'validation'}:
        return f'split fractions must name `train` and `validation`, got {sorted(value["fractions"])}'
    return None


def validate_inputs(inputs, namespace):
    if 'model' not in namespace:
        return None  # exposed by sei.interface, which checks its structures
    creator = inputs['model'].creator
    if inputs.get('fine_tune', orm.Bool(False)).value and (creator is None or 'dataset' not in creator.inputs or 'validation' not in creator.inputs):
        return 'fine_tune needs a model trained by sei.nequip_train: its training and validation split is kept and extended'
    structures = {INTERFACE: inputs['interface'], **inputs.get('products', {})}
    species = set(inputs['model'].species or [])
    for name, structure in structures.items():
        missing = set(structure.get_symbols_set()) - species
        if missing:
            return f'{name} holds {", ".join(sorted(missing))}, which the model lacks (model species: {", ".join(sorted(species))})'
        if error := validate_structure(structure, None):
            return f'{name}: {error}'
    return None


class RefinementWorkChain(ProtocolMixin, WorkChain):
    """Refine an Allegro model with labelled frames of its own MD of the interface and products."""

    _protocol_file = 'refinement'
    CODES = {'md': 'python', 'label': 'label', 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile'}
    NODES = ('dataset', 'model', 'interface', 'products')
    #: The model MD and its compilation run on CPUs (aiida_sei.resources): both play `model_md`.
    RESOURCE_ROLES = {'md_job': 'model_md', 'compile_job': 'model_md'}
    _open_keys = ('training.overrides', 'label')  # passed on to sei.allegro.train and sei.label, which check them

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('dataset', valid_type=DatasetData, help='The dataset the model was trained on (active learning).')
        spec.input('model', valid_type=ModelData, help='The current packaged Allegro model.')
        spec.input('interface', valid_type=orm.StructureData, help='The Li | Li6PS5Cl | Li interface cell (NPT MD).')
        spec.input_namespace('products', valid_type=orm.StructureData, dynamic=True, help='Reaction products (NVT MD): li2s, li3p, licl.')
        spec.input('iterations', valid_type=orm.Int, default=lambda: orm.Int(2), help='Refinement iterations (paper: 2).')
        spec.input('n_frames', valid_type=orm.Int, help='Frames sampled from each trajectory per iteration.')
        spec.input('md', valid_type=orm.Dict, validator=validate_md, help='sei.ase_md parameters of the `interface` and `products` MD.')
        spec.input('split', valid_type=orm.Dict, validator=validate_split, help='{fractions: {train: 0.9, validation: 0.1}, seed: 0}')
        spec.input('fine_tune', valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help='Each retraining starts from the current model (fine-tuning: its weights, architecture and energy shifts) '
                        'instead of from scratch.')
        spec.expose_inputs(AseMdCalculation, namespace='md_job', include=('code', 'metadata'),
                           namespace_options={'help': 'The code and scheduler options of the model MD (sei.ase_md).'})
        spec.expose_inputs(NequipCompileCalculation, namespace='compile_job', include=('code', 'metadata'),
                           namespace_options={'help': 'The code and scheduler options of compiling each model for that MD (sei.nequip_compile).'})
        spec.expose_inputs(AllegroTrainingWorkChain, namespace='training', exclude=('train.dataset', 'train.validation', 'train.initial_model'),
                           namespace_options={'help': 'How each retraining runs (sei.allegro.train).'})
        spec.expose_inputs(LabelWorkChain, namespace='label', exclude=PER_FRAME, namespace_options={'help': 'How each frame is labelled (sei.label).'})
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            while_(cls.should_iterate)(
                cls.compile_model, cls.inspect_compile,
                cls.run_md, cls.inspect_md,
                cls.label_frames, cls.extend_dataset,
                cls.train, cls.inspect_training,
                cls.compile_model, cls.inspect_compile,
                cls.validate,
            ),
            cls.results,
        )
        spec.output('dataset', valid_type=DatasetData, help='The final dataset.')
        spec.output('model', valid_type=ModelData, help='The final packaged model.')
        spec.output('compiled_model', valid_type=CompiledModelData, help='The final model compiled for ASE on the CPU.')
        spec.output_namespace('iterations', dynamic=True, help='Per iteration (iteration_1, ...): dataset, model, errors, errors_before.')
        spec.exit_code(401, 'ERROR_COMPILE_FAILED', message='Compiling a model failed: {message}')
        spec.exit_code(402, 'ERROR_MD_FAILED', message='An MD run failed: {message}')
        spec.exit_code(403, 'ERROR_LABELS_FAILED', message='{failed} of {total} labels failed in iteration {iteration}: more than half.')
        spec.exit_code(404, 'ERROR_TRAINING_FAILED', message='Training failed: {message}')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, dataset=None, model=None, interface=None, products=None):
        """Builder refining ``model`` (trained on ``dataset``) with MD of ``interface`` and of each
        of ``products`` (all None: a parent sets them). ``codes``: :attr:`CODES`; ``options`` go
        over the protocol's options of the model MD, compile and training jobs."""
        codes = code_roles(cls, codes)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        if model is not None:
            builder.dataset, builder.model, builder.interface = dataset, model, interface
            builder.products = dict(products or {})
        builder.iterations = orm.Int(inputs['iterations'])
        builder.n_frames = orm.Int(inputs['n_frames'])
        builder.md = orm.Dict(inputs['md'])
        builder.split = orm.Dict(inputs['split'])
        builder.fine_tune = orm.Bool(inputs['fine_tune'])
        job_options = {**inputs['options'], **(options or {})}
        builder.md_job = {'code': codes['md'], 'metadata': {'options': job_options}}
        builder.compile_job = {'code': codes['compile'], 'metadata': {'options': job_options}}
        builder.training = child_inputs('training', AllegroTrainingWorkChain, codes, inputs['training']['protocol'], inputs['training']['overrides'], options)
        builder.label = label_inputs(codes['label'], inputs['label'])
        return builder

    # -- the loop ---------------------------------------------------------------------------

    def setup(self):
        self.ctx.iteration = 0
        self.ctx.dataset = self.inputs.dataset
        self.ctx.model = self.inputs.model
        self.ctx.compiled = None
        self.report(f'{self.inputs.iterations.value} iteration(s) from dataset<{self.ctx.dataset.pk}> ({len(self.ctx.dataset)} frames) '
                    f'and model<{self.ctx.model.pk}>; MD of the interface and {", ".join(self.inputs.products) or "no products"}')

    def should_iterate(self):
        return self.ctx.iteration < self.inputs.iterations.value

    def _structures(self) -> dict:
        return {INTERFACE: self.inputs.interface, **self.inputs.products}

    def compile_model(self):
        """Compile ``ctx.model`` for ASE, unless the previous validation compiled it already."""
        if self.ctx.compiled is not None and self.ctx.compiled.base.attributes.get('package_uuid') == self.ctx.model.uuid:
            return None
        inputs = self.exposed_inputs(NequipCompileCalculation, 'compile_job')
        inputs['metadata'] = {**inputs.get('metadata', {}), 'call_link_label': 'compile'}
        return ToContext(compile=self.submit(NequipCompileCalculation, **inputs, model=self.ctx.model, target=orm.Str('ase'), device=orm.Str('cpu')))

    def inspect_compile(self):
        node = self.ctx.get('compile')
        if node is None or (self.ctx.compiled is not None and self.ctx.compiled.base.attributes.get('package_uuid') == self.ctx.model.uuid):
            return None
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_COMPILE_FAILED.format(message=failure(node))
        self.ctx.compiled = node.outputs.compiled
        return None

    def run_md(self):
        self.ctx.iteration += 1
        md, calls = self.inputs.md.get_dict(), {}
        for name, structure in self._structures().items():
            parameters = md[INTERFACE] if name == INTERFACE else md['products']
            parameters = {**parameters, 'seed': md_settings(parameters)['seed'] + self.ctx.iteration}  # new velocities each iteration
            inputs = self.exposed_inputs(AseMdCalculation, 'md_job')
            inputs['metadata'] = {**inputs.get('metadata', {}), 'call_link_label': f'md_{name}'}
            calls[f'md_{name}'] = self.submit(AseMdCalculation, **inputs, structure=structure, model=self.ctx.compiled, parameters=orm.Dict(parameters))
        self.report(f'iteration {self.ctx.iteration}: MD with compiled model<{self.ctx.compiled.pk}> of {", ".join(self._structures())}')
        return ToContext(**calls)

    def inspect_md(self):
        for name in self._structures():
            node = self.ctx[f'md_{name}']
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_MD_FAILED.format(message=f'{name}: {failure(node)}')
        return None

    def label_frames(self):
        from aiida_sei.science.catalogue import check_atoms
        from aiida_sei.science.validation import StructureInputError

        calls, self.ctx.unphysical = {}, []
        for name in self._structures():
            md_node = self.ctx[f'md_{name}']
            condition = {'temperature_K': md_node.inputs.parameters.get('temperature', 300.0),
                         'pressure_GPa': md_node.inputs.parameters.get('pressure', 0.0) if name == INTERFACE else None}
            metadata = {'origin': ORIGINS.get(name, 'product_md'), 'condition': condition}
            frames = sample_trajectory(md_node.outputs.trajectory, self.inputs.n_frames)
            for label, structure in sorted(frames.items()):
                try:
                    check_atoms(structure.get_ase())  # the model's MD may have blown up: no DFT for that
                except StructureInputError as exception:
                    self.ctx.unphysical.append(f'label_{name}_{label}')
                    self.report(f'  skipping {name} {label}: {exception}')
                    continue
                calls[f'label_{name}_{label}'] = submit_label(self, structure, metadata)
        self.ctx.labels = sorted(calls)
        return ToContext(**calls)

    def extend_dataset(self):
        frames, failed = [], list(self.ctx.unphysical)
        for key in self.ctx.labels:
            node = self.ctx[key]
            if node.is_finished_ok:
                frames.append(node.outputs.frame)
            else:
                failed.append(key)
                self.report(f'  skipping {key}: {failure(node)}')
        total = len(self.ctx.labels) + len(self.ctx.unphysical)
        if len(failed) * 2 > total:
            return self.exit_codes.ERROR_LABELS_FAILED.format(failed=len(failed), total=total, iteration=self.ctx.iteration)
        before = len(self.ctx.dataset)
        if frames:
            self.ctx.dataset = extend_dataset(self.ctx.dataset, **frame_inputs(frames))
        if self.inputs.fine_tune:  # the model's own split, extended: none of its training frames validates its successor
            trained = self.ctx.model.creator.inputs
            self.ctx.parts = extend_split(trained.dataset, trained.validation, self.inputs.split, **frame_inputs(frames))
        else:
            self.ctx.parts = split(self.ctx.dataset, self.inputs.split['fractions'], self.inputs.split.get('seed', 0))
        self.report(f'iteration {self.ctx.iteration}: {len(frames)} frames labelled ({len(failed)} failed); dataset {before} -> '
                    f'{len(self.ctx.dataset)} frames (dataset<{self.ctx.dataset.pk}>), train {len(self.ctx.parts["train"])}, '
                    f'validation {len(self.ctx.parts["validation"])}')
        return None

    def train(self):
        inputs = self.exposed_inputs(AllegroTrainingWorkChain, 'training')
        inputs['train'] = {**inputs['train'], 'dataset': self.ctx.parts['train'], 'validation': self.ctx.parts['validation']}
        if self.inputs.fine_tune:
            inputs['train']['initial_model'] = self.ctx.model
        inputs['metadata'] = {**inputs.get('metadata', {}), 'call_link_label': 'train'}
        self.ctx.previous_compiled = self.ctx.compiled
        return ToContext(training=self.submit(AllegroTrainingWorkChain, **inputs))

    def inspect_training(self):
        node = self.ctx.training
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_TRAINING_FAILED.format(message=failure(node))
        self.ctx.model = node.outputs.model
        return None

    def validate(self):
        """Errors of the model before and after this iteration on the new validation split."""
        validation = self.ctx.parts['validation']
        before = validate_model(self.ctx.previous_compiled, validation)['errors']
        after = validate_model(self.ctx.compiled, validation)['errors']
        prefix = f'iterations.iteration_{self.ctx.iteration}'
        self.out(f'{prefix}.dataset', self.ctx.dataset)
        self.out(f'{prefix}.model', self.ctx.model)
        self.out(f'{prefix}.errors', after)
        self.out(f'{prefix}.errors_before', before)
        self.report(f'iteration {self.ctx.iteration}: validation ({before["all"]["frames"]} frames) energy MAE '
                    f'{_mev(before, "energy_per_atom_mae")} -> {_mev(after, "energy_per_atom_mae")} meV/atom, forces MAE '
                    f'{before["all"]["forces_mae"]:.4g} -> {after["all"]["forces_mae"]:.4g} eV/Å; model<{self.ctx.model.pk}>')

    def results(self):
        self.out('dataset', self.ctx.dataset)
        self.out('model', self.ctx.model)
        self.out('compiled_model', self.ctx.compiled)
        self.report(f'done: {self.ctx.iteration} iteration(s), dataset of {len(self.ctx.dataset)} frames, model<{self.ctx.model.pk}>')


def _mev(errors, key: str) -> str:
    return f'{errors["all"][key] * 1000:.3g}'
