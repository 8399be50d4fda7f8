"""FLARE sparse Gaussian process with the B2 descriptor: the active-learning surrogate.

Pure functions around FLARE (no AiiDA): build an SGP, add a labelled frame's environments,
train hyperparameters, predict per-atom uncertainties, and save/load it as FLARE's JSON. Energies
eV, forces eV/Å, stress eV/Å^3 (ASE convention; converted to FLARE's order and sign here).
The paper's settings: B2, 6 Å cutoff, n_max 9, l_max 3.
"""

from __future__ import annotations

import contextlib

import json
from dataclasses import dataclass

import numpy as np
from ase import Atoms
from ase.data import atomic_numbers

#: What an SGP is made from: B2 descriptor (cutoff Å, n_max, l_max), kernel (sigma, power), noise
#: (sigma_e/f/s) and hyperparameter training. Their values live in one place, the `sgp` entry of
#: workchains/protocols/active_learning.yaml (the paper's: cutoff 6 Å, n_max 9, l_max 3).
SGP_KEYS = ('cutoff', 'n_max', 'l_max', 'sigma', 'power', 'sigma_e', 'sigma_f', 'sigma_s', 'variance_type', 'max_iterations')


@dataclass
class SparseGP:
    """A FLARE SGP calculator and the kernel objects it needs kept alive (FLARE's C++ holds
    references to them)."""

    calculator: object
    kernels: list

    @property
    def model(self):
        return self.calculator.gp_model

    @property
    def n_training_structures(self) -> int:
        return len(self.model.training_data)


def make_sgp(species, settings: dict) -> SparseGP:
    """An empty SGP for ``species`` from ``settings`` (every one of :data:`SGP_KEYS`): B2
    descriptor (Chebyshev radial basis, quadratic cutoff), normalised dot-product kernel;
    ``variance_type='local'`` gives per-atom uncertainties at a cost that scales to hundreds of atoms."""
    missing = [key for key in SGP_KEYS if key not in settings]
    if missing:
        raise ValueError(f'SGP settings lack {", ".join(missing)} (needs {", ".join(SGP_KEYS)})')
    cutoff, n_max, l_max = settings['cutoff'], settings['n_max'], settings['l_max']
    from flare.bffs.sgp import SGP_Wrapper
    from flare.bffs.sgp._C_flare import B2, NormalizedDotProduct
    from flare.bffs.sgp.calculator import SGP_Calculator

    ordered = sorted(species, key=atomic_numbers.__getitem__)
    species_map = {atomic_numbers[s]: i for i, s in enumerate(ordered)}
    descriptor = B2('chebyshev', 'quadratic', [0, cutoff], [], [len(ordered), n_max, l_max])
    kernel = NormalizedDotProduct(settings['sigma'], settings['power'])
    model = SGP_Wrapper([kernel], [descriptor], cutoff, settings['sigma_e'], settings['sigma_f'], settings['sigma_s'], species_map,
                        variance_type=settings['variance_type'], max_iterations=settings['max_iterations'])
    return SparseGP(SGP_Calculator(model), [kernel])


def flare_stress(stress_3x3) -> np.ndarray:
    """ASE stress (3x3, eV/Å^3) -> FLARE's label: -(xx, xy, xz, yy, yz, zz)."""
    s = np.asarray(stress_3x3, float)
    return -np.array([s[0, 0], s[0, 1], s[0, 2], s[1, 1], s[1, 2], s[2, 2]])


def add_frame(sgp: SparseGP, atoms: Atoms, energy: float, forces, stress_3x3, atom_indices) -> None:
    """Add a labelled frame to the training set, with the environments of ``atom_indices`` as
    sparse points (the atoms whose uncertainty passed the threshold). A frame without stress
    (all NaN) adds energy and forces only."""
    stress = None if np.all(np.isnan(stress_3x3)) else flare_stress(stress_3x3)
    sgp.model.update_db(atoms, np.asarray(forces, float), custom_range=[int(i) for i in atom_indices],
                        energy=float(energy), stress=stress, mode='specific')


def atoms_to_add(uncertainties, threshold: float) -> np.ndarray:
    """Indices of the atoms whose uncertainty is above ``threshold``; at least the most uncertain
    one, so that every labelled frame adds a sparse point."""
    values = np.asarray(uncertainties, float)
    chosen = np.flatnonzero(values > threshold)
    return chosen if chosen.size else np.array([int(np.argmax(values))])


def train(sgp: SparseGP) -> str:
    """Optimise the hyperparameters on the training set (the paper: from the second frame on).
    Returns what FLARE printed meanwhile (hundreds of lines per training, from Python and C++),
    which would otherwise bury the report lines of the run on the terminal."""
    with captured_output() as log:
        sgp.model.train()
    return log[0]


@contextlib.contextmanager
def captured_output():
    """Capture everything written to stdout, by Python and by C/C++ (file descriptor 1), into
    the one-element list it yields."""
    import io
    import os
    import sys
    import tempfile

    log = ['']
    sys.stdout.flush()
    with tempfile.TemporaryFile() as sink:
        saved = os.dup(1)
        os.dup2(sink.fileno(), 1)
        python = io.StringIO()
        try:
            with contextlib.redirect_stdout(python):
                yield log
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
            sink.seek(0)
            log[0] = sink.read().decode(errors='replace') + python.getvalue()


def uncertainties(sgp: SparseGP, atoms: Atoms) -> np.ndarray:
    """Per-atom uncertainty (the normalised standard deviation FLARE compares to thresholds)."""
    atoms = atoms.copy()
    sgp.calculator.reset()  # the model may have changed since the last call on these positions
    atoms.calc = sgp.calculator
    return np.asarray(atoms.calc.get_uncertainties(atoms))[:, 0]


def predict(sgp: SparseGP, atoms: Atoms) -> tuple[float, np.ndarray, np.ndarray]:
    """SGP energy (eV), forces (eV/Å) and stress (3x3, eV/Å^3, ASE convention)."""
    atoms = atoms.copy()
    sgp.calculator.reset()
    atoms.calc = sgp.calculator
    return atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


def summary(sgp: SparseGP) -> dict:
    """What a model is, for queries: species, descriptor, hyperparameters, data size."""
    from ase.data import chemical_symbols

    model = sgp.model
    _, n_max, l_max = model.descriptor_calculators[0].descriptor_settings
    return {
        'species': [chemical_symbols[z] for z in sorted(model.species_map, key=model.species_map.get)],
        'descriptor': {'name': 'B2', 'cutoff': float(model.cutoff), 'n_max': int(n_max), 'l_max': int(l_max)},
        'hyperparameters': [float(h) for h in model.hyps],
        'variance_type': model.variance_type,
        'n_training_structures': len(model.training_data),
        'n_sparse': int(sum(len(indices) for indices in model.sparse_gp.sparse_indices[0])),
    }


def to_json(sgp: SparseGP) -> str:
    """FLARE's own JSON of the model (what `SGP_Calculator.write_model` writes)."""
    from flare.utils import NumpyEncoder

    return json.dumps(sgp.calculator.as_dict(), cls=NumpyEncoder)


def from_json(text: str) -> SparseGP:
    from flare.bffs.sgp import SGP_Wrapper
    from flare.bffs.sgp.calculator import SGP_Calculator

    data = json.loads(text)
    model, kernels = SGP_Wrapper.from_dict(data['gp_model'])
    return SparseGP(SGP_Calculator(model, use_mapping=data['use_mapping']), kernels)
