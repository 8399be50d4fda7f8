"""``sei.ase.base``: a stand-in single point with a registered ASE calculator, with restarts."""

from __future__ import annotations

from aiida import orm

from aiida_sei.calculations.ase import AseCalculation

from .singlepoint import SinglePointBaseWorkChain


class AseBaseWorkChain(SinglePointBaseWorkChain):
    """Runs :class:`AseCalculation` (labels that are not DFT)."""

    _process_class = AseCalculation
    _namespace = 'ase'
    _protocol_file = 'ase'

    @classmethod
    def get_builder_from_protocol(cls, code, structure, protocol=None, overrides=None, frame_metadata=None, options=None):
        """Builder for a stand-in single point of ``structure`` with ``code`` (a Python with the calculator)."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls._protocol_builder(code, structure, inputs, frame_metadata, options)
        builder.ase.calculator = orm.Str(inputs['calculator'])
        builder.ase.parameters = orm.Dict(inputs['parameters'])
        return builder
