"""``sei.interface``: the paper's Fig. 1 as one work chain, from structures to the SEI.

structures (sei.structures) -> active learning (sei.active_learning.sweep, DFT labels) ->
Allegro (sei.allegro.train on a 90/10 split) -> refinement (sei.refinement) -> compilation for
LAMMPS (sei.nequip_compile) -> production MD (sei.lammps) -> classification (ACE -> PAk -> DPA
on frames of the production run, clusters labelled by the reference crystals) -> a summary whose
every number is read from the stored nodes.

Every step's settings are the exposed inputs of the work chain that runs it (namespaces
``structures``, ``active_learning``, ``allegro``, ``refinement``, ``compile``, ``production``), all
resolved by :meth:`InterfaceWorkChain.get_builder_from_protocol`; when the chain runs it only
adds what earlier steps made: structures, datasets and models.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction, if_

from aiida_sei.calculations.functions.classification import classify_structure, classify_trajectory, cluster_environments, label_clustering
from aiida_sei.calculations.functions.dataset import check_fractions, split
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
from aiida_sei.protocols import ProtocolMixin, child_inputs, code_roles, recursive_merge
from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.refinement import RefinementWorkChain
from aiida_sei.workchains.structures import StructuresWorkChain

#: Code roles -> the `aiida-sei setup` code that plays them on localhost (label: the backend's).
CODES = {'md': 'python', 'label': 'label', 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile', 'lammps': 'lmp'}


def validate_split(value, _):
    try:
        check_fractions({key: value[key] for key in ('train', 'validation')})
    except (KeyError, ValueError) as exception:
        return f'split: {exception} (give train, validation and seed)'
    return None


def validate_classification_settings(value, _):
    from aiida_sei.calculations.functions.classification import DEFAULT_SETTINGS

    unknown = set(value.get_dict()) - set(DEFAULT_SETTINGS)
    if unknown:
        return f'unknown classification settings {sorted(unknown)}; known: {", ".join(DEFAULT_SETTINGS)}'
    return None


def validate_inputs(inputs, _):
    """Every structure a step names is one that `structures` builds."""
    built = set(inputs['structures']['structures'].get_dict())
    named = {
        'active_learning.systems': inputs['active_learning']['systems'].get_list(),
        'production.system': [inputs['production']['system'].value],
        'classification.references': list(inputs['classification']['references'].get_dict().values()),
    }
    if inputs.get('refinement'):
        named['refinement.interface_system'] = [inputs['refinement']['interface_system'].value]
        named['refinement.product_systems'] = inputs['refinement']['product_systems'].get_list()
    for port, labels in named.items():
        unknown = [label for label in labels if label not in built]
        if unknown:
            return f'{port} names {", ".join(unknown)}, which `structures` does not build (it builds {", ".join(sorted(built))})'
    return None


@calcfunction
def trajectory_frames(trajectory: orm.TrajectoryData, count: orm.Int) -> dict:
    """``count`` frames spread evenly over ``trajectory`` (the last included), as structures."""
    import numpy as np

    steps = sorted(set(np.linspace(0, trajectory.numsteps - 1, min(count.value, trajectory.numsteps)).round().astype(int)))
    return {f'frame_{index:05d}': trajectory.get_step_structure(int(index)) for index in steps}


@calcfunction
def summarise(dataset, model_metrics: orm.Dict, thermo: orm.ArrayData, trajectory: orm.TrajectoryData, composition: orm.Dict) -> orm.Dict:
    """The run in numbers, from its nodes: frames and DFT calls, model errors, MD length, and the
    last frame's phase fractions (all Li and the SEI region)."""
    frames = list(dataset.iter_frames())
    times = trajectory.get_array('times') if 'times' in trajectory.get_arraynames() else [0.0]
    return orm.Dict({
        'frames': len(frames),
        'dft_frames': sum(bool(f.base.attributes.get('is_dft', False)) for f in frames),
        'frames_per_system': dataset.base.attributes.get('systems'),
        'model_metrics': model_metrics.get_dict(),
        'md_steps': int(thermo.get_array('step')[-1]),
        'md_time_ps': float(times[-1]),
        'md_frames': trajectory.numsteps,
        'atoms': len(trajectory.symbols),
        'phase_fractions': composition['fractions'],
        'sei_fractions': composition.get('sei_fractions'),
        'sei_composition': composition.get('sei_composition'),
    })


class InterfaceWorkChain(ProtocolMixin, WorkChain):
    """Structures -> active learning -> Allegro -> refinement -> LAMMPS -> SEI classification."""

    _protocol_file = 'interface'
    #: Overrides of the steps' own protocols are checked by those work chains, not here.
    _open_keys = ('label', 'active_learning.overrides', 'allegro.overrides', 'refinement.overrides', 'production.parameters', 'classification.settings')
    CODES = CODES

    @classmethod
    def define(cls, spec):
        super().define(spec)
        optional = {'required': False, 'populate_defaults': False}
        spec.expose_inputs(StructuresWorkChain, namespace='structures', namespace_options={'help': 'The cells of the study (sei.structures).'})
        spec.expose_inputs(ActiveLearningSweepWorkChain, namespace='active_learning', exclude=('structures',),
                           namespace_options={'help': 'Active learning over the conditions (sei.active_learning.sweep).'})
        spec.input('active_learning.systems', valid_type=orm.List, help='Which of `structures` active learning explores.')
        spec.input('split', valid_type=orm.Dict, validator=validate_split, help='Train/validation split of the dataset: {train, validation, seed}.')
        spec.expose_inputs(AllegroTrainingWorkChain, namespace='allegro', exclude=('train.dataset', 'train.validation'),
                           namespace_options={'help': 'Allegro training on the split (sei.allegro.train).'})
        spec.expose_inputs(RefinementWorkChain, namespace='refinement', exclude=('dataset', 'model', 'interface', 'products'),
                           namespace_options={**optional, 'help': 'The refinement (sei.refinement); leave it empty to skip it.'})
        spec.input('refinement.interface_system', valid_type=orm.Str, required=False, help='Which of `structures` is the refinement\'s interface.')
        spec.input('refinement.product_systems', valid_type=orm.List, required=False, help='Which of `structures` are the reaction products.')
        spec.expose_inputs(NequipCompileCalculation, namespace='compile', exclude=('model',),
                           namespace_options={'help': 'Compiling the final model for LAMMPS (sei.nequip_compile).'})
        spec.expose_inputs(LammpsMdCalculation, namespace='production', exclude=('structure', 'model'),
                           namespace_options={'help': 'Production MD with the compiled model (sei.lammps).'})
        spec.input('production.system', valid_type=orm.Str, help='Which of `structures` the production MD runs.')
        spec.input_namespace('classification', help='ACE -> PAk -> DPA on frames of the production run.')
        spec.input('classification.frames', valid_type=orm.Int, help='Frames of the trajectory the clustering is fitted on.')
        spec.input('classification.settings', valid_type=orm.Dict, validator=validate_classification_settings, help='Descriptor and clustering settings (n_components, Z, ...).')
        spec.input('classification.references', valid_type=orm.Dict, help='Phase name -> which of `structures` is its reference crystal.')
        spec.inputs.validator = validate_inputs
        spec.outline(
            cls.build_structures,
            cls.active_learning,
            cls.train,
            cls.inspect_training,
            if_(cls.should_refine)(cls.refine),
            cls.compile_model,
            cls.production,
            cls.classify,
            cls.results,
        )
        spec.output('dataset', help='The final training dataset.')
        spec.output('model', help='The final Allegro model (packaged).')
        spec.output('trajectory', valid_type=orm.TrajectoryData, help='The production trajectory.')
        spec.output('composition', valid_type=orm.ArrayData, help='Phase fractions of every production frame (Fig. 4c).')
        spec.output('summary', valid_type=orm.Dict, help='The run in numbers.')
        spec.exit_code(400, 'ERROR_STEP_FAILED', message='The {step} step failed: {message}')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None):
        """Builder running the whole pipeline with ``codes`` (roles: :data:`CODES`): each step's
        protocol (and its overrides) resolved into that step's exposed inputs. ``options`` go over
        the scheduler options of every job."""
        codes = code_roles(cls, codes)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.structures = StructuresWorkChain.get_builder_from_protocol(protocol=inputs['structures'])._inputs(prune=True)
        step = inputs['active_learning']
        builder.active_learning = {**_step('active_learning', ActiveLearningSweepWorkChain, codes, step, inputs['label'], options),
                                   'systems': orm.List(step['systems'])}
        builder.split = orm.Dict(inputs['split'])
        builder.allegro = _step('allegro', AllegroTrainingWorkChain, codes, inputs['allegro'], None, options)
        step = inputs['refinement']
        if step['enabled']:
            builder.refinement = {**_step('refinement', RefinementWorkChain, codes, step, inputs['label'], options),
                                  'interface_system': orm.Str(step['interface_system']), 'product_systems': orm.List(step['product_systems'])}
        builder.compile = {'code': codes['compile'], 'target': orm.Str('pair_allegro'),
                           'metadata': {'options': {**inputs['compile']['options'], **(options or {})}}}
        step = inputs['production']
        builder.production = {'code': codes['lammps'], 'parameters': orm.Dict(step['parameters']), 'system': orm.Str(step['system']),
                              'metadata': {'options': {**step['options'], **(options or {})}}}
        step = inputs['classification']
        builder.classification = {'frames': orm.Int(step['frames']), 'settings': orm.Dict(step['settings']), 'references': orm.Dict(step['references'])}
        return builder

    # -- helpers ---------------------------------------------------------------------------

    def _failed(self, step: str, node):
        if node.is_finished_ok:
            return None
        return self.exit_codes.ERROR_STEP_FAILED.format(step=step, message=f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message}')

    def _structure(self, label: str):
        return self.ctx.structures.outputs.structures[label]

    # -- steps ------------------------------------------------------------------------------

    def build_structures(self):
        node = self.submit(StructuresWorkChain, **self.exposed_inputs(StructuresWorkChain, 'structures'))
        self.report(f'1. structures: {node.process_label}<{node.pk}>')
        return ToContext(structures=node)

    def active_learning(self):
        if error := self._failed('structures', self.ctx.structures):
            return error
        structures = {label: self._structure(label) for label in self.inputs.active_learning.systems.get_list()}
        inputs = self.exposed_inputs(ActiveLearningSweepWorkChain, 'active_learning')
        node = self.submit(ActiveLearningSweepWorkChain, **inputs, structures=structures)
        self.report(f'2. active learning on {", ".join(structures)}: {node.process_label}<{node.pk}>')
        return ToContext(active_learning=node)

    def train(self):
        if error := self._failed('active-learning', self.ctx.active_learning):
            return error
        self.ctx.dataset = self.ctx.active_learning.outputs.dataset
        node = self._train(self.ctx.dataset)
        self.report(f'3. Allegro on {len(self.ctx.dataset)} frames: {node.process_label}<{node.pk}>')
        return ToContext(training=node)

    def _train(self, dataset):
        settings = self.inputs.split.get_dict()
        parts = split(dataset, {'train': settings['train'], 'validation': settings['validation']}, seed=settings['seed'])
        inputs = self.exposed_inputs(AllegroTrainingWorkChain, 'allegro')
        inputs['train'] = {**inputs['train'], 'dataset': parts['train'], 'validation': parts['validation']}
        return self.submit(AllegroTrainingWorkChain, **inputs)

    def inspect_training(self):
        if error := self._failed('training', self.ctx.training):
            return error
        self.ctx.model = self.ctx.training.outputs.model
        return None

    def should_refine(self):
        if 'refinement' in self.inputs:
            return True
        self.report('4. refinement: skipped (the protocol leaves the `refinement` inputs empty)')
        return False

    def refine(self):
        step = self.inputs.refinement
        products = {label: self._structure(label) for label in step.product_systems.get_list()}
        inputs = self.exposed_inputs(RefinementWorkChain, 'refinement')
        node = self.submit(RefinementWorkChain, **inputs, dataset=self.ctx.dataset, model=self.ctx.model,
                           interface=self._structure(step.interface_system.value), products=products)
        self.report(f'4. refinement: {node.process_label}<{node.pk}>')
        return ToContext(refinement=node)

    def compile_model(self):
        if 'refinement' in self.ctx:
            if error := self._failed('refinement', self.ctx.refinement):
                return error
            self.ctx.dataset, self.ctx.model = self.ctx.refinement.outputs.dataset, self.ctx.refinement.outputs.model
        node = self.submit(NequipCompileCalculation, **self.exposed_inputs(NequipCompileCalculation, 'compile'), model=self.ctx.model)
        self.report(f'5. compiling the model for LAMMPS: {node.process_label}<{node.pk}>')
        return ToContext(compiled=node)

    def production(self):
        if error := self._failed('compilation', self.ctx.compiled):
            return error
        system = self.inputs.production.system.value
        structure = self._structure(system)
        inputs = self.exposed_inputs(LammpsMdCalculation, 'production')
        node = self.submit(LammpsMdCalculation, **inputs, structure=structure, model=self.ctx.compiled.outputs.compiled)
        self.report(f'6. production MD of {system} ({len(structure.sites)} atoms, {inputs["parameters"]["steps"]} steps): {node.process_label}<{node.pk}>')
        return ToContext(production=node)

    def classify(self):
        if error := self._failed('production', self.ctx.production):
            return error
        step = self.inputs.classification
        trajectory = self.ctx.production.outputs.trajectory
        frames = trajectory_frames(trajectory, step.frames)
        clustering = cluster_environments(step.settings, **frames)
        references = {f'{label}__0': self._structure(source) for label, source in step.references.get_dict().items()}
        self.ctx.clustering = label_clustering(clustering, **references)
        self.ctx.series = classify_trajectory(self.ctx.clustering, trajectory)
        self.ctx.last = classify_structure(self.ctx.clustering, frames[sorted(frames)[-1]])
        self.report(f'7. classification: {len(set(self.ctx.clustering.labels))} labels over {len(self.ctx.clustering.labels)} clusters; '
                    f'last frame {self.ctx.last["fractions"]}')
        return None

    def results(self):
        production = self.ctx.production.outputs
        metrics = self.ctx.model.creator.outputs.metrics  # of the training that made the final model
        summary = summarise(self.ctx.dataset, metrics, production.thermo, production.trajectory, self.ctx.last)
        for name, node in (('dataset', self.ctx.dataset), ('model', self.ctx.model), ('trajectory', production.trajectory),
                           ('composition', self.ctx.series), ('summary', summary)):
            self.out(name, node)
        self.report(f'done: summary<{summary.pk}>')


def _step(name: str, workchain, codes: dict, step: dict, label: dict | None, options) -> dict:
    """The inputs of ``workchain`` for the interface's ``step`` ({protocol, overrides}), with the
    run's ``label`` settings over the step's own; a bad key names the step."""
    overrides = step['overrides'] if label is None else recursive_merge(step['overrides'], {'label': label})
    where = f'{name} step ({workchain.build_process_type().partition(":")[2]})'
    return child_inputs(where, workchain, codes, step['protocol'], overrides, options)  # code_roles picks the child's roles
