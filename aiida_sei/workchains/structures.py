"""``sei.structures``: build a set of the paper's structures, each a node with its inputs."""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain

from aiida_sei.calculations.functions.structures import build_structure
from aiida_sei.protocols import ProtocolMixin
from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError


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


class StructuresWorkChain(ProtocolMixin, WorkChain):
    """Builds each requested structure with the ``build_structure`` calcfunction.

    Outputs ``structures.<label>`` (StructureData) and ``info.<label>`` (Dict: formula, atom
    count, realised disorder, interface mismatch).
    """

    _protocol_file = 'structures'
    _open_keys = ('structures',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input(
            'structures',
            valid_type=orm.Dict,
            validator=validate_structures,
            help='label -> {kind, parameters}; kinds as in `aiida-sei structure --help`.',
        )
        spec.outline(cls.build)
        spec.output_namespace('structures', valid_type=orm.StructureData, dynamic=True)
        spec.output_namespace('info', valid_type=orm.Dict, dynamic=True)

    @classmethod
    def get_builder_from_protocol(cls, codes=None, protocol: str | None = None, overrides: dict | None = None, options=None):
        """A builder with the structures of ``protocol`` (`paper` or `demo`), updated by
        ``overrides``; it runs no codes (``codes`` and ``options`` are there for the common signature)."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls.get_builder()
        builder.structures = orm.Dict(inputs['structures'])
        return builder

    def build(self):
        entries = self.inputs.structures.get_dict()
        for number, (label, entry) in enumerate(entries.items(), start=1):
            parameters = catalogue.resolve_parameters(entry['kind'], entry.get('parameters'))
            outputs = build_structure(
                kind=orm.Str(entry['kind']),
                parameters=orm.Dict(parameters),
                metadata={'call_link_label': label, 'label': label},
            )
            self.out(f'structures.{label}', outputs['structure'])
            self.out(f'info.{label}', outputs['info'])
            self.report(f'[{number}/{len(entries)}] {label}: {outputs["info"]["formula"]} (structure<{outputs["structure"].pk}>)')
