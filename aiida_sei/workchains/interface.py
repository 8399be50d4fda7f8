"""``sei.interface``: the paper's Fig. 1 as one work chain, from structures to the SEI.

structures (sei.structures) -> active learning (sei.active_learning.sweep, DFT labels) ->
Allegro (sei.allegro.train on a 90/10 split) -> refinement (sei.refinement) -> compilation for
LAMMPS (sei.nequip_compile) -> production MD (sei.lammps) -> classification (ACE -> PAk -> DPA
on frames of the production run, clusters labelled by the reference crystals) -> a summary whose
every number is read from the stored nodes.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction, if_

from aiida_sei.calculations.functions.classification import classify_structure, classify_trajectory, cluster_environments, label_clustering
from aiida_sei.calculations.functions.dataset import split
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
from aiida_sei.protocols import ProtocolMixin

#: Codes the chain needs: label -> what runs it.
CODES = ('md', 'label', 'train', 'package', 'compile', 'lammps')


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


def validate_codes(codes, _):
    missing = [label for label in CODES if label not in codes]
    if missing:
        return f'codes missing: {", ".join(missing)} (needs {", ".join(CODES)})'
    return None


class InterfaceWorkChain(ProtocolMixin, WorkChain):
    """Structures -> active learning -> Allegro -> refinement -> LAMMPS -> SEI classification."""

    _protocol_file = 'interface'
    #: Overrides of the steps' own protocols are checked by those work chains, not here.
    _open_keys = ('label', 'active_learning.overrides', 'allegro.overrides', 'refinement.overrides', 'production.parameters', 'classification.settings')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('codes', valid_type=orm.AbstractCode, dynamic=True, validator=validate_codes, help=f'Codes: {", ".join(CODES)}.')
        spec.input('protocol', valid_type=orm.Dict, help='The resolved sei.interface protocol (steps and their protocols).')
        spec.input('resources', valid_type=orm.Dict, required=False,
                   help='Hardware per step role (label, md, train, compile, production, ...): a resolved resource profile, '
                        'set by `aiida_sei.resources.apply_resources(builder, "cluster")`; absent: the steps\' own defaults.')
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
    def get_builder_from_protocol(cls, codes: dict, protocol=None, overrides=None):
        """Builder running the whole pipeline with ``codes`` (labels: :data:`CODES`)."""
        builder = cls.get_builder()
        builder.codes = codes
        builder.protocol = orm.Dict(cls.get_protocol_inputs(protocol, overrides))
        return builder

    # -- helpers ---------------------------------------------------------------------------

    def _step(self) -> dict:
        return self.inputs.protocol.get_dict()

    def _overrides(self, step: str) -> dict:
        """The overrides of ``step``'s protocol, with the run's ``label`` settings over its own."""
        from aiida_sei.protocols import recursive_merge

        return recursive_merge(self._step()[step]['overrides'], {'label': self._step()['label']})

    def _failed(self, step: str, node):
        if node.is_finished_ok:
            return None
        return self.exit_codes.ERROR_STEP_FAILED.format(step=step, message=f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message}')

    def _submit(self, builder):
        """Submit a step, with the scheduler options of its role when ``resources`` is given."""
        if 'resources' in self.inputs:
            from aiida_sei.resources import apply_profile

            apply_profile(builder, self.inputs.resources.get_dict())
        return self.submit(builder)

    def _structure(self, label: str):
        return self.ctx.structures.outputs.structures[label]

    # -- steps ------------------------------------------------------------------------------

    def build_structures(self):
        from aiida_sei.workchains.structures import StructuresWorkChain

        node = self.submit(StructuresWorkChain.get_builder_from_protocol(self._step()['structures']))
        self.report(f'1. structures: {node.process_label}<{node.pk}>')
        return ToContext(structures=node)

    def active_learning(self):
        from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain

        if error := self._failed('structures', self.ctx.structures):
            return error
        step = self._step()['active_learning']
        structures = {label: self._structure(label) for label in step['systems']}
        builder = ActiveLearningSweepWorkChain.get_builder_from_protocol(self.inputs.codes.md, self.inputs.codes.label, structures, step['protocol'], self._overrides('active_learning'))
        node = self._submit(builder)
        self.report(f'2. active learning on {", ".join(structures)}: {node.process_label}<{node.pk}>')
        return ToContext(active_learning=node)

    def _train(self, dataset):
        from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

        settings = self._step()['split']
        parts = split(dataset, {'train': settings['train'], 'validation': settings['validation']}, seed=settings['seed'])
        step = self._step()['allegro']
        builder = AllegroTrainingWorkChain.get_builder_from_protocol(
            self.inputs.codes.train, self.inputs.codes.package, parts['train'], parts['validation'], step['protocol'], step['overrides'])
        return self._submit(builder)

    def train(self):
        if error := self._failed('active-learning', self.ctx.active_learning):
            return error
        self.ctx.dataset = self.ctx.active_learning.outputs.dataset
        node = self._train(self.ctx.dataset)
        self.report(f'3. Allegro on {len(self.ctx.dataset)} frames: {node.process_label}<{node.pk}>')
        return ToContext(training=node)

    def inspect_training(self):
        if error := self._failed('training', self.ctx.training):
            return error
        self.ctx.model = self.ctx.training.outputs.model
        return None

    def should_refine(self):
        return self._step()['refinement']['enabled']

    def refine(self):
        from aiida_sei.workchains.refinement import CODES as REFINEMENT_CODES, RefinementWorkChain

        step = self._step()['refinement']
        codes = {label: self.inputs.codes[label] for label in REFINEMENT_CODES}
        products = {label: self._structure(label) for label in step['products']}
        builder = RefinementWorkChain.get_builder_from_protocol(
            codes, self.ctx.dataset, self.ctx.model, self._structure(step['interface']), products, step['protocol'], self._overrides('refinement'))
        node = self._submit(builder)
        self.report(f'4. refinement: {node.process_label}<{node.pk}>')
        return ToContext(refinement=node)

    def compile_model(self):
        if 'refinement' in self.ctx:
            if error := self._failed('refinement', self.ctx.refinement):
                return error
            self.ctx.dataset, self.ctx.model = self.ctx.refinement.outputs.dataset, self.ctx.refinement.outputs.model
        builder = NequipCompileCalculation.get_builder()
        builder.code = self.inputs.codes.compile
        builder.model = self.ctx.model
        builder.target = orm.Str('pair_allegro')
        node = self._submit(builder)
        self.report(f'5. compiling the model for LAMMPS: {node.process_label}<{node.pk}>')
        return ToContext(compiled=node)

    def production(self):
        if error := self._failed('compilation', self.ctx.compiled):
            return error
        step = self._step()['production']
        builder = LammpsMdCalculation.get_builder()
        builder.code = self.inputs.codes.lammps
        builder.structure = self._structure(step['structure'])
        builder.model = self.ctx.compiled.outputs.compiled
        builder.parameters = orm.Dict(step['parameters'])
        node = self._submit(builder)
        self.report(f'6. production MD of {step["structure"]} ({len(builder.structure.sites)} atoms, {step["parameters"]["steps"]} steps): {node.process_label}<{node.pk}>')
        return ToContext(production=node)

    def classify(self):
        if error := self._failed('production', self.ctx.production):
            return error
        step = self._step()['classification']
        trajectory = self.ctx.production.outputs.trajectory
        frames = trajectory_frames(trajectory, orm.Int(step['frames']))
        clustering = cluster_environments(orm.Dict(step['settings']), **frames)
        references = {f'{label}__0': self._structure(source) for label, source in step['references'].items()}
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
