"""``sei.gpaw.base``: a GPAW single point with restarts for the failures that a retry can fix."""

from __future__ import annotations

from aiida import orm
from aiida.common import AttributeDict
from aiida.engine import BaseRestartWorkChain, ProcessHandlerReport, process_handler, while_

from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.protocols import ProtocolMixin
from aiida_sei.science.kpoints import kpoint_mesh

#: Limits of the SCF handler: beyond them another restart is not expected to help.
MAX_SCF_STEPS = 2000
MIN_MIXER_BETA = 0.01


class GpawBaseWorkChain(ProtocolMixin, BaseRestartWorkChain):
    """Runs :class:`GpawCalculation` until it succeeds or a failure cannot be handled."""

    _process_class = GpawCalculation
    _protocol_file = 'gpaw'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(GpawCalculation, namespace='gpaw')
        spec.outline(
            cls.setup,
            while_(cls.should_run_process)(cls.run_process, cls.inspect_process),
            cls.results,
        )
        spec.expose_outputs(GpawCalculation)
        spec.exit_code(300, 'ERROR_CRASHED_AGAIN', message='GPAW crashed twice in a row with the same inputs.')
        spec.exit_code(410, 'ERROR_SCF_UNRECOVERABLE', message='The SCF did not converge even with {steps} steps and mixer beta {beta}.')

    @classmethod
    def get_builder_from_protocol(cls, code, structure, protocol=None, overrides=None, frame_metadata=None, options=None):
        """Builder for a single point of ``structure`` with ``code`` (a Python with GPAW)."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        atoms = structure.get_ase()
        kpoints = orm.KpointsData()
        kpoints.set_kpoints_mesh(kpoint_mesh(atoms.cell, inputs['kpoints_spacing'], len(atoms), inputs['gamma_only_above_atoms']))
        builder = cls.get_builder()
        builder.gpaw.code = code
        builder.gpaw.structure = structure
        builder.gpaw.kpoints = kpoints
        builder.gpaw.parameters = orm.Dict(inputs['parameters'])
        builder.gpaw.metadata.options = {**inputs['options'], **(options or {})}
        if frame_metadata:
            builder.gpaw.frame_metadata = orm.Dict(frame_metadata)
        builder.max_iterations = orm.Int(inputs['max_iterations'])
        return builder

    def setup(self):
        super().setup()
        self.ctx.inputs = AttributeDict(self.exposed_inputs(GpawCalculation, 'gpaw'))
        self.ctx.crashed = False

    def report_error_handled(self, node, action):
        self.report(f'{node.process_label}<{node.pk}> failed with exit status {node.exit_status}: {node.exit_message}')
        self.report(f'action taken: {action}')

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

    @process_handler(priority=400, exit_codes=[GpawCalculation.exit_codes.ERROR_OUT_OF_WALLTIME])
    def handle_out_of_walltime(self, node):
        """Restart with twice the walltime (a single point has no checkpoint worth keeping)."""
        options = dict(self.ctx.inputs.metadata.options)
        walltime = options.get('max_wallclock_seconds') or 3600
        options['max_wallclock_seconds'] = 2 * walltime
        self.ctx.inputs.metadata.options = options
        self.report_error_handled(node, f'walltime {walltime} s -> {2 * walltime} s')
        return ProcessHandlerReport(True)

    @process_handler(priority=300, exit_codes=[GpawCalculation.exit_codes.ERROR_OUTPUT_MISSING])
    def handle_crash(self, node):
        """Retry a crash once (nodes fail, files systems hiccup); a second crash is final."""
        if self.ctx.crashed:
            return ProcessHandlerReport(True, self.exit_codes.ERROR_CRASHED_AGAIN)
        self.ctx.crashed = True
        self.report_error_handled(node, 'retrying once with the same inputs')
        return ProcessHandlerReport(True)
