"""``sei.gpaw.base``: a GPAW single point with restarts for the failures that a retry can fix."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ProcessHandlerReport, process_handler

from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.calculations.functions.kpoints import create_kpoints, kpoints_choice

from .singlepoint import SinglePointBaseWorkChain

#: Limits of the SCF handler: beyond them another restart is not expected to help.
MAX_SCF_STEPS = 2000
MIN_MIXER_BETA = 0.01


class GpawBaseWorkChain(SinglePointBaseWorkChain):
    """Runs :class:`GpawCalculation`; a non-converged SCF gets more steps and gentler mixing."""

    _process_class = GpawCalculation
    _namespace = 'gpaw'
    _protocol_file = 'gpaw'
    CODES = {'label': 'gpaw'}

    _exclude = ('kpoints',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('kpoints', valid_type=orm.KpointsData, required=False, help='An explicit Gamma-centred mesh (instead of kpoints_distance).')
        spec.input('kpoints_distance', valid_type=orm.Float, required=False,
                   help='Distance (Å^-1, 2π included) between k-points: a mesh made for each structure when the work chain runs.')
        spec.input('gamma_only_above_atoms', valid_type=orm.Int, default=lambda: orm.Int(200), help='With kpoints_distance: Gamma only for larger cells.')
        spec.inputs.validator = kpoints_choice('kpoints')
        spec.exit_code(410, 'ERROR_SCF_UNRECOVERABLE', message='The SCF did not converge even with {steps} steps and mixer beta {beta}.')

    def setup(self):
        super().setup()
        if 'kpoints' in self.inputs:
            self.ctx.inputs.kpoints = self.inputs.kpoints
        else:
            self.ctx.inputs.kpoints = create_kpoints(self.ctx.inputs.structure, self.inputs.kpoints_distance, self.inputs.gamma_only_above_atoms)

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
