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
    setups = parameters.get_dict().get('setups') or {}
    if not isinstance(setups, dict) or not all(isinstance(v, str) for v in setups.values()):
        return f'setups must map symbols to setup names (e.g. {{Li: sv}}), got {setups!r}'
    return None


def validate_relax(relax, _):
    settings = relax.get_dict()
    unknown = set(settings) - {'fmax', 'steps', 'cell'}
    if unknown:
        return f'relax settings: unknown {sorted(unknown)}; known: fmax (eV/Å), steps, cell'
    if not settings.get('fmax', 0) > 0 or not isinstance(settings.get('steps'), int) or settings['steps'] < 1:
        return f'relax settings need fmax > 0 (eV/Å) and a positive integer steps, got {settings}'
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
    _log_files = ('gpaw.txt', 'relax.log')

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('kpoints', valid_type=orm.KpointsData, validator=validate_kpoints, help='Gamma-centred k-point mesh.')
        spec.input('parameters', valid_type=orm.Dict, validator=validate_parameters, help='GPAW settings: ecut (eV), xc, smearing (eV), convergence, maxiter, mixer, setups (symbol -> name; Li: sv has 1s in valence).')
        spec.input('relax', valid_type=orm.Dict, required=False, validator=validate_relax,
                   help='Relax first (BFGS): fmax (eV/Å, forces and stress x volume / atoms), steps, cell (also the cell, default true).')
        spec.inputs['metadata']['options']['parser_name'].default = 'sei.gpaw'
        spec.output('structure', valid_type=orm.StructureData, required=False, help='With `relax`: the last structure of the relaxation.')
        spec.output('dos', valid_type=orm.XyData, required=False,
                    help='Kohn-Sham density of states (states/eV per cell, both spins, 0.1 eV Gaussian) against E - E_F (eV).')
        spec.exit_code(410, 'ERROR_SCF_NOT_CONVERGED', message='The SCF cycle did not converge within maxiter steps.')
        spec.exit_code(411, 'ERROR_SETUP_MISSING', message='{message}')
        spec.exit_code(430, 'ERROR_RELAX_NOT_CONVERGED', message='The relaxation did not reach fmax in {steps} steps (output `structure` is its last one).')

    @staticmethod
    def progress(workdir) -> str:
        """The SCF iteration GPAW's log reached (for progress shown while it runs)."""
        iterations = re.findall(r'^\|iter:\s*(\d+)\|', read_tail(workdir / 'gpaw.txt'), flags=re.MULTILINE)
        return f'SCF iteration {iterations[-1]}' if iterations else ''

    def runner_input(self) -> dict:
        mesh, _ = self.inputs.kpoints.get_kpoints_mesh()
        job = {'parameters': self.inputs.parameters.get_dict(), 'kpoints': [int(n) for n in mesh]}
        if 'relax' in self.inputs:
            job['relax'] = {'cell': True, **self.inputs.relax.get_dict()}
        return job
