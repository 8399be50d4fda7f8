"""``sei.active_learning.sweep``: the paper's active-learning conditions, merged.

Each system runs ``sei.active_learning`` at every temperature (NPT at 0 GPa), then at the
reference temperature at every pressure (NPT) and every lattice expansion (NVT in the expanded
cell). Without ``curriculum`` the runs are submitted together (the daemon, or a cluster's
scheduler, runs them side by side), each from scratch. With it, the conditions of a system run one
after another from gentle to harsh (:func:`curriculum_order`), each starting from the SGP and
dataset the previous one ended with, so that what one condition learned is not labelled again at
the next; the systems still run side by side. With ``strains``, each structure (and each of
``strained_structures``) is also labelled strained isotropically by each of them, without MD: the
equation of state, which an NPT run of the model needs and short runs at a few conditions do not
teach. The datasets are merged per system and overall.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, append_, calcfunction, while_

from aiida_sei.calculations.functions.dataset import create_dataset, frame_inputs, merge_datasets
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import DatasetData
from aiida_sei.data.sgp import SgpModelData
from aiida_sei.protocols import ProtocolMixin
from aiida_sei.science.frames import guess_system
from aiida_sei.workchains import failure

from .active_learning import ActiveLearningWorkChain
from .label import LabelWorkChain


@calcfunction
def expand_structure(structure: orm.StructureData, expansion: orm.Float) -> orm.StructureData:
    """``structure`` with its lattice (and atoms) scaled by 1 + ``expansion``."""
    atoms = structure.get_ase()
    atoms.set_cell(atoms.cell.array * (1 + expansion.value), scale_atoms=True)
    return orm.StructureData(ase=atoms)


def conditions(sweep: dict) -> dict[str, dict]:
    """Condition name -> {temperature_K, pressure_GPa (None: NVT), expansion}."""
    reference = sweep['reference_temperature_K']
    result = {f'T{t:g}K': {'temperature_K': t, 'pressure_GPa': 0.0, 'expansion': 0.0} for t in sweep['temperatures_K']}
    result.update({f'P{p:g}GPa': {'temperature_K': reference, 'pressure_GPa': p, 'expansion': 0.0} for p in sweep['pressures_GPa']})
    result.update({f'E{round(100 * e):d}pct': {'temperature_K': reference, 'pressure_GPa': None, 'expansion': e} for e in sweep['expansions']})
    return result


def curriculum_order(conditions: dict[str, dict]) -> list[str]:
    """Condition names from gentle to harsh: the temperatures rising at 0 GPa, then the
    pressures rising, then the expansions rising (a pressure run is at the reference temperature,
    an expansion run NVT)."""
    def harshness(name):
        condition = conditions[name]
        return (condition['expansion'], condition['pressure_GPa'] or 0.0, condition['temperature_K'])
    return sorted(conditions, key=harshness)


def validate_conditions(value, _):
    for name, condition in value.get_dict().items():
        if not name.isidentifier() or set(condition) != {'temperature_K', 'pressure_GPa', 'expansion'}:
            return f'condition `{name}` must be an identifier with temperature_K, pressure_GPa, expansion; got {condition}'
    return None


def validate_strains(value, _):
    strains = value.get_list()
    if not all(isinstance(e, (int, float)) and -0.2 <= e <= 0.3 and e != 0 for e in strains):
        return f'strains are isotropic lattice strains between -0.2 and 0.3 (not 0), got {strains}'
    return None


def validate_inputs(inputs, namespace):
    if 'structures' not in namespace:
        return None  # exposed by sei.interface, which gives the structures when it runs
    if not inputs.get('structures'):
        return 'give at least one structure'
    for label, structure in {**inputs['structures'], **inputs.get('strained_structures', {})}.items():
        if error := validate_structure(structure, None):
            return f'{label}: {error}'
    return None


class ActiveLearningSweepWorkChain(ProtocolMixin, WorkChain):
    """Active learning for every system x condition; datasets merged per system and overall."""

    _protocol_file = 'active_learning'
    _open_keys = ('label',)
    CODES = ActiveLearningWorkChain.CODES
    NODES = ('structures',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input_namespace('structures', valid_type=orm.StructureData, dynamic=True, help='System label -> starting structure.')
        spec.input('conditions', valid_type=orm.Dict, validator=validate_conditions, help='Name -> temperature_K, pressure_GPa (null: NVT), expansion.')
        spec.input('curriculum', valid_type=orm.Bool, default=lambda: orm.Bool(False),
                   help='Run the conditions of a system one after another from gentle to harsh, each continuing the SGP and dataset of the one before; '
                        'otherwise all at once, each from scratch.')
        spec.input('system_thresholds', valid_type=orm.Dict, required=False, help='System name (Li, Li6PS5Cl, interface, ...) -> thresholds, over `active_learning.thresholds`.')
        spec.input_namespace('strained_structures', valid_type=orm.StructureData, dynamic=True, required=False,
                             help='Label -> structure labelled at the `strains` only, without active learning (e.g. the cell of a later NPT production).')
        spec.input('strains', valid_type=orm.List, required=False, validator=validate_strains,
                   help='Isotropic lattice strains (e.g. -0.03, 0.1): each structure, its cell and atoms scaled by 1 + each, is labelled '
                        'without MD (the equation of state; `active_learning.label` settings).')
        spec.expose_inputs(ActiveLearningWorkChain, namespace='active_learning', exclude=('structure', 'frame_metadata', 'sgp', 'dataset', 'state'))
        spec.inputs.validator = validate_inputs
        spec.outline(cls.setup, while_(cls.conditions_left)(cls.run_conditions), cls.merge)
        spec.output('dataset', valid_type=DatasetData, help='All frames of the sweep.')
        spec.output_namespace('datasets', valid_type=DatasetData, dynamic=True, help='Frames per system.')
        spec.output_namespace('sgps', valid_type=SgpModelData, dynamic=True, help='Final SGP per system and condition.')
        spec.exit_code(400, 'ERROR_RUNS_FAILED', message='Active learning failed for {runs}: no frames.')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structures=None):
        """Builder sweeping the protocol's conditions for ``structures`` (label -> StructureData;
        None: a parent sets them); ``codes``: md and label."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        single = ActiveLearningWorkChain.get_builder_from_protocol(codes, protocol, overrides, options)
        builder = cls.get_builder()
        if structures is not None:
            builder.structures = structures
        builder.conditions = orm.Dict(conditions(inputs['sweep']))
        builder.curriculum = orm.Bool(inputs['sweep']['curriculum'])
        if inputs['sweep'].get('strains'):
            builder.strains = orm.List(inputs['sweep']['strains'])
        builder.system_thresholds = orm.Dict(inputs['system_thresholds'])
        builder.active_learning = single._inputs(prune=True)
        return builder

    def _inputs_for(self, structure, condition: dict) -> dict:
        inputs = self.exposed_inputs(ActiveLearningWorkChain, 'active_learning')
        system = guess_system(structure.get_ase().get_chemical_symbols())
        if 'system_thresholds' in self.inputs and system in self.inputs.system_thresholds.get_dict():
            inputs['thresholds'] = orm.Dict(self.inputs.system_thresholds[system])
        inputs['md'] = orm.Dict({**inputs['md'].get_dict(), 'temperature_K': condition['temperature_K'], 'pressure_GPa': condition['pressure_GPa']})
        if condition['expansion']:
            structure = expand_structure(structure, orm.Float(condition['expansion']))
        inputs['structure'] = structure
        inputs['frame_metadata'] = orm.Dict({'system': system, 'condition': condition})
        return inputs

    def setup(self):
        """Stages of conditions: one stage of all of them, or one condition per stage in curriculum order."""
        names = curriculum_order(self.inputs.conditions.get_dict())
        self.ctx.stages = [[name] for name in names] if self.inputs.curriculum.value else [names]

    def conditions_left(self):
        return bool(self.ctx.stages)

    def run_conditions(self):
        running, conditions = {}, self.inputs.conditions.get_dict()
        for name in self.ctx.stages.pop(0):
            for label, structure in self.inputs.structures.items():
                inputs = self._inputs_for(structure, conditions[name])
                previous = self._last_run(label)
                if previous is not None:
                    inputs.update(sgp=previous.outputs.sgp, dataset=previous.outputs.dataset)
                node = self.submit(ActiveLearningWorkChain, **inputs)
                running[f'{label}__{name}'] = node
                start = f', from SGP<{inputs["sgp"].pk}> of {len(inputs["dataset"])} frames' if previous is not None else ''
                self.report(f'{label} at {name}: {node.process_label}<{node.pk}>{start}')
        if not self.ctx.get('strains_submitted'):  # with the first stage: they need no MD, and nothing to wait for
            self._label_strained()
        return ToContext(**running)

    def _last_run(self, label: str):
        """The latest run of system ``label`` with an SGP and dataset to continue (a run stopped
        by unstable MD still has them), or None."""
        runs = [self.ctx[key] for key in self.ctx if key.startswith(f'{label}__')]
        runs = [run for run in runs if 'sgp' in run.outputs and 'dataset' in run.outputs]
        return max(runs, key=lambda run: run.pk, default=None)

    def _label_strained(self):
        self.ctx.strains_submitted = True
        strains = self.inputs.strains.get_list() if 'strains' in self.inputs else []
        if not strains:
            return
        label, to_strain = self.exposed_inputs(ActiveLearningWorkChain, 'active_learning')['label'], self._to_strain()
        for name, structure in to_strain.items():
            system = guess_system(structure.get_ase().get_chemical_symbols())
            for strain in strains:
                metadata = {'system': system, 'origin': 'strain', 'condition': {'strain': strain}}
                node = self.submit(LabelWorkChain, **label, structure=expand_structure(structure, orm.Float(strain)), frame_metadata=orm.Dict(metadata))
                self.to_context(**{f'strained_{name}': append_(node)})
        self.report(f'labelling {", ".join(to_strain)} at the lattice strains {strains} (no MD): the equation of state')

    def _to_strain(self) -> dict:
        return {**self.inputs.structures, **self.inputs.get('strained_structures', {})}

    def _strained(self) -> dict[str, DatasetData]:
        """Structure label -> a dataset of its strained frames (failed labels reported and left out)."""
        datasets = {}
        for name in self._to_strain():
            nodes = self.ctx.get(f'strained_{name}', [])
            for node in nodes:
                if not node.is_finished_ok:
                    self.report(f'{name}: a strained frame was not labelled: {failure(node)}')
            frames = [node.outputs.frame for node in nodes if node.is_finished_ok]
            if frames:
                datasets[name] = create_dataset(**frame_inputs(frames))
        return datasets

    def merge(self):
        runs = {key: self.ctx[key] for key in sorted(self.ctx) if '__' in key}
        for key, node in runs.items():
            if not node.is_finished_ok:
                self.report(f'{key}: {failure(node)}; its frames so far are kept')
        runs = {key: node for key, node in runs.items() if 'dataset' in node.outputs}
        if not runs:
            return self.exit_codes.ERROR_RUNS_FAILED.format(runs='every condition')
        per_system = {}
        for key, node in runs.items():
            per_system.setdefault(key.split('__')[0], {})[key] = node.outputs.dataset
            self.out(f'sgps.{key}', node.outputs.sgp)
        for label, dataset in self._strained().items():
            per_system.setdefault(label, {})[f'{label}__strained'] = dataset
        for system, datasets in per_system.items():
            self.out(f'datasets.{system}', merge_datasets(**datasets))
        merged = merge_datasets(**{key: dataset for datasets in per_system.values() for key, dataset in datasets.items()})
        self.out('dataset', merged)
        self.report(f'{len(runs)} runs, {len(merged)} frames in all')
        return None
