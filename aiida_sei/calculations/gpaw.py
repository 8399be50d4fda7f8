"""``sei.gpaw``: a GPAW PBE plane-wave single point (energy, forces, stress) as a CalcJob.

GPAW is the open-source DFT engine of the embedded profile. The job runs the standalone script
``aiida_sei/runners/gpaw_singlepoint.py`` with the code's Python, which must have GPAW.
"""

from __future__ import annotations

import re

from aiida import orm

from . import read_tail
from .singlepoint import SinglePointCalculation

#: Parameters the runner needs; values in eV (ecut, smearing width).
REQUIRED_PARAMETERS = ('ecut', 'xc', 'smearing', 'convergence', 'maxiter', 'mixer')


def validate_parameters(parameters, _):
    missing = [key for key in REQUIRED_PARAMETERS if key not in parameters.get_dict()]
    if missing:
        return f'GPAW parameters lack {", ".join(missing)}'
    if not parameters['ecut'] > 0 or not parameters['maxiter'] > 0:
        return 'ecut and maxiter must be positive'
    return None


def validate_kpoints(kpoints, _):
    try:
        mesh, offset = kpoints.get_kpoints_mesh()
    except AttributeError:
        return 'kpoints must be a mesh (KpointsData.set_kpoints_mesh)'
    if any(int(n) < 1 for n in mesh) or any(offset):
        return f'kpoints must be a Gamma-centred mesh of positive integers, got {mesh} offset {offset}'
    return None


class GpawCalculation(SinglePointCalculation):
    """Single point with GPAW (PW mode): the labelled frame and GPAW's own metadata."""

    _runner_script = 'gpaw_singlepoint.py'
    _log_files = ('gpaw.txt',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('kpoints', valid_type=orm.KpointsData, validator=validate_kpoints, help='Gamma-centred k-point mesh.')
        spec.input('parameters', valid_type=orm.Dict, validator=validate_parameters, help='GPAW settings: ecut (eV), xc, smearing (eV), convergence, maxiter, mixer.')
        spec.inputs['metadata']['options']['parser_name'].default = 'sei.gpaw'
        spec.exit_code(410, 'ERROR_SCF_NOT_CONVERGED', message='The SCF cycle did not converge within maxiter steps.')

    @staticmethod
    def progress(workdir) -> str:
        """The SCF iteration GPAW's log reached (for progress shown while it runs)."""
        iterations = re.findall(r'^\|iter:\s*(\d+)\|', read_tail(workdir / 'gpaw.txt'), flags=re.MULTILINE)
        return f'SCF iteration {iterations[-1]}' if iterations else ''

    def runner_input(self) -> dict:
        mesh, _ = self.inputs.kpoints.get_kpoints_mesh()
        return {'parameters': self.inputs.parameters.get_dict(), 'kpoints': [int(n) for n in mesh]}
