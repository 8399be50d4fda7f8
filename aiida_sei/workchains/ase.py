"""Stand-in single points with a registered ASE calculator (never DFT): ``sei.ase.base`` runs
them as jobs, with restarts; ``sei.ase.inline`` in the work chain's own process, for many cheap
labels on one machine."""

from __future__ import annotations

from aiida import orm
from aiida.engine import WorkChain

from aiida_sei.calculations.ase import AseCalculation, validate_calculator
from aiida_sei.calculations.functions.stand_in import stand_in_single_point
from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import FrameData
from aiida_sei.protocols import ProtocolMixin, fill_builder

from .singlepoint import SinglePointBaseWorkChain


class AseBaseWorkChain(SinglePointBaseWorkChain):
    """Runs :class:`AseCalculation` (labels that are not DFT)."""

    _process_class = AseCalculation
    _namespace = 'ase'
    _protocol_file = 'ase'
    CODES = {'label': 'python'}


class AseInlineWorkChain(ProtocolMixin, WorkChain):
    """The single point of :class:`AseBaseWorkChain`, computed here by a calcfunction: the
    calculator is loaded once per worker process, not once per label. No code, no scheduler:
    for stand-in labels by the hundred (the reduced reproduction, benchmarks)."""

    _protocol_file = 'ase_inline'
    _keys_are_ports = True
    _open_keys = ('parameters',)  # the calculator's keyword arguments
    #: No code runs: the calculator lives in this Python (the role is kept so sei.label's code
    #: can be passed and ignored, as for every backend).
    CODES = {'label': 'python'}

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='The structure to label.')
        spec.input('frame_metadata', valid_type=orm.Dict, default=lambda: orm.Dict(), help='system, origin and condition of the frame.')
        spec.input('calculator', valid_type=orm.Str, validator=validate_calculator, help='Name in the `sei.calculators` entry-point group.')
        spec.input('parameters', valid_type=orm.Dict, default=lambda: orm.Dict(), help='Keyword arguments of the calculator factory.')
        spec.outline(cls.run_single_point)
        spec.output('frame', valid_type=FrameData, help='The labelled frame (is_dft False).')
        spec.output('misc', valid_type=orm.Dict, help='Calculator, versions and timings.')
        spec.exit_code(300, 'ERROR_CALCULATOR_FAILED', message='The calculator raised: {message}')

    @classmethod
    def injected_ports(cls) -> tuple[str, str]:
        return 'structure', 'frame_metadata'

    @classmethod
    def get_builder_from_protocol(cls, codes=None, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder from the protocol (``codes`` and ``options`` are accepted and unused: nothing
        is scheduled)."""
        builder = cls.get_builder()
        fill_builder(builder, cls.get_protocol_inputs(protocol, overrides))
        if structure is not None:
            builder.structure = structure
        if frame_metadata:
            builder.frame_metadata = orm.Dict(frame_metadata)
        return builder

    def run_single_point(self):
        inputs = {name: self.inputs[name] for name in ('structure', 'calculator', 'parameters', 'frame_metadata')}
        try:
            outputs = stand_in_single_point(**inputs)
        except Exception as exception:  # the calcfunction's node keeps the traceback (Excepted)
            return self.exit_codes.ERROR_CALCULATOR_FAILED.format(message=f'{type(exception).__name__}: {exception}')
        self.out_many(outputs)
        return None
