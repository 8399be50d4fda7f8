"""GPAW single point for aiida-sei's `sei.gpaw` CalcJob: energy, forces and stress.

Reads `structure.extxyz` and `aiida_input.json` ({"parameters": ..., "kpoints": [n1, n2, n3]}),
writes `results.json` ({"status": "ok" | "scf_not_converged", ...}) and GPAW's log `gpaw.txt`.
Energies in eV, forces eV/Å, stress eV/Å^3 (ASE convention, 3x3). A crash leaves no
results.json, which the parser reports as such.
"""

import json
import time

import ase.io
import numpy as np


def make_calculator(parameters, kpoints, txt='gpaw.txt'):
    from gpaw import GPAW, PW, FermiDirac, Mixer

    return GPAW(
        mode=PW(parameters['ecut']),
        xc=parameters['xc'],
        kpts={'size': kpoints, 'gamma': True},
        occupations=FermiDirac(parameters['smearing']),
        convergence=parameters['convergence'],
        maxiter=parameters['maxiter'],
        mixer=Mixer(**parameters['mixer']),
        spinpol=parameters.get('spinpol', False),
        txt=txt,
    )


def main():
    import gpaw
    from gpaw import KohnShamConvergenceError

    with open('aiida_input.json') as handle:
        job = json.load(handle)
    atoms = ase.io.read('structure.extxyz', format='extxyz')
    atoms.calc = make_calculator(job['parameters'], job['kpoints'])
    start = time.time()
    results = {'gpaw_version': gpaw.__version__, 'ase_version': ase.__version__}
    try:
        # force-consistent (free) energy: the one whose derivatives are the forces
        results['energy'] = atoms.get_potential_energy(force_consistent=True)
        results['energy_extrapolated'] = atoms.get_potential_energy()
        results['forces'] = atoms.get_forces().tolist()
        results['stress'] = atoms.get_stress(voigt=False).tolist()
        results['status'] = 'ok'
    except KohnShamConvergenceError as exception:
        results.update(status='scf_not_converged', message=str(exception))
    calc = atoms.calc
    results['scf_iterations'] = int(getattr(calc, 'get_number_of_iterations', lambda: -1)() or -1)
    results['fermi_level'] = float(np.nan_to_num(calc.get_fermi_level())) if results['status'] == 'ok' else None
    results['wall_time'] = time.time() - start
    with open('results.json', 'w') as handle:
        json.dump(results, handle)


if __name__ == '__main__':
    main()
