"""``sei.active_learning``: FLARE's on-the-fly learning loop as a work chain, so that every DFT
call, frame and model is a node.

Loop (the paper's Fig. 1, step 1): jitter the structure by 0.01 Å, label it, build the first SGP;
then SGP MD segments (``sei.flare_md``) run until the largest per-atom uncertainty passes the
DFT threshold; the triggering frame is labelled with ``sei.label``, joins the dataset, and the
atoms above the atom threshold join the SGP (``update_sgp``), whose hyperparameters are retrained
while the SGP holds at most ``train_until`` frames. The MD continues from the exact state the
segment stopped in. A finished run is continued by passing its ``sgp``, ``dataset`` and ``state``
outputs back with a larger ``md.total_steps``.
"""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ToContext, WorkChain, if_, while_

from aiida_sei.calculations.flare_md import FlareMdCalculation
from aiida_sei.calculations.functions.active_learning import create_sgp, jitter_structure, update_sgp
from aiida_sei.calculations.functions.dataset import create_dataset, extend_dataset
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import DatasetData
from aiida_sei.data.md_state import MdStateData
from aiida_sei.data.sgp import SgpModelData
from aiida_sei.protocols import ProtocolMixin, code_roles
from aiida_sei.science.frames import guess_system
from aiida_sei.science.sgp import SGP_KEYS
from aiida_sei.workchains import failure
from aiida_sei.workchains.label import PER_FRAME, LabelWorkChain, label_inputs, submit_label

#: md input -> required or not; the segment parameters of sei.flare_md come from these.
MD_KEYS = {'temperature_K': True, 'pressure_GPa': False, 'timestep_fs': True, 'total_steps': True, 'segment_steps': True, 'thin': True, 'seed': True}


def validate_md(md, _):
    values = md.get_dict()
    unknown = set(values) - set(MD_KEYS)
    missing = [key for key, required in MD_KEYS.items() if required and key not in values]
    if unknown or missing:
        return f'md: unknown keys {sorted(unknown)}, missing keys {missing}; keys: {", ".join(MD_KEYS)}'
    if values['total_steps'] < 1 or values['segment_steps'] < 1:
        return 'md: total_steps and segment_steps must be >= 1'
    return None


def validate_sgp_settings(settings, _):
    missing = [key for key in SGP_KEYS if key not in settings.get_dict()]
    return f'sgp_settings lack {", ".join(missing)} (needs {", ".join(SGP_KEYS)})' if missing else None


def validate_thresholds(thresholds, _):
    values = thresholds.get_dict()
    if set(values) != {'dft', 'add_atom'}:
        return f'thresholds needs exactly `dft` and `add_atom`, got {sorted(values)}'
    if not 0 < values['add_atom'] <= values['dft']:
        return f'thresholds must satisfy 0 < add_atom <= dft, got {values}'
    return None


def validate_tolerance(tolerance, _):
    return None if tolerance.value >= 0 else f'hyperparameter_tolerance must be >= 0 (0: retrain at every label), got {tolerance.value}'


def validate_inputs(inputs, namespace):
    if 'structure' not in namespace:
        return None  # exposed by the sweep, which checks each of its structures
    if ('sgp' in inputs) != ('dataset' in inputs):
        return 'to continue a run give both `sgp` and `dataset` (and its `state` to continue the MD exactly)'
    species = set(inputs['structure'].get_ase().get_chemical_symbols())
    if 'sgp' in inputs and not species <= set(inputs['sgp'].species):
        return f'the SGP knows {", ".join(inputs["sgp"].species)}, the structure has {", ".join(sorted(species))}'
    return None


class ActiveLearningWorkChain(ProtocolMixin, WorkChain):
    """Grow a DFT dataset and a FLARE SGP by uncertainty-driven MD."""

    _protocol_file = 'active_learning'
    _open_keys = ('label',)  # overrides of sei.label's ports, which sei.label checks
    CODES = {'md': 'python', 'label': 'label'}
    NODES = ('structure',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='Where the MD starts.')
        spec.input('sgp_settings', valid_type=orm.Dict, validator=validate_sgp_settings, help=f'The SGP: {", ".join(SGP_KEYS)}.')
        spec.input('train_until', valid_type=orm.Int, default=lambda: orm.Int(1000), help='Retrain hyperparameters while the SGP holds at most this many frames.')
        spec.input('hyperparameter_tolerance', valid_type=orm.Float, default=lambda: orm.Float(0.0), validator=validate_tolerance,
                   help='Stop retraining the hyperparameters once a retraining changed none of them by more than this fraction '
                        '(0: retrain at every label up to train_until, as the paper).')
        spec.input('thresholds', valid_type=orm.Dict, validator=validate_thresholds, help='Uncertainty thresholds: `dft` (call DFT) and `add_atom` (add an environment).')
        spec.input('md', valid_type=orm.Dict, validator=validate_md, help=f'MD settings: {", ".join(MD_KEYS)}; no pressure_GPa (or null) means NVT.')
        spec.input('max_dft_calls', valid_type=orm.Int, help='Stop the loop after this many DFT calls (the first frame included).')
        spec.input('jitter', valid_type=orm.Float, default=lambda: orm.Float(0.01), help='Displacement (Å) of the first frame.')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system and condition of the frames.')
        spec.expose_inputs(FlareMdCalculation, namespace='md_job', include=('code', 'metadata'))
        spec.expose_inputs(LabelWorkChain, namespace='label', exclude=PER_FRAME, namespace_options={'help': 'How each frame is labelled (sei.label).'})
        spec.input('sgp', valid_type=SgpModelData, required=False, help='SGP of a run to continue.')
        spec.input('dataset', valid_type=DatasetData, required=False, help='Dataset of a run to continue.')
        spec.input('state', valid_type=MdStateData, required=False, help='MD state of a run to continue.')
        spec.inputs.validator = validate_inputs

        spec.outline(
            cls.setup,
            if_(cls.needs_first_frame)(cls.label_first_frame, cls.build_first_model),
            while_(cls.should_run_md)(
                cls.run_md,
                cls.inspect_md,
                if_(cls.dft_is_due)(cls.label_trigger, cls.update_model),
            ),
            cls.results,
        )
        spec.output('sgp', valid_type=SgpModelData, help='The final SGP.')
        spec.output('dataset', valid_type=DatasetData, help='Every labelled frame of the run (and of the run it continues).')
        spec.output('state', valid_type=MdStateData, required=False, help='Where the MD stopped: continue from here.')
        spec.exit_code(400, 'ERROR_LABEL_FAILED', message='Labelling a frame failed: {message}')
        spec.exit_code(401, 'ERROR_MD_FAILED', message='An MD segment failed (the frames labelled so far are outputs): {message}')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder for ``structure`` (None: a parent sets it) with the protocol's SGP, thresholds
        (by system: the paper used 0.0005/0.0001 for BCC Li, 0.15/0.03 for Li6PS5Cl and the
        interface), MD and labels; ``codes``: md (FLARE's Python) and label."""
        codes = code_roles(cls, codes)
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.thresholds = orm.Dict(inputs['thresholds'])
        if structure is not None:
            system = guess_system(structure.get_ase().get_chemical_symbols())
            builder.structure = structure
            builder.thresholds = orm.Dict(inputs['system_thresholds'].get(system, inputs['thresholds']))
            builder.frame_metadata = orm.Dict({'system': system, **(frame_metadata or {})})
        builder.sgp_settings = orm.Dict(inputs['sgp'])
        builder.train_until = orm.Int(inputs['train_until'])
        builder.hyperparameter_tolerance = orm.Float(inputs['hyperparameter_tolerance'])
        builder.md = orm.Dict(inputs['md'])
        builder.max_dft_calls = orm.Int(inputs['max_dft_calls'])
        builder.jitter = orm.Float(inputs['jitter'])
        builder.md_job.code = codes['md']
        builder.md_job.metadata.options = {**inputs['options'], **(options or {})}
        builder.label = label_inputs(codes['label'], inputs['label'])
        return builder

    # -- the loop ---------------------------------------------------------------------------

    def setup(self):
        self.ctx.sgp = self.inputs.get('sgp')
        self.ctx.dataset = self.inputs.get('dataset')
        self.ctx.state = self.inputs.get('state')
        self.ctx.dft_calls = 0
        self.ctx.settled = False  # hyperparameters no longer retrained
        self.ctx.iteration = 0
        md = self.inputs.md
        self.ctx.step = self.ctx.state.step if self.ctx.state else 0
        pressure = md.get('pressure_GPa')
        ensemble = 'NVT' if pressure is None else f'NPT at {pressure} GPa'
        self.report(f'MD from step {self.ctx.step} to {md["total_steps"]} ({md["total_steps"] * md["timestep_fs"] / 1000:g} ps), '
                    f'{ensemble}, {md["temperature_K"]} K; thresholds {self.inputs.thresholds.get_dict()}')

    def needs_first_frame(self):
        return self.ctx.sgp is None

    def _submit_label(self, structure, origin: str, trigger: dict):
        metadata = {**(self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {}), 'origin': origin, 'trigger': trigger}
        metadata.setdefault('condition', {k: self.inputs.md.get(k) for k in ('temperature_K', 'pressure_GPa')})
        return submit_label(self, structure, metadata)

    def label_first_frame(self):
        jittered = jitter_structure(self.inputs.structure, orm.Dict({'amplitude': self.inputs.jitter.value, 'seed': self.inputs.md['seed']}))
        node = self._submit_label(jittered, 'active_learning', {'reason': 'first frame', 'md_step': self.ctx.step})
        self.report(f'labelling the jittered start: {node.process_label}<{node.pk}>')
        return ToContext(label=node)

    def _labelled_frame(self):
        node = self.ctx.label
        if not node.is_finished_ok:
            return None, self.exit_codes.ERROR_LABEL_FAILED.format(message=failure(node))
        self.ctx.dft_calls += 1
        return node.outputs.frame, None

    def build_first_model(self):
        frame, error = self._labelled_frame()
        if error:
            return error
        self.ctx.sgp = create_sgp(frame, self.inputs.sgp_settings)
        self.ctx.dataset = create_dataset(frame_00000=frame)
        self.report(f'first SGP<{self.ctx.sgp.pk}> from frame<{frame.pk}> ({len(frame.get_array("numbers"))} atoms as sparse points)')
        return None

    def should_run_md(self):
        if self.ctx.dft_calls >= self.inputs.max_dft_calls.value:
            self.report(f'stopping: {self.ctx.dft_calls} DFT calls reached max_dft_calls')
            return False
        return self.ctx.step < self.inputs.md['total_steps']

    def run_md(self):
        md = self.inputs.md
        parameters = {
            'max_steps': min(md['segment_steps'], md['total_steps'] - self.ctx.step),
            'threshold': self.inputs.thresholds['dft'],
            'temperature_K': md['temperature_K'],
            'timestep_fs': md['timestep_fs'],
            'pressure_GPa': md.get('pressure_GPa'),
            'seed': md['seed'],
            'thin': md['thin'],
        }
        inputs = {**self.exposed_inputs(FlareMdCalculation, 'md_job'), 'sgp': self.ctx.sgp, 'parameters': orm.Dict(parameters)}
        if self.ctx.state is None:
            inputs['structure'] = self.inputs.structure
        else:
            inputs['state'] = self.ctx.state
        self.ctx.iteration += 1
        return ToContext(md=self.submit(FlareMdCalculation, **inputs))

    def inspect_md(self):
        node = self.ctx.md
        if not node.is_finished_ok:
            self._output_progress()  # the frames labelled so far stay usable
            return self.exit_codes.ERROR_MD_FAILED.format(message=failure(node))
        self.ctx.state = node.outputs.state
        self.ctx.step = self.ctx.state.step
        misc, threshold = node.outputs.misc, self.inputs.thresholds['dft']
        comparison = '>' if misc['triggered'] else '<='
        self.report(
            f'iteration {self.ctx.iteration}: MD {self.ctx.step * self.inputs.md["timestep_fs"] / 1000:.3f} ps (step {self.ctx.step}), '
            f'max uncertainty {misc["max_uncertainty"]:.4g} {comparison} {threshold}, labels so far {self.ctx.dft_calls}'
        )
        return None

    def dft_is_due(self):
        return 'trigger' in self.ctx.md.outputs

    def label_trigger(self):
        trigger = {'reason': 'uncertainty', 'max_uncertainty': self.ctx.md.outputs.misc['max_uncertainty'],
                   'threshold': self.inputs.thresholds['dft'], 'md_step': self.ctx.step}
        return ToContext(label=self._submit_label(self.ctx.md.outputs.trigger, 'active_learning', trigger))

    def update_model(self):
        frame, error = self._labelled_frame()
        if error:
            return error
        n_frames = self.ctx.sgp.n_training_structures + 1
        train = 2 <= n_frames <= self.inputs.train_until.value and not self.ctx.settled
        settings = {'add_threshold': self.inputs.thresholds['add_atom'], 'train': train}
        previous = self.ctx.sgp
        self.ctx.sgp = update_sgp(previous, frame, self.ctx.md.outputs.uncertainties, orm.Dict(settings))['sgp']
        self.ctx.dataset = extend_dataset(self.ctx.dataset, frame_00000=frame)
        retrained = ''
        if train:
            change = hyperparameter_change(previous, self.ctx.sgp)
            self.ctx.settled = change < self.inputs.hyperparameter_tolerance.value
            retrained = f', hyperparameters retrained (largest change {100 * change:.2g} %{"; settled, not retrained again" if self.ctx.settled else ""})'
        self.report(
            f'  label {self.ctx.dft_calls} ({_labeller(frame)}): frame<{frame.pk}> -> dataset of {len(self.ctx.dataset)}; '
            f'{self.ctx.sgp.base.attributes.get("atoms_added")} atoms added to SGP<{self.ctx.sgp.pk}>{retrained}'
        )
        return None

    def _output_progress(self):
        self.out('sgp', self.ctx.sgp)
        self.out('dataset', self.ctx.dataset)
        if self.ctx.state is not None:
            self.out('state', self.ctx.state)

    def results(self):
        self._output_progress()
        self.report(f'done: {self.ctx.dft_calls} labels, {len(self.ctx.dataset)} frames, MD step {self.ctx.step}')


def hyperparameter_change(before: SgpModelData, after: SgpModelData) -> float:
    """The largest relative change of a hyperparameter from ``before`` to ``after``."""
    old = np.array(before.base.attributes.get('hyperparameters'), float)
    new = np.array(after.base.attributes.get('hyperparameters'), float)
    return float(np.max(np.abs(new - old) / np.maximum(np.abs(old), 1e-12)))


def _labeller(frame) -> str:
    """``gpaw, DFT`` or ``ase:chgnet, stand-in, not DFT``: what labelled ``frame``."""
    attributes = frame.base.attributes
    return f'{attributes.get("backend", None)}, {"DFT" if attributes.get("is_dft", False) else "stand-in, not DFT"}'
