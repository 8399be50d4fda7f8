"""GPAW single point for aiida-sei's `sei.gpaw` CalcJob: energy, forces and stress.

Reads `structure.extxyz` and `aiida_input.json` ({"parameters": ..., "kpoints": [n1, n2, n3]}),
writes `results.json` ({"status": "ok" | "scf_not_converged" | "setup_missing" |
"relax_not_converged", ...}) and GPAW's log `gpaw.txt`. With a "relax" entry ({"fmax": eV/Å,
"steps": n, "cell": bool}) it first relaxes positions (and cell) and reports the final structure.
Energies in eV, forces eV/Å, stress eV/Å^3 (ASE convention, 3x3). A crash leaves no
results.json, which the parser reports as such.
"""

import json
import pathlib
import sys
import time

STARTED = time.time()  # before the heavy imports: start-up = imports + setting up the calculator

import ase.io
import numpy as np


#: Where `sei-gpaw-setups` writes the setups that gpaw-data lacks (Li.sv.PBE) for this Python.
SEI_SETUPS = pathlib.Path(sys.prefix) / 'share' / 'sei-gpaw-setups'


class SetupMissing(Exception):
    """A setup the parameters name is not installed for this Python."""


def use_project_setups():
    """Let GPAW find the project's setups (after $GPAW_SETUP_PATH, before gpaw-data)."""
    from gpaw import setup_paths

    if SEI_SETUPS.is_dir() and str(SEI_SETUPS) not in setup_paths:
        setup_paths.insert(0, str(SEI_SETUPS))


def check_setups(parameters, symbols):
    """Fail early with what to run when a named setup (e.g. Li: sv) is not installed."""
    from gpaw import setup_paths

    xc = parameters['xc']
    for symbol, name in (parameters.get('setups') or {}).items():
        if symbol in symbols and name != 'paw':
            files = [f'{symbol}.{name}.{xc}', f'{symbol}.{name}.{xc}.gz']
            if not any((pathlib.Path(path) / file).exists() for path in setup_paths for file in files):
                raise SetupMissing(f'GPAW setup {files[0]} is not installed for {sys.executable}: '
                                   f'run `sei-gpaw-setups` with this Python (or put it in $GPAW_SETUP_PATH)')


def setups_used(calc) -> dict:
    """Symbol -> the setup that labelled the frame: its name, valence electrons and fingerprint."""
    return {setup.symbol: {'type': setup.type, 'valence': int(setup.Nv), 'fingerprint': setup.fingerprint}
            for setup in calc.setups}


def band_gap(calc) -> float:
    """The Kohn-Sham gap (eV) on the run's k-mesh, 0 for a metal (ASE's bandgap: from the
    eigenvalues and the Fermi level; indirect allowed)."""
    from ase.dft.bandgap import bandgap

    return float(bandgap(calc, output=None)[0])


def density_of_states(calc, width: float = 0.1, window: tuple = (-10.0, 6.0), points: int = 801) -> dict:
    """Gaussian-broadened (``width`` eV) Kohn-Sham DOS per cell, both spins, against E - E_F (eV)
    in ``window``: ASE's DOS on the run's k-mesh, as the paper's DOS figures."""
    from ase.dft.dos import DOS

    dos = DOS(calc, width=width, window=window, npts=points)
    return {'energies': dos.get_energies().tolist(), 'dos': dos.get_dos().tolist(), 'width': width}


def make_calculator(parameters, kpoints, txt='gpaw.txt'):
    from gpaw import GPAW, PW, FermiDirac, Mixer

    use_project_setups()
    return GPAW(
        mode=PW(parameters['ecut']),
        xc=parameters['xc'],
        kpts={'size': kpoints, 'gamma': True},
        occupations=FermiDirac(parameters['smearing']),
        convergence=parameters['convergence'],
        maxiter=parameters['maxiter'],
        mixer=Mixer(**parameters['mixer']),
        spinpol=parameters.get('spinpol', False),
        setups=parameters.get('setups') or 'paw',
        txt=txt,
    )


def relax(atoms, settings, logfile='relax.log') -> dict:
    """BFGS on positions (and the cell, through ASE's FrechetCellFilter) until every force and
    stress component is below fmax (eV/Å; the cell's are stress x volume / atoms)."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    target = FrechetCellFilter(atoms) if settings.get('cell', True) else atoms
    energies = []
    optimizer = BFGS(target, logfile=logfile)
    optimizer.attach(lambda: energies.append(atoms.get_potential_energy(force_consistent=True)))
    converged = bool(optimizer.run(fmax=settings['fmax'], steps=settings['steps']))
    return {'converged': converged, 'steps': int(optimizer.nsteps), 'energies': energies,
            'cell': atoms.cell.array.tolist(), 'positions': atoms.positions.tolist()}


def main():
    import gpaw
    from gpaw import KohnShamConvergenceError

    with open('aiida_input.json') as handle:
        job = json.load(handle)
    atoms = ase.io.read('structure.extxyz', format='extxyz')
    results = {'gpaw_version': gpaw.__version__, 'ase_version': ase.__version__}
    atoms.calc = make_calculator(job['parameters'], job['kpoints'])
    start = time.time()
    results['startup_s'] = start - STARTED
    try:
        check_setups(job['parameters'], set(atoms.get_chemical_symbols()))
        if job.get('relax'):
            results['relax'] = relax(atoms, job['relax'])
        # force-consistent (free) energy: the one whose derivatives are the forces
        results['energy'] = atoms.get_potential_energy(force_consistent=True)
        results['energy_extrapolated'] = atoms.get_potential_energy()
        results['forces'] = atoms.get_forces().tolist()
        results['stress'] = atoms.get_stress(voigt=False).tolist()
        results['status'] = 'ok' if results.get('relax', {}).get('converged', True) else 'relax_not_converged'
    except KohnShamConvergenceError as exception:
        results.update(status='scf_not_converged', message=str(exception))
    except SetupMissing as exception:
        results.update(status='setup_missing', message=str(exception))
    calc = atoms.calc
    finished = results['status'] in ('ok', 'relax_not_converged')
    started = results['status'] != 'setup_missing'  # GPAW never initialised otherwise
    results['scf_iterations'] = int(getattr(calc, 'get_number_of_iterations', lambda: -1)() or -1) if started else 0
    results['fermi_level'] = float(np.nan_to_num(calc.get_fermi_level())) if finished else None
    results['setups'] = setups_used(calc) if finished else {}
    results['band_gap'] = band_gap(calc) if finished else None
    if finished:
        results['dos'] = density_of_states(calc)
    results['wall_time'] = time.time() - start
    with open('results.json', 'w') as handle:
        json.dump(results, handle)


if __name__ == '__main__':
    main()
