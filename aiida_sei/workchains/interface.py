"""``sei.interface``: the paper's Fig. 1 as one work chain, from structures to the SEI.

structures (sei.structures) -> active learning (sei.active_learning.sweep, DFT labels) ->
Allegro (sei.allegro.train on a 90/10 split) -> refinement (sei.refinement) -> compilation for
LAMMPS (sei.nequip_compile) -> production MD (sei.lammps.base; optionally a second one at an
elevated temperature) -> classification (ACE -> PAk -> DPA on frames of the production run,
clusters labelled by the reference crystals) -> test set (production frames labelled) -> DFT
check (clusters of the production labelled by DFT and by a stand-in labeller) -> a summary whose
every number is read from the stored nodes.

Every step's settings are the exposed inputs of the work chain that runs it (namespaces
``structures``, ``active_learning``, ``allegro``, ``refinement``, ``compile``, ``production``,
``test_set``, ``dft_check``), all
resolved by :meth:`InterfaceWorkChain.get_builder_from_protocol`; when the chain runs it only
adds what earlier steps made: structures, datasets and models.
"""

from __future__ import annotations

import re

from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction, if_

from aiida_sei.calculations.functions.analyses import li_msd_by_phase
from aiida_sei.calculations.functions.classification import (
    classify_structure, classify_trajectory, cluster_environments, interface_series, label_clustering, label_non_core_regions,
    label_unknown_clusters,
)
from aiida_sei.calculations.functions.dataset import check_fractions, create_dataset, frame_inputs, split
from aiida_sei.calculations.functions.validation import dft_check_errors, validate_model
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
from aiida_sei.science.classification import UNKNOWN
from aiida_sei.science.model_errors import production_check, volume_check
from aiida_sei.protocols import ProtocolMixin, child_inputs, code_roles, recursive_merge
from aiida_sei.workchains import failure
from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.lammps import LammpsBaseWorkChain
from aiida_sei.workchains.refinement import RefinementWorkChain
from aiida_sei.workchains.structures import StructuresWorkChain
from aiida_sei.workchains.label import PER_FRAME, LabelWorkChain, label_inputs, submit_label

#: Code roles -> the `aiida-sei setup` code that plays them on localhost (label: the backend's).
#: `dft`: the DFT code that checks the stand-in labeller on clusters of the production (dft_check).
CODES = {'md': 'python', 'label': 'label', 'relax': 'gpaw', 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile', 'lammps': 'lmp',
         'dft': 'gpaw'}


def validate_split(value, _):
    try:
        check_fractions({key: value[key] for key in ('train', 'validation')})
    except (KeyError, ValueError) as exception:
        return f'split: {exception} (give train, validation and seed; by_system optional)'
    unknown = set(value.get_dict()) - {'train', 'validation', 'seed', 'by_system'}
    if unknown:
        return f'split: unknown keys {sorted(unknown)}; known: train, validation, seed, by_system'
    return None


def validate_classification_settings(value, _):
    from aiida_sei.calculations.functions.classification import DEFAULT_SETTINGS

    unknown = set(value.get_dict()) - set(DEFAULT_SETTINGS)
    if unknown:
        return f'unknown classification settings {sorted(unknown)}; known: {", ".join(DEFAULT_SETTINGS)}'
    return None


def validate_reference_md(value, _):
    """`frames` (a positive integer) and LAMMPS parameters (checked with the production's)."""
    frames = value.get_dict().get('frames')
    if not isinstance(frames, int) or isinstance(frames, bool) or frames < 1:
        return f'reference_md: `frames` must be a positive integer (how many of its last frames are references), got {frames!r}'
    return None


def validate_phases(value, _):
    """Phase names become link labels of the labelling calcfunction's inputs."""
    bad = [name for name in value.get_dict() if not re.fullmatch(r'[A-Za-z][A-Za-z0-9_]*', name)]
    if bad:
        return f'phase names {bad} must be letters, digits and underscores (they label provenance links)'
    return None


def validate_inputs(inputs, _):
    """Every structure a step names is one that `structures` builds; the reference MD's parameters
    are valid LAMMPS parameters."""
    built = set(inputs['structures']['structures'].get_dict())
    classification = inputs['classification']
    named = {
        'active_learning.systems': inputs['active_learning']['systems'].get_list(),
        'production.system': [inputs['production']['system'].value],
        'classification.references': list(classification['references'].get_dict().values()),
        'classification.second_pass': list(classification['second_pass'].get_dict().values()) if 'second_pass' in classification else [],
    }
    if 'reference_md' in classification:
        from aiida_sei.science.lammps_md import MdSettingsError, md_settings

        try:
            md_settings(reference_md_parameters(inputs['production']['parameters'], classification['reference_md']))
        except MdSettingsError as exception:
            return f'classification.reference_md: {exception}'
    if inputs.get('dft_check') and not inputs.get('test_set'):
        return 'dft_check labels its clusters with the run\'s labeller too, whose settings are those of `test_set`: give `test_set` as well'
    if inputs.get('refinement'):
        named['refinement.interface_system'] = [inputs['refinement']['interface_system'].value]
        named['refinement.product_systems'] = inputs['refinement']['product_systems'].get_list()
    for port, labels in named.items():
        unknown = [label for label in labels if label not in built]
        if unknown:
            return f'{port} names {", ".join(unknown)}, which `structures` does not build (it builds {", ".join(sorted(built))})'
    return None


def reference_md_parameters(production: orm.Dict, reference_md: orm.Dict) -> dict:
    """The LAMMPS parameters of a reference crystal's MD: the production's, under those of
    ``reference_md`` (all of its keys but `frames`)."""
    return {**production.get_dict(), **{k: v for k, v in reference_md.get_dict().items() if k != 'frames'}}


@calcfunction
def last_frames(trajectory: orm.TrajectoryData, count: orm.Int) -> dict:
    """The last ``count`` frames of ``trajectory`` as structures (those furthest from the start)."""
    first = max(0, trajectory.numsteps - count.value)
    return {f'frame_{index:05d}': trajectory.get_step_structure(index) for index in range(first, trajectory.numsteps)}


@calcfunction
def trajectory_frames(trajectory: orm.TrajectoryData, count: orm.Int) -> dict:
    """``count`` frames spread evenly over ``trajectory`` (the last included), as structures."""
    import numpy as np

    steps = sorted(set(np.linspace(0, trajectory.numsteps - 1, min(count.value, trajectory.numsteps)).round().astype(int)))
    return {f'frame_{index:05d}': trajectory.get_step_structure(int(index)) for index in steps}


@calcfunction
def cut_clusters(trajectory: orm.TrajectoryData, count: orm.Int, radius: orm.Float, vacuum: orm.Float) -> dict:
    """``count`` clusters for DFT (science.dft_check), one per frame over ``trajectory`` (the last
    included): the atoms within ``radius`` of an S atom, in and next to the SEI and inside the
    electrolyte by turns; output ``regions`` says which each is."""
    import numpy as np

    from aiida_sei.science.dft_check import REGIONS, cluster_centre, cut_cluster

    steps = np.linspace(0, trajectory.numsteps - 1, count.value).round().astype(int)
    clusters, regions = {}, []
    for n, step in enumerate(steps):
        atoms = trajectory.get_step_structure(int(step)).get_ase()
        centre, region = cluster_centre(atoms, REGIONS[n % 2], seed=n)
        clusters[f'cluster_{n:03d}'] = orm.StructureData(ase=cut_cluster(atoms, centre, radius.value, vacuum.value))
        regions.append(region)
    return {**clusters, 'regions': orm.List(regions)}


@calcfunction
def summarise(dataset, model_metrics: orm.Dict, thermo: orm.ArrayData, trajectory: orm.TrajectoryData, composition: orm.Dict,
              first: orm.Dict, validation_errors: orm.Dict, test_errors: orm.Dict | None = None, dft_check: orm.Dict | None = None,
              elevated_trajectory: orm.TrajectoryData | None = None, elevated_last: orm.Dict | None = None,
              elevated_thermo: orm.ArrayData | None = None) -> orm.Dict:
    """The run in numbers, from its nodes: frames and DFT calls, model errors, MD length, the
    phase fractions of the first frame (the cell as built: Li metal and electrolyte) and of the
    last (all Li and the SEI region), with a test set whether the model stayed in its domain,
    with a DFT check the stand-in's and the model's errors against DFT, and the last frame of an
    elevated-temperature production; for each production, whether its cell kept its volume."""
    frames = list(dataset.iter_frames())
    times = trajectory.get_array('times') if 'times' in trajectory.get_arraynames() else [0.0]
    check = production_check(validation_errors['all'], test_errors['all']) if test_errors is not None else None
    return orm.Dict({
        'frames': len(frames),
        'dft_frames': sum(bool(f.base.attributes.get('is_dft', False)) for f in frames),
        'frames_per_system': dataset.base.attributes.get('systems'),
        'model_metrics': model_metrics.get_dict(),
        'md_steps': int(thermo.get_array('step')[-1]),
        'md_time_ps': float(times[-1]),
        'md_frames': trajectory.numsteps,
        'atoms': len(trajectory.symbols),
        'first_frame_fractions': first['fractions'],
        'phase_fractions': composition['fractions'],
        'beyond_reach': {'first': first.get('beyond_reach'), 'last': composition.get('beyond_reach')},
        'sei_fractions': composition.get('sei_fractions'),
        'sei_composition': composition.get('sei_composition'),
        'production_check': check,
        'volume_check': volume_check(thermo.get_array('volume')),
        'dft_check': None if dft_check is None else {who: dft_check[who]['all'] for who in ('stand_in', 'model')},
        'elevated': None if elevated_trajectory is None else {
            'temperature': elevated_trajectory.creator.inputs.parameters['temperature'],
            'md_time_ps': float(elevated_trajectory.get_array('times')[-1]) if 'times' in elevated_trajectory.get_arraynames() else 0.0,
            'phase_fractions': elevated_last['fractions'], 'sei_composition': elevated_last.get('sei_composition'),
            'beyond_reach': elevated_last.get('beyond_reach'),
            'volume_check': None if elevated_thermo is None else volume_check(elevated_thermo.get_array('volume'))},
    })


class InterfaceWorkChain(ProtocolMixin, WorkChain):
    """Structures -> active learning -> Allegro -> refinement -> LAMMPS -> SEI classification."""

    _protocol_file = 'interface'
    #: Overrides of the steps' own protocols are checked by those work chains, not here.
    _open_keys = ('label', 'dft_check.label', 'active_learning.overrides', 'allegro.overrides', 'refinement.overrides', 'production.parameters', 'classification.settings',
                  'classification.reference_md', 'classification.second_pass')
    CODES = CODES

    @classmethod
    def define(cls, spec):
        super().define(spec)
        optional = {'required': False, 'populate_defaults': False}
        spec.expose_inputs(StructuresWorkChain, namespace='structures', namespace_options={'help': 'The cells of the study (sei.structures).'})
        spec.expose_inputs(ActiveLearningSweepWorkChain, namespace='active_learning', exclude=('structures', 'strained_structures'),
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
        spec.expose_inputs(LammpsMdCalculation, namespace='production', exclude=('structure', 'model', 'parent_folder'),
                           namespace_options={'help': 'Production MD with the compiled model (sei.lammps, run by sei.lammps.base: '
                                                      'a walltime cut goes on from the last restart file).'})
        spec.input('production.system', valid_type=orm.Str, help='Which of `structures` the production MD runs.')
        spec.input('production.elevated_temperature', valid_type=orm.Float, required=False,
                   help='A second production of the same cell at this temperature (K), classified with the same clustering '
                        '(outputs `elevated.*`; the paper: faster SEI growth when heated).')
        spec.expose_inputs(LabelWorkChain, namespace='test_set', exclude=PER_FRAME,
                           namespace_options={**optional, 'help': 'DFT of frames of the production run, against which the final '
                                                                   'model is checked (the paper\'s test set); empty: skipped.'})
        spec.input('test_set.frames', valid_type=orm.Int, required=False, help='How many production frames, spread over the run, are labelled.')
        spec.expose_inputs(LabelWorkChain, namespace='dft_check', exclude=PER_FRAME,
                           namespace_options={**optional, 'help': 'DFT (the `dft` code) of clusters cut out of production frames, '
                                                                   'against which the stand-in labeller (the `test_set` settings) and '
                                                                   'the final model are checked; empty: skipped.'})
        spec.input('dft_check.clusters', valid_type=orm.Int, required=False, help='How many clusters, one per frame spread over the run.')
        spec.input('dft_check.radius', valid_type=orm.Float, required=False, help='Radius (Å) of each cluster around its S atom.')
        spec.input('dft_check.core_radius', valid_type=orm.Float, required=False, help='Forces are compared within this radius (Å) of the centre.')
        spec.input('dft_check.vacuum', valid_type=orm.Float, required=False, help='Vacuum (Å) between periodic images of a cluster.')
        spec.input_namespace('classification', help='ACE -> PAk -> DPA on frames of the production run.')
        spec.input('classification.frames', valid_type=orm.Int, help='Frames of the trajectory the clustering is fitted on.')
        spec.input('classification.settings', valid_type=orm.Dict, validator=validate_classification_settings, help='Descriptor and clustering settings (n_components, Z, ...).')
        spec.input('classification.references', valid_type=orm.Dict, validator=validate_phases, help='Phase name -> which of `structures` is its reference crystal.')
        spec.input('classification.reference_md', valid_type=orm.Dict, required=False, validator=validate_reference_md,
                   help='MD of each reference crystal with the production model before it labels clusters (the paper: 300 K): '
                        'LAMMPS parameters over the production\'s, and `frames`, how many of its last dumped frames are '
                        'the reference. Absent: the static cells.')
        spec.input('classification.second_pass', valid_type=orm.Dict, required=False, validator=validate_phases,
                   help='Phase name -> which of `structures` names the clusters still unknown after the first pass, '
                        'without re-clustering (the paper: the ordered Li2S(1-2x)PxClx cells).')
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
            if_(cls.should_test)(cls.label_test_set, cls.check_test_set),
            if_(cls.should_check_dft)(cls.label_clusters, cls.check_stand_in),
            cls.results,
        )
        spec.output('dataset', help='The final training dataset.')
        spec.output('model', help='The final Allegro model (packaged).')
        spec.output('trajectory', valid_type=orm.TrajectoryData, help='The production trajectory.')
        spec.output('composition', valid_type=orm.ArrayData, help='Phase fractions of every production frame (Fig. 4c).')
        spec.output('time_series', valid_type=orm.ArrayData,
                    help='Per production frame: intact PS4, SEI thickness per side, Li PTM fractions, SEI composition (Fig. 2d).')
        spec.output('validation_errors', valid_type=orm.Dict, help='Errors of the compiled final model on its validation frames, per system (validate_model).')
        spec.output('test_errors', valid_type=orm.Dict, required=False,
                    help='Errors of the compiled final model on labelled production frames, per system (validate_model).')
        spec.output('li_msd', valid_type=orm.ArrayData, required=False,
                    help='Fig. 2b: window-averaged MSD of BCC and HCP Li, in plane and out of plane (li_msd_by_phase).')
        spec.output_namespace('elevated', required=False, help='The production at `production.elevated_temperature`.')
        spec.output('elevated.trajectory', valid_type=orm.TrajectoryData, help='Its trajectory.')
        spec.output('elevated.composition', valid_type=orm.ArrayData, help='Phase fractions of its frames, by the same clustering.')
        spec.output('elevated.time_series', valid_type=orm.ArrayData, help='Intact PS4, SEI thickness, ... of its frames.')
        spec.output('dft_check', valid_type=orm.Dict, required=False,
                    help='Errors of the stand-in labeller and of the final model against DFT on clusters of the production (dft_check_errors).')
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
        step = inputs['structures']
        builder.structures = child_inputs('structures', StructuresWorkChain, codes, step['protocol'], step.get('overrides'), options)
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
        if step.get('elevated_temperature') is not None:
            builder.production.elevated_temperature = orm.Float(step['elevated_temperature'])
        step = inputs['test_set']
        if step['enabled']:
            builder.test_set = {**label_inputs(codes['label'], inputs['label'], options), 'frames': orm.Int(step['frames'])}
        step = inputs['dft_check']
        if step['enabled']:
            builder.dft_check = {**label_inputs(codes['dft'], step['label'], options), 'clusters': orm.Int(step['clusters']),
                                 **{key: orm.Float(step[key]) for key in ('radius', 'core_radius', 'vacuum')}}
        step = inputs['classification']
        builder.classification = {'frames': orm.Int(step['frames']), 'settings': orm.Dict(step['settings']), 'references': orm.Dict(step['references']),
                                  **{key: orm.Dict(step[key]) for key in ('reference_md', 'second_pass') if step.get(key)}}
        return builder

    # -- helpers ---------------------------------------------------------------------------

    def _failed(self, step: str, node):
        if node.is_finished_ok:
            return None
        return self.exit_codes.ERROR_STEP_FAILED.format(step=step, message=failure(node))

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
        if 'strains' in inputs:  # the production cell's equation of state too: it runs NPT
            production = self.inputs.production.system.value
            if production not in structures:
                inputs['strained_structures'] = {production: self._structure(production)}
        node = self.submit(ActiveLearningSweepWorkChain, **inputs, structures=structures)
        self.report(f'2. active learning on {", ".join(structures)}: {node.process_label}<{node.pk}>')
        return ToContext(active_learning=node)

    def train(self):
        if error := self._failed('active-learning', self.ctx.active_learning):
            return error
        self.ctx.dataset = self.ctx.active_learning.outputs.dataset
        try:
            node = self._train(self.ctx.dataset)
        except ValueError as exception:  # inputs the training refuses (mixed levels of theory, ...): an exit, not a crash
            return self.exit_codes.ERROR_STEP_FAILED.format(step='training', message=str(exception))
        self.report(f'3. Allegro on {len(self.ctx.dataset)} frames: {node.process_label}<{node.pk}>')
        return ToContext(training=node)

    def _train(self, dataset):
        settings = self.inputs.split.get_dict()
        parts = split(dataset, {'train': settings['train'], 'validation': settings['validation']}, seed=settings['seed'],
                      by_system=settings.get('by_system', False))
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
        inputs = self.exposed_inputs(NequipCompileCalculation, 'compile')
        node = self.submit(NequipCompileCalculation, **inputs, model=self.ctx.model)
        self.report(f'5. compiling the model for LAMMPS: {node.process_label}<{node.pk}>')
        if 'refinement' in self.ctx:  # the refinement compiled its final model for ASE on the CPU already
            self.ctx.model_ase = self.ctx.refinement.outputs.compiled_model
            return ToContext(compiled=node)
        for_ase = self.submit(NequipCompileCalculation, **{**inputs, 'target': orm.Str('ase'), 'device': orm.Str('cpu')}, model=self.ctx.model)
        self.report(f'   and for ASE to check it on the validation frames: {for_ase.process_label}<{for_ase.pk}>')
        return ToContext(compiled=node, compiled_ase=for_ase)

    def production(self):
        if error := self._failed('compilation', self.ctx.compiled):
            return error
        if 'model_ase' not in self.ctx:
            if error := self._failed('compilation for ASE', self.ctx.compiled_ase):
                return error
            self.ctx.model_ase = self.ctx.compiled_ase.outputs.compiled
        validation = self.ctx.model.creator.inputs.validation  # the frames the final model was validated on
        self.ctx.validation = validate_model(self.ctx.model_ase, validation)
        errors = self.ctx.validation['errors']['all']
        self.report(f'   the compiled model on its {errors["frames"]} validation frames: E MAE {1000 * errors["energy_per_atom_mae"]:.1f} meV/atom, '
                    f'F RMSE {errors["forces_rmse"]:.3f} eV/Å (validate_model; parity: aiida-sei plot parity {self.ctx.model.pk})')
        system = self.inputs.production.system.value
        structure = self._structure(system)
        inputs = self.exposed_inputs(LammpsMdCalculation, 'production')
        model = self.ctx.compiled.outputs.compiled
        node = self.submit(LammpsBaseWorkChain, lammps={**inputs, 'structure': structure, 'model': model})
        self.report(f'6. production MD of {system} ({len(structure.sites)} atoms, {inputs["parameters"]["steps"]} steps): {node.process_label}<{node.pk}>')
        running = {'production': node}
        if 'elevated_temperature' in self.inputs.production:
            hot = orm.Dict({**inputs['parameters'].get_dict(), 'temperature': self.inputs.production.elevated_temperature.value})
            running['elevated'] = self.submit(LammpsBaseWorkChain, lammps={**inputs, 'parameters': hot, 'structure': structure, 'model': model})
            self.report(f'   and the same at {hot["temperature"]} K: {running["elevated"].process_label}<{running["elevated"].pk}>')
        if 'reference_md' in self.inputs.classification:
            parameters = orm.Dict(reference_md_parameters(inputs['parameters'], self.inputs.classification.reference_md))
            for source in sorted(set(self._phases().values())):
                running[f'reference_md_{source}'] = self.submit(LammpsBaseWorkChain, lammps={**inputs, 'parameters': parameters,
                                                                                              'structure': self._structure(source), 'model': model})
            self.report(f'   and MD of the reference crystals {", ".join(sorted(set(self._phases().values())))} '
                        f'({parameters["temperature"]} K, {parameters["steps"]} steps) with the same model')
        return ToContext(**running)

    def _phases(self) -> dict:
        """Phase name -> structure label of the references, first and second pass."""
        step = self.inputs.classification
        return {**step.references.get_dict(), **(step.second_pass.get_dict() if 'second_pass' in step else {})}

    def _references(self, phases: dict) -> dict:
        """``{phase}__{n}`` -> structure: the last frames of each reference crystal's MD, or the
        static cell when the protocol runs no reference MD."""
        references = {}
        for phase, source in phases.items():
            if 'reference_md' not in self.inputs.classification:
                references[f'{phase}__0'] = self._structure(source)
                continue
            frames = last_frames(self.ctx[f'reference_md_{source}'].outputs.trajectory, orm.Int(self.inputs.classification.reference_md['frames']))
            references.update({f'{phase}__{n}': frame for n, (_, frame) in enumerate(sorted(frames.items()))})
        return references

    def classify(self):
        if error := self._failed('production', self.ctx.production) or ('elevated' in self.ctx and self._failed('elevated production', self.ctx.elevated)):
            return error
        for source in sorted(set(self._phases().values())):
            if f'reference_md_{source}' in self.ctx and (error := self._failed(f'reference MD of {source}', self.ctx[f'reference_md_{source}'])):
                return error
        for name in ('production', 'elevated'):
            if name in self.ctx and not (check := volume_check(self.ctx[name].outputs.thermo.get_array('volume')))['trusted']:
                self.report(f'6. WARNING: {name}: {check["message"]}')
        step = self.inputs.classification
        trajectory = self.ctx.production.outputs.trajectory
        frames = trajectory_frames(trajectory, step.frames)
        # The fit samples the thermal ensemble: the first frame is the unrelaxed cell, whose
        # repeated ideal sites make density peaks of their own (it is classified all the same).
        thermal = {key: frame for key, frame in frames.items() if key != min(frames)} if len(frames) > 2 else frames
        references = self._references(step.references.get_dict())
        clustering = label_clustering(cluster_environments(step.settings, **thermal), **references)
        if absent := clustering.base.attributes.get('out_of_reach'):
            self.report(f'7. references the production does not hold (farther from it than its own environments are '
                        f'from each other), naming nothing: {", ".join(absent)}')
        if 'second_pass' in step:
            unknown = clustering.labels.count(UNKNOWN)
            second = self._references(step.second_pass.get_dict())
            clustering = label_unknown_clusters(clustering, **second)
            references.update(second)  # the non-core pass takes both passes' frames, not new copies of them
            named = f'{unknown - clustering.labels.count(UNKNOWN)} of {unknown} unknown clusters named' if unknown else 'no cluster was left unknown'
            self.report(f'7. second pass ({", ".join(step.second_pass.get_dict())}): {named}')
        if UNKNOWN in clustering.labels:  # the paper's last pass: references in the non-core regions of unknown clusters
            clustering = label_non_core_regions(clustering, **references)
            named = sorted({label for label, core in zip(clustering.non_core_labels, clustering.labels) if core == UNKNOWN and label != UNKNOWN})
            self.report(f'7. non-core pass: {clustering.labels.count(UNKNOWN)} clusters unknown in their cores; their non-core '
                        f'regions named {", ".join(named) or "by no reference within reach"}')
        self.ctx.clustering = clustering
        self.ctx.series = classify_trajectory(clustering, trajectory)
        self.ctx.numbers = interface_series(trajectory)
        if 'elevated' in self.ctx:
            self._classify_elevated(clustering)
        self._li_msd(trajectory)
        self.ctx.first = classify_structure(clustering, frames[sorted(frames)[0]])
        self.ctx.last = classify_structure(clustering, frames[sorted(frames)[-1]])
        fractions = ', '.join(f'{label} {parts["core"] + parts["non_core"]:.2f}' for label, parts in self.ctx.last['fractions'].items())
        self.report(f'7. classification: {len(set(clustering.labels))} labels over {len(clustering.labels)} clusters; '
                    f'Li of the last frame (core + non-core): {fractions}')
        return None

    def _classify_elevated(self, clustering):
        trajectory = self.ctx.elevated.outputs.trajectory
        self.ctx.elevated_series = classify_trajectory(clustering, trajectory)
        self.ctx.elevated_numbers = interface_series(trajectory)
        self.ctx.elevated_last = classify_structure(clustering, last_frames(trajectory, orm.Int(1))[f'frame_{trajectory.numsteps - 1:05d}'])
        ps4 = self.ctx.elevated_numbers.get_array('intact_ps4')
        self.report(f'7. the production at {self.inputs.production.elevated_temperature.value} K, same clustering: '
                    f'intact PS4 {ps4[0]:.0f} -> {ps4[-1]:.0f}')

    def _li_msd(self, trajectory):
        """Fig. 2b (MSD of BCC and HCP Li, in plane and out of plane) where the run has frames enough."""
        try:
            self.ctx.li_msd = li_msd_by_phase(trajectory)
        except ValueError as exception:  # too few frames: say so, the other analyses stand
            self.report(f'7. Li MSD by phase: not computed ({exception})')
            return
        msd = self.ctx.li_msd
        last = ', '.join(f'{phase} ({msd.base.attributes.get(f"{phase}_atoms")} Li) {msd.get_array(f"{phase}_in_plane")[-1]:.3f}/'
                         f'{msd.get_array(f"{phase}_out_of_plane")[-1]:.3f}' for phase in ('BCC', 'HCP'))
        self.report(f'7. Li MSD by phase at {msd.get_array("lag")[-1]:.3f} ps, in plane/out of plane (Å^2): {last}')

    def should_test(self):
        return 'test_set' in self.inputs

    def label_test_set(self):
        trajectory = self.ctx.production.outputs.trajectory
        frames = trajectory_frames(trajectory, self.inputs.test_set.frames)
        metadata = {'origin': 'production_test', 'system': self.inputs.production.system.value}
        running = {f'test_{name}': submit_label(self, frame, metadata, namespace='test_set') for name, frame in sorted(frames.items())}
        self.report(f'8. test set: labelling {len(running)} production frames ({", ".join(name.removeprefix("test_") for name in running)})')
        return ToContext(**running)

    def check_test_set(self):
        labels = [self.ctx[key] for key in sorted(self.ctx) if key.startswith('test_frame_')]
        failed = [node for node in labels if not node.is_finished_ok]
        if failed:
            return self._failed('test-set labelling', failed[0])
        dataset = create_dataset(**frame_inputs([node.outputs.frame for node in labels]))
        self.ctx.test_errors = validate_model(self.ctx.model_ase, dataset)['errors']
        errors = self.ctx.test_errors['all']
        self.report(f'8. test set: the final model on {errors["frames"]} labelled production frames: E MAE '
                    f'{1000 * errors["energy_per_atom_mae"]:.1f} meV/atom, F RMSE {errors["forces_rmse"]:.3f} eV/Å')
        check = production_check(self.ctx.validation['errors']['all'], errors)
        if not check['trusted']:
            self.report(f'8. WARNING: production {check["message"]}')
        return None

    def should_check_dft(self):
        return 'dft_check' in self.inputs

    def label_clusters(self):
        step = self.inputs.dft_check
        cut = cut_clusters(self.ctx.production.outputs.trajectory, step.clusters, step.radius, step.vacuum)
        self.ctx.cluster_regions = cut.pop('regions')
        metadata = {'origin': 'dft_check', 'system': self.inputs.production.system.value}
        running = {}
        for name, cluster in sorted(cut.items()):
            running[f'dft_{name}'] = submit_label(self, cluster, metadata, namespace='dft_check')
            running[f'stand_in_{name}'] = submit_label(self, cluster, metadata, namespace='test_set')
        sizes = ', '.join(str(len(cluster.sites)) for _, cluster in sorted(cut.items()))
        self.report(f'9. DFT check: {len(cut)} clusters of the production ({sizes} atoms; {", ".join(self.ctx.cluster_regions.get_list())}) '
                    f'labelled with DFT and with the stand-in')
        return ToContext(**running)

    def check_stand_in(self):
        labels = {key: self.ctx[key] for key in sorted(self.ctx) if key.startswith(('dft_cluster_', 'stand_in_cluster_'))}
        failed = [node for node in labels.values() if not node.is_finished_ok]
        if failed:
            return self._failed('DFT check', failed[0])
        frames = {key.replace('_cluster_', '_'): node.outputs.frame for key, node in labels.items()}
        self.ctx.dft_check = dft_check_errors(self.ctx.model_ase, self.inputs.dft_check.core_radius,
                                              self.ctx.cluster_regions, **frames)
        for who in ('stand_in', 'model'):
            errors = self.ctx.dft_check[who]['all']
            energy = errors['energy']
            energy = 'n/a (clusters not more than species)' if energy is None else f'{1000 * energy["energy_per_atom_mae"]:.1f} meV/atom'
            self.report(f'9. DFT check, {who.replace("_", "-")} vs DFT on {self.ctx.dft_check["clusters"]} clusters: core-atom F RMSE '
                        f'{errors["forces_rmse"]:.3f} eV/Å, E MAE after one shift per species {energy}')
        return None

    def results(self):
        production = self.ctx.production.outputs
        metrics = self.ctx.model.creator.outputs.metrics  # of the training that made the final model
        elevated = {'elevated_trajectory': self.ctx.elevated.outputs.trajectory, 'elevated_last': self.ctx.elevated_last,
                    'elevated_thermo': self.ctx.elevated.outputs.thermo} if 'elevated' in self.ctx else {}
        summary = summarise(self.ctx.dataset, metrics, production.thermo, production.trajectory, self.ctx.last, self.ctx.first,
                            self.ctx.validation['errors'], self.ctx.get('test_errors'), self.ctx.get('dft_check'), **elevated)
        for name, node in (('dataset', self.ctx.dataset), ('model', self.ctx.model), ('trajectory', production.trajectory),
                           ('composition', self.ctx.series), ('time_series', self.ctx.numbers),
                           ('validation_errors', self.ctx.validation['errors']), ('summary', summary)):
            self.out(name, node)
        if 'test_errors' in self.ctx:
            self.out('test_errors', self.ctx.test_errors)
        if 'li_msd' in self.ctx:
            self.out('li_msd', self.ctx.li_msd)
        if 'elevated' in self.ctx:
            self.out('elevated', {'trajectory': self.ctx.elevated.outputs.trajectory, 'composition': self.ctx.elevated_series,
                                  'time_series': self.ctx.elevated_numbers})
        if 'dft_check' in self.ctx:
            self.out('dft_check', self.ctx.dft_check)
        self.report(f'done: summary<{summary.pk}>')


def _step(name: str, workchain, codes: dict, step: dict, label: dict | None, options) -> dict:
    """The inputs of ``workchain`` for the interface's ``step`` ({protocol, overrides}), with the
    run's ``label`` settings over the step's own; a bad key names the step."""
    overrides = step['overrides'] if label is None else recursive_merge(step['overrides'], {'label': label})
    where = f'{name} step ({workchain.build_process_type().partition(":")[2]})'
    return child_inputs(where, workchain, codes, step['protocol'], overrides, options)  # code_roles picks the child's roles
