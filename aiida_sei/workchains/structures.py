"""``sei.structures``: build a set of the paper's structures, each a node with its inputs; with
``relax``, first relax the crystals' lattices with DFT (sei.relax: GPAW or VASP) and build from those."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, calcfunction, if_

from aiida_sei.calculations.functions.structures import build_structure
from aiida_sei.protocols import ProtocolMixin, code_roles
from aiida_sei.science import catalogue, lattices
from aiida_sei.science.validation import StructureInputError
from aiida_sei.workchains import failure
from aiida_sei.workchains.relax import RelaxWorkChain, relax_inputs


def validate_structures(value, _):
    """Every entry needs a known kind and parameters that build; checked before anything runs."""
    if value is None:
        return None
    if not value.get_dict():
        return 'no structures requested'
    for label, entry in value.get_dict().items():
        if not label.isidentifier():
            return f'structure label {label!r} must be a Python identifier (it becomes an output link)'
        if not isinstance(entry, dict) or set(entry) - {'kind', 'parameters'} or 'kind' not in entry:
            return f'structure {label!r} needs a mapping with `kind` and optional `parameters`, got {entry!r}'
        try:
            catalogue.build(entry['kind'], entry.get('parameters'))
        except StructureInputError as exception:
            return f'structure {label!r}: {exception}'
    return None


def validate_phases(value, _):
    unknown = set(value.get_list()) - set(lattices.PHASES) if value is not None else set()
    return f'relax_phases: unknown {sorted(unknown)}; known: {", ".join(lattices.PHASES)}' if unknown else None


@calcfunction
def relaxed_lattices(**relaxed: orm.StructureData) -> orm.Dict:
    """Phase -> conventional lattice parameters (Å) of its relaxed unit cell."""
    return orm.Dict({phase: lattices.lattice_parameters(phase, structure.get_ase()) for phase, structure in relaxed.items()})


class StructuresWorkChain(ProtocolMixin, WorkChain):
    """Builds each requested structure with the ``build_structure`` calcfunction.

    With ``relax``, the unit cell of each phase in ``relax_phases`` is relaxed first and the
    structures take its lattice parameters (unless their parameters name them). Outputs
    ``structures.<label>`` (StructureData), ``info.<label>`` (Dict: formula, atom count, realised
    disorder, interface mismatch) and, with ``relax``, ``lattices`` (phase -> a, c in Å).
    """

    _protocol_file = 'structures'
    _open_keys = ('structures', 'relax')
    #: The DFT code that relaxes the crystals (only protocols with `relax` need it).
    CODES = {'relax': 'gpaw'}

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structures',
            valid_type=orm.Dict,
            validator=validate_structures,
            help='label -> {kind, parameters}; kinds as in `aiida-sei structure --help`.',
        )
        spec.expose_inputs(RelaxWorkChain, namespace='relax', exclude=('structure',),
                           namespace_options={'required': False, 'populate_defaults': False,
                                              'help': 'Relax the crystals first (sei.relax); left out: the lattice parameters of science/crystals.py.'})
        spec.input('relax_phases', valid_type=orm.List, required=False, validator=validate_phases,
                   help=f'Which phases to relax ({", ".join(lattices.PHASES)}); default: those the structures take.')
        spec.outline(if_(cls.should_relax)(cls.relax, cls.inspect_relaxations), cls.build)
        spec.output_namespace('structures', valid_type=orm.StructureData, dynamic=True)
        spec.output_namespace('info', valid_type=orm.Dict, dynamic=True)
        spec.output('lattices', valid_type=orm.Dict, required=False, help='Phase -> relaxed lattice parameters (a, c in Å).')
        spec.exit_code(400, 'ERROR_RELAXATION_FAILED', message='The relaxation of {phase} failed: {message}')

    @classmethod
    def get_builder_from_protocol(cls, codes=None, protocol: str | None = None, overrides: dict | None = None, options=None):
        """A builder with the structures of ``protocol`` (`paper` or `demo`), updated by
        ``overrides``. A protocol whose `relax` is set relaxes its phases with ``codes`` (role
        `relax`: GPAW, or VASP with `backend: vasp`) at the sei.relax protocol it names;
        ``options`` go to its jobs."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.structures = orm.Dict(inputs['structures'])
        if relax := inputs['relax']:
            code = code_roles(cls, codes)['relax']
            builder.relax = relax_inputs(code, relax, options)
            builder.relax_phases = orm.List(relax['phases'])
        return builder

    def _phases(self) -> list[str]:
        if 'relax_phases' in self.inputs:
            return self.inputs.relax_phases.get_list()
        kinds = {entry['kind'] for entry in self.inputs.structures.get_dict().values()}
        return sorted(set().union(*map(lattices.phases_of, kinds)))

    def should_relax(self):
        return 'relax' in self.inputs

    def relax(self):
        inputs = self.exposed_inputs(RelaxWorkChain, 'relax')
        running = {}
        for phase in self._phases():
            structure = orm.StructureData(ase=lattices.unit_cell(phase))
            metadata = {**inputs.get('metadata', {}), 'call_link_label': f'relax_{phase}'}
            running[phase] = self.submit(RelaxWorkChain, **{**inputs, 'structure': structure, 'metadata': metadata})
            self.report(f'relaxing {phase} ({len(structure.sites)} atoms): {running[phase].process_label}<{running[phase].pk}>')
        return ToContext(**{f'relax_{phase}': node for phase, node in running.items()})

    def inspect_relaxations(self):
        relaxations = {phase: self.ctx[f'relax_{phase}'] for phase in self._phases()}
        for phase, node in relaxations.items():
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_RELAXATION_FAILED.format(phase=phase, message=failure(node))
        relaxed = {phase: node.outputs.structure for phase, node in relaxations.items()}
        self.ctx.lattices = relaxed_lattices(**relaxed)
        self.out('lattices', self.ctx.lattices)
        self.report('relaxed lattices: ' + ', '.join(f'{phase} ' + ' '.join(f'{k} {v:.3f} Å' for k, v in values.items())
                                                     for phase, values in self.ctx.lattices.get_dict().items()))
        return None

    def build(self):
        entries = self.inputs.structures.get_dict()
        relaxed = self.ctx.lattices.get_dict() if 'lattices' in self.ctx else {}
        for number, (label, entry) in enumerate(entries.items(), start=1):
            given = entry.get('parameters') or {}
            taken = lattices.builder_parameters(entry['kind'], relaxed, given)
            parameters = catalogue.resolve_parameters(entry['kind'], {**taken, **given})
            outputs = build_structure(
                kind=orm.Str(entry['kind']),
                parameters=orm.Dict(parameters),
                **({'lattices': self.ctx.lattices} if taken else {}),
                metadata={'call_link_label': label, 'label': label},
            )
            self.out(f'structures.{label}', outputs['structure'])
            self.out(f'info.{label}', outputs['info'])
            self.report(f'[{number}/{len(entries)}] {label}: {outputs["info"]["formula"]} (structure<{outputs["structure"].pk}>)')
