"""Restart logic shared by the single-point work chains (`sei.gpaw.base`, `sei.ase.base`)."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_sei.calculations.singlepoint import SinglePointCalculation
from aiida_sei.protocols import ProtocolMixin, code_roles, fill_builder

from .restart import RestartMixin


class SinglePointBaseWorkChain(RestartMixin, ProtocolMixin, BaseRestartWorkChain):
    """Runs ``_process_class`` (exposed in namespace ``_namespace``) until it succeeds or a
    failure cannot be handled: walltime -> twice the walltime; a crash -> one retry."""

    _namespace: str
    _keys_are_ports = True
    NODES = ('structure',)
    #: Ports of the job that the work chain sets itself (GPAW: kpoints, from kpoints_distance).
    _exclude: tuple[str, ...] = ()

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(cls._process_class, namespace=cls._namespace, exclude=cls._exclude)
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.expose_outputs(cls._process_class)
        spec.exit_code(300, 'ERROR_CRASHED_AGAIN', message='The code crashed twice in a row with the same inputs.')

    @classmethod
    def injected_ports(cls) -> tuple[str, str]:
        """Where sei.label puts the structure and the frame metadata of each label."""
        return f'{cls._namespace}.structure', f'{cls._namespace}.frame_metadata'

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder of a single point of ``structure`` (None: set later, as sei.label does) with
        ``codes`` (role ``label``, or the code itself); ``overrides`` name ports by path
        (``gpaw.parameters.ecut``), ``options`` go over the protocol's scheduler options."""
        builder = cls.get_builder()
        fill_builder(builder, cls.get_protocol_inputs(protocol, overrides))
        namespace = builder[cls._namespace]
        namespace.code = code_roles(cls, codes)['label']
        if structure is not None:
            namespace.structure = structure
        if options:
            namespace.metadata.options = {**namespace.metadata.options, **options}
        if frame_metadata:
            namespace.frame_metadata = orm.Dict(frame_metadata)
        return builder

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(self._process_class, self._namespace))
        self.ctx.crashed = False

    @process_handler(priority=400, exit_codes=[SinglePointCalculation.exit_codes.ERROR_OUT_OF_WALLTIME])
    def handle_out_of_walltime(self, node):
        """Restart with twice the walltime (a single point has no checkpoint worth keeping)."""
        self.report_error_handled(node, self.double_walltime())
        return ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=[SinglePointCalculation.exit_codes.ERROR_OUTPUT_MISSING])
    def handle_crash(self, node):
        """Retry a crash once (nodes fail, file systems hiccup); a second crash is final."""
        if self.ctx.crashed:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_CRASHED_AGAIN)
        self.ctx.crashed = True
        self.report_error_handled(node, 'retrying once with the same inputs')
        return ProcessHandlerReport(True)
