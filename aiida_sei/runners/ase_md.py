"""MD with nequip's ASE calculator on a compiled Allegro model, for aiida-sei's `sei.ase_md` CalcJob.

Reads `aiida_input.json` (complete MD settings: K, GPa, fs, ps), `structure.extxyz` and
`model.nequip.pt2`; writes `trajectory.extxyz` (every `dump_interval`-th frame with its step,
potential energy (`epot`, eV) and temperature (K), appended as the run goes so a blown-up run keeps its frames)
and `results.json` (status, steps done, versions, wall time, atom-steps per second). Needs
nequip, ASE and numpy, not aiida-sei.
"""

import json
import math
import time
from importlib.metadata import version

import ase.io
import numpy as np
from ase import units
from ase.md.velocitydistribution import MaxwellBoltzmannDistribution, Stationary


class UnstableMD(Exception):
    """Non-finite energy or positions: the MD blew up."""


def dynamics(atoms, md):
    """Nosé-Hoover chain NVT or Melchionna (Nosé-Hoover / Parrinello-Rahman) NPT."""
    timestep = md['timestep'] * units.fs
    if md['ensemble'] == 'nvt':
        from ase.md.nose_hoover_chain import NoseHooverChainNVT

        return NoseHooverChainNVT(atoms, timestep, temperature_K=md['temperature'], tdamp=md['thermostat_damping'] * 1000 * units.fs)
    from ase.md.melchionna import MelchionnaNPT

    # the barostat "mass": tau_P^2 B, the form ASE documents for pfactor
    pfactor = (md['barostat_damping'] * 1000 * units.fs) ** 2 * md['bulk_modulus'] * units.GPa
    return MelchionnaNPT(atoms, timestep, temperature_K=md['temperature'], externalstress=md['pressure'] * units.GPa,
                         ttime=md['thermostat_damping'] * 1000 * units.fs, pfactor=pfactor, mask=(1, 1, 1))


def initial_atoms(md):
    atoms = ase.io.read('structure.extxyz')
    if md['ensemble'] == 'npt':  # MelchionnaNPT needs an upper-triangular cell: rotate, keep the shape
        atoms.set_cell(atoms.cell.standard_form()[0], scale_atoms=True)
    MaxwellBoltzmannDistribution(atoms, temperature_K=md['temperature'], rng=np.random.default_rng(md['seed']))
    Stationary(atoms)
    return atoms


def run(atoms, md, handle):
    """Run ``md['steps']`` steps, appending frames to ``handle``; returns the steps done."""
    integrator = dynamics(atoms, md)
    done = {'steps': 0}

    def record():
        step = integrator.nsteps
        energy = atoms.get_potential_energy()
        if not (math.isfinite(energy) and np.isfinite(atoms.positions).all()):
            raise UnstableMD(f'non-finite energy or positions at step {step}')
        done['steps'] = step
        if step % md['dump_interval'] == 0:
            frame = atoms.copy()
            frame.info = {'step': step, 'epot': energy, 'temperature': atoms.get_temperature()}
            ase.io.write(handle, frame, format='extxyz', columns=['symbols', 'positions'])
            handle.flush()

    integrator.attach(record, interval=1)
    integrator.run(md['steps'])
    return done['steps']


def main():
    from nequip.integrations.ase import NequIPCalculator

    with open('aiida_input.json') as handle:
        md = json.load(handle)['md']
    atoms = initial_atoms(md)
    atoms.calc = NequIPCalculator.from_compiled_model('model.nequip.pt2', device='cpu', chemical_species_to_atom_type_map=True)
    results = {'nequip_version': version('nequip'), 'ase_version': version('ase'), 'torch_version': version('torch'), 'atoms': len(atoms)}
    start = time.time()
    with open('trajectory.extxyz', 'w') as handle:
        try:
            steps = run(atoms, md, handle)
            results.update(status='ok', steps=steps)
        except UnstableMD as exception:
            results.update(status='unstable', message=str(exception))
    results['wall_time'] = time.time() - start
    if results['status'] == 'ok':
        results['atom_steps_per_second'] = len(atoms) * results['steps'] / max(results['wall_time'], 1e-9)
    with open('results.json', 'w') as handle:
        json.dump(results, handle)


if __name__ == '__main__':
    main()
