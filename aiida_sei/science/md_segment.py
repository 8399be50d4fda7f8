"""One active-learning MD segment: molecular dynamics with the SGP until its uncertainty calls
for DFT (pure ASE + FLARE; the active-learning work chain runs this in a CalcJob).

Times in fs, temperatures in K, pressures in GPa. NVT uses a Langevin thermostat; NPT uses ASE's
Nosé-Hoover / Parrinello-Rahman integrator (Melchionna) with the paper's time constants (0.1 ps
thermostat, 1 ps barostat). The segment returns positions, cell and momenta; the thermostat and
barostat variables restart from zero in the next segment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from .sgp import SparseGP, uncertainties

#: An approximate bulk modulus (GPa) of the cells, for the barostat's mass.
BULK_MODULUS_GPA = 30.0


@dataclass
class Segment:
    """What a segment returns: where it stopped and why, and the frames to keep."""

    steps: int  #: MD steps done
    triggered: bool  #: the uncertainty passed the threshold (a DFT call is due)
    max_uncertainty: float  #: largest per-atom uncertainty of the last frame
    uncertainties: np.ndarray  #: per-atom uncertainties of the last frame
    atoms: Atoms  #: the last frame, with momenta (where the next segment continues)
    frames: list = field(default_factory=list)  #: every ``thin``-th frame


def _dynamics(atoms: Atoms, timestep_fs: float, temperature_K: float, pressure_GPa, seed: int):
    if pressure_GPa is None:
        from ase.md.langevin import Langevin

        return Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.01 / units.fs,
                        fixcm=False, rng=np.random.default_rng(seed))
    from ase.md.melchionna import MelchionnaNPT  # ASE's Nosé-Hoover / Parrinello-Rahman NPT

    return MelchionnaNPT(
        atoms, timestep_fs * units.fs, temperature_K=temperature_K, externalstress=pressure_GPa * units.GPa,
        ttime=100 * units.fs, pfactor=(1000 * units.fs) ** 2 * BULK_MODULUS_GPA * units.GPa,
    )


def run_segment(sgp: SparseGP, atoms: Atoms, max_steps: int, threshold: float, temperature_K: float = 300.0,
                timestep_fs: float = 1.0, pressure_GPa: float | None = None, seed: int = 0, thin: int = 10) -> Segment:
    """Run MD with ``sgp`` from ``atoms`` (positions, cell and momenta are taken as they are;
    with no momenta they are drawn at ``temperature_K`` from ``seed``) until the largest
    per-atom uncertainty exceeds ``threshold`` or ``max_steps`` steps are done."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = atoms.copy()
    if not atoms.get_momenta().any():
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    if pressure_GPa is not None:
        atoms.set_cell(np.triu(atoms.cell.array), scale_atoms=False)  # NPT needs an upper-triangular cell
    atoms.calc = sgp.calculator
    sgp.calculator.reset()
    dynamics = _dynamics(atoms, timestep_fs, temperature_K, pressure_GPa, seed)
    frames, current = [], uncertainties(sgp, atoms)
    for step in range(1, max_steps + 1):
        dynamics.run(1)
        current = uncertainties(sgp, atoms)
        if step % thin == 0:
            frames.append(atoms.copy())
        if current.max() > threshold:
            final = atoms.copy()
            return Segment(step, True, float(current.max()), current, final, frames)
    return Segment(max_steps, False, float(current.max()), current, atoms.copy(), frames)
