"""``sei.gpaw.base``: a GPAW single point with restarts for the failures that a retry can fix;
``sei.gpaw.relax``: the same with the cell and positions relaxed first."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ProcessHandlerReport, process_handler

from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.calculations.functions.kpoints import create_kpoints, kpoints_choice
from aiida_sei.protocols import load_protocol_file, recursive_merge

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
        spec.exit_code(411, 'ERROR_SETUP_MISSING', message='{message}')

    def setup(self):
        super().setup()
        if 'kpoints' in self.inputs:
            self.ctx.inputs.kpoints = self.inputs.kpoints
        else:
            self.ctx.inputs.kpoints = create_kpoints(self.ctx.inputs.structure, self.inputs.kpoints_distance, self.inputs.gamma_only_above_atoms)

    @process_handler(priority=600, exit_codes=[GpawCalculation.exit_codes.ERROR_SETUP_MISSING])
    def handle_setup_missing(self, node):
        """Nothing a retry fixes: stop with the job's message, which says what to install."""
        return ProcessHandlerReport(True, self.exit_codes.ERROR_SETUP_MISSING.format(message=node.exit_message))

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


class GpawRelaxWorkChain(GpawBaseWorkChain):
    """Relaxes cell and positions with GPAW (``gpaw.relax``: fmax, steps); a relaxation that runs
    out of steps continues from its last structure. Outputs the relaxed ``structure`` and its frame."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.inputs['gpaw']['relax'].required = True
        spec.outputs['structure'].required = True

    @classmethod
    def _protocols(cls) -> dict:
        """gpaw.yaml with its `relax` block (overrides of the `gpaw` ports: relax settings and a
        tighter SCF) merged into the defaults and into each protocol."""
        data = load_protocol_file(cls._protocol_file)
        relax = data.pop('relax')
        data['default_inputs']['gpaw'] = recursive_merge(data['default_inputs']['gpaw'], relax['default'])
        for name, protocol in data['protocols'].items():
            protocol['gpaw'] = recursive_merge(protocol.get('gpaw', {}), relax.get(name, {}))
        return data

    @process_handler(priority=450, exit_codes=[GpawCalculation.exit_codes.ERROR_RELAX_NOT_CONVERGED])
    def handle_relax_not_converged(self, node):
        """Continue from the last structure (BFGS's Hessian starts afresh, which costs a few steps)."""
        self.ctx.inputs.structure = node.outputs.structure
        if 'kpoints' not in self.inputs:  # the mesh follows the cell
            self.ctx.inputs.kpoints = create_kpoints(node.outputs.structure, self.inputs.kpoints_distance, self.inputs.gamma_only_above_atoms)
        self.report_error_handled(node, f'continuing from its last structure<{node.outputs.structure.pk}>')
        return ProcessHandlerReport(True)
