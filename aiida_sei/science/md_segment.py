"""One active-learning MD segment: molecular dynamics with the SGP until its uncertainty calls
for DFT (pure ASE + FLARE; the active-learning work chain runs this in a CalcJob).

Times in fs, temperatures in K, pressures in GPa. NVT uses a Langevin thermostat; NPT uses ASE's
Nosé-Hoover / Parrinello-Rahman integrator (Melchionna) with the paper's time constants (0.1 ps
thermostat, 1 ps barostat). A segment returns the full MD state - positions, cell, momenta and
the integrator's own variables (thermostat/barostat, or the Langevin random stream) - so the
next segment continues exactly where this one stopped: segments of 10 + 20 steps give the same
trajectory as one of 30.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np
from ase import Atoms, units

from .sgp import SparseGP, uncertainties

#: An approximate bulk modulus (GPa) of the cells, for the barostat's mass.
BULK_MODULUS_GPA = 30.0
#: Closest approach (Å) below which the MD has blown up (the study's shortest bond, P-S, is 2.0 Å).
MIN_DISTANCE = 1.0
#: Melchionna variables that carry the thermostat/barostat between segments.
NPT_ARRAYS = ('eta', 'eta_past', 'h', 'h_past', 'q_past', 'q_future')
NPT_SCALARS = ('zeta', 'zeta_past', 'zeta_integrated', 'pfact', 'tfact', 'timeelapsed')


class UnstableMDError(RuntimeError):
    """The MD blew up (non-finite positions or uncertainties): the SGP is far outside its data."""


@dataclass
class MdState:
    """Where an MD run is: atoms with momenta, the step reached, and the integrator variables
    (JSON-serialisable: arrays as nested lists, the random stream's state as a dict)."""

    atoms: Atoms
    step: int = 0
    dynamics: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        atoms = self.atoms
        return {
            'numbers': atoms.numbers.tolist(),
            'positions': atoms.positions.tolist(),
            'cell': atoms.cell.array.tolist(),
            'pbc': atoms.pbc.tolist(),
            'momenta': atoms.get_momenta().tolist(),
            'step': self.step,
            'dynamics': self.dynamics,
        }

    @classmethod
    def from_dict(cls, data: dict) -> MdState:
        atoms = Atoms(numbers=data['numbers'], positions=data['positions'], cell=data['cell'], pbc=data['pbc'])
        atoms.set_momenta(np.array(data['momenta'], float))
        return cls(atoms, int(data['step']), data.get('dynamics', {}))

    def to_json(self) -> str:
        return json.dumps(self.to_dict())

    @classmethod
    def from_json(cls, text: str) -> MdState:
        return cls.from_dict(json.loads(text))


@dataclass
class Segment:
    """What a segment returns: where it stopped and why, and the frames to keep."""

    steps: int  #: MD steps done in this segment
    triggered: bool  #: the uncertainty passed the threshold (a DFT call is due)
    max_uncertainty: float  #: largest per-atom uncertainty of the last frame
    uncertainties: np.ndarray  #: per-atom uncertainties of the last frame
    state: MdState  #: the full state to continue from (its atoms are the last frame)
    frames: list = field(default_factory=list)  #: every ``thin``-th frame: (step, atoms, max uncertainty)

    @property
    def atoms(self) -> Atoms:
        return self.state.atoms


def _dynamics(atoms: Atoms, timestep_fs: float, temperature_K: float, pressure_GPa, rng):
    if pressure_GPa is None:
        from ase.md.langevin import Langevin

        return Langevin(atoms, timestep_fs * units.fs, temperature_K=temperature_K, friction=0.01 / units.fs, fixcm=False, rng=rng)
    from ase.md.melchionna import MelchionnaNPT  # ASE's Nosé-Hoover / Parrinello-Rahman NPT

    return MelchionnaNPT(
        atoms, timestep_fs * units.fs, temperature_K=temperature_K, externalstress=pressure_GPa * units.GPa,
        ttime=100 * units.fs, pfactor=(1000 * units.fs) ** 2 * BULK_MODULUS_GPA * units.GPa,
    )


def _save_dynamics(dynamics, rng) -> dict:
    if not hasattr(dynamics, 'eta'):
        return {'rng': rng.bit_generator.state}
    if not dynamics.initialized:
        return {}
    saved = {name: np.asarray(getattr(dynamics, name)).tolist() for name in NPT_ARRAYS}
    saved.update({name: float(getattr(dynamics, name)) for name in NPT_SCALARS})
    return {'npt': saved}


def _restore_dynamics(dynamics, saved: dict, rng) -> None:
    if 'rng' in saved:
        rng.bit_generator.state = saved['rng']
    if 'npt' in saved:
        for name in NPT_ARRAYS:
            setattr(dynamics, name, np.array(saved['npt'][name], float))
        for name in NPT_SCALARS:
            setattr(dynamics, name, saved['npt'][name])
        dynamics.inv_h = np.linalg.inv(dynamics.h)
        dynamics.q = np.dot(dynamics.atoms.positions, dynamics.inv_h) - 0.5
        dynamics.initialized = 1


def upper_triangular(atoms: Atoms) -> Atoms:
    """Rotate ``atoms`` rigidly (cell, positions, momenta) so that the cell matrix is upper
    triangular, as ASE's NPT needs; lengths, angles and every distance stay as they were.

    Zeroing the lower triangle instead (np.triu) changes the lattice: hexagonal Li3P becomes
    orthorhombic and its atoms overlap. RQ: cell = U Q with U upper triangular, Q a rotation.
    """
    from scipy.linalg import rq

    cell = atoms.cell.array
    if np.allclose(cell, np.triu(cell)):
        return atoms
    upper, rotation = rq(cell)
    signs = np.sign(np.diag(upper))
    upper, rotation = upper * signs, signs[:, None] * rotation  # positive diagonal: a proper rotation for a right-handed cell
    momenta = atoms.get_momenta()
    atoms.set_cell(np.triu(upper), scale_atoms=False)
    atoms.positions = atoms.positions @ rotation.T
    atoms.set_momenta(momenta @ rotation.T)
    return atoms


def _check_distances(atoms: Atoms, step: int) -> None:
    """Refuse a frame with atoms closer than :data:`MIN_DISTANCE`: the SGP drove the MD where
    no DFT should be asked to go."""
    distances = atoms.get_all_distances(mic=True) + np.eye(len(atoms)) * 1e9
    if distances.min() < MIN_DISTANCE:
        i, j = np.unravel_index(np.argmin(distances), distances.shape)
        raise UnstableMDError(f'atoms {i} and {j} are {distances[i, j]:.2f} Å apart at step {step}')


#: Largest change of a cell length (fraction) and angle (degrees) one segment may make: beyond
#: them the cell collapsed or sheared, and the frame is no structure to ask DFT about.
MAX_LENGTH_CHANGE, MAX_ANGLE_CHANGE = 0.25, 10.0


def _check_cell(start: Atoms, atoms: Atoms, step: int) -> None:
    before, after = start.cell.cellpar(), atoms.cell.cellpar()
    lengths = np.abs(after[:3] / before[:3] - 1)
    angles = np.abs(after[3:] - before[3:])
    if lengths.max() > MAX_LENGTH_CHANGE or angles.max() > MAX_ANGLE_CHANGE:
        raise UnstableMDError(f'the cell jumped by step {step}: lengths {before[:3].round(3).tolist()} -> {after[:3].round(3).tolist()} Å, '
                              f'angles {before[3:].round(1).tolist()} -> {after[3:].round(1).tolist()}°')


def initial_state(atoms: Atoms, temperature_K: float, seed: int = 0) -> MdState:
    """Step 0 of a run: ``atoms`` with Maxwell-Boltzmann momenta at ``temperature_K`` (from
    ``seed``) unless they carry momenta already."""
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = atoms.copy()
    if not atoms.get_momenta().any():
        MaxwellBoltzmannDistribution(atoms, temperature_K=temperature_K, rng=np.random.default_rng(seed))
    return MdState(atoms)


def run_segment(sgp: SparseGP, start: MdState | Atoms, max_steps: int, threshold: float, temperature_K: float = 300.0,
                timestep_fs: float = 1.0, pressure_GPa: float | None = None, seed: int = 0, thin: int = 10) -> Segment:
    """Run MD with ``sgp`` from ``start`` until the largest per-atom uncertainty exceeds
    ``threshold`` or ``max_steps`` steps are done. ``start`` is an :class:`MdState` (continued
    exactly) or atoms (momenta drawn at ``temperature_K`` from ``seed`` unless present)."""
    state = start if isinstance(start, MdState) else initial_state(start, temperature_K, seed)
    atoms = state.atoms.copy()
    if pressure_GPa is not None:
        upper_triangular(atoms)  # ASE's NPT integrates an upper-triangular cell
    atoms.calc = sgp.calculator
    sgp.calculator.reset()
    rng = np.random.default_rng(seed)
    dynamics = _dynamics(atoms, timestep_fs, temperature_K, pressure_GPa, rng)
    _restore_dynamics(dynamics, state.dynamics, rng)

    frames, current, step = [], uncertainties(sgp, atoms), 0
    for step in range(1, max_steps + 1):
        dynamics.run(1)
        current = uncertainties(sgp, atoms)
        if not (np.isfinite(current).all() and np.isfinite(atoms.positions).all()):
            raise UnstableMDError(f'non-finite positions or uncertainties at step {state.step + step}')
        if step % thin == 0:
            frames.append((state.step + step, atoms.copy(), float(current.max())))
        if current.max() > threshold:
            break
    _check_distances(atoms, state.step + step)
    _check_cell(state.atoms, atoms, state.step + step)
    final = MdState(atoms.copy(), state.step + step, _save_dynamics(dynamics, rng))
    return Segment(step, bool(current.max() > threshold), float(current.max()), current, final, frames)
