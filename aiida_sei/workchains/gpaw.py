"""``sei.gpaw.base``: a GPAW single point with restarts for the failures that a retry can fix."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ProcessHandlerReport, process_handler

from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.protocols import kpoints_from_protocol

from .singlepoint import SinglePointBaseWorkChain

#: Limits of the SCF handler: beyond them another restart is not expected to help.
MAX_SCF_STEPS = 2000
MIN_MIXER_BETA = 0.01


class GpawBaseWorkChain(SinglePointBaseWorkChain):
    """Runs :class:`GpawCalculation`; a non-converged SCF gets more steps and gentler mixing."""

    _process_class = GpawCalculation
    _namespace = 'gpaw'
    _protocol_file = 'gpaw'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.exit_code(410, 'ERROR_SCF_UNRECOVERABLE', message='The SCF did not converge even with {steps} steps and mixer beta {beta}.')

    @classmethod
    def get_builder_from_protocol(cls, code, structure, protocol=None, overrides=None, frame_metadata=None, options=None):
        """Builder for a single point of ``structure`` with ``code`` (a Python with GPAW)."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        builder = cls._protocol_builder(code, structure, inputs, frame_metadata, options)
        builder.gpaw.kpoints = kpoints_from_protocol(structure, inputs)
        builder.gpaw.parameters = orm.Dict(inputs['parameters'])
        return builder

    @process_handler(priority=500, exit_codes=[GpawCalculation.exit_codes.ERROR_SCF_NOT_CONVERGED])
    def handle_scf_not_converged(self, node):
        """Double the SCF steps and halve the density-mixing fraction, then restart."""
        parameters = self.ctx.inputs.parameters.get_dict()
        steps, beta = parameters['maxiter'], parameters['mixer']['beta']
        if steps >= MAX_SCF_STEPS and beta <= MIN_MIXER_BETA:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_SCF_UNRECOVERABLE.format(steps=steps, beta=beta))
        parameters['maxiter'] = min(2 * steps, MAX_SCF_STEPS)
        parameters['mixer']['beta'] = max(beta / 2, MIN_MIXER_BETA)
        self.ctx.inputs.parameters = orm.Dict(parameters)
        self.report_error_handled(node, f'maxiter {steps} -> {parameters["maxiter"]}, mixer beta {beta} -> {parameters["mixer"]["beta"]}')
        return ProcessHandlerReport(True)
