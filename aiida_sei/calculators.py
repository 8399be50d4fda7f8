"""ASE calculators usable as stand-in labellers (entry-point group ``sei.calculators``).

Each entry is a factory ``f(**parameters) -> ase.calculators.Calculator``. Their labels are
never DFT: frames they make carry ``is_dft = False`` and the `paper` protocol refuses them.
"""

from __future__ import annotations


def lennard_jones(sigma: float = 2.5, epsilon: float = 0.01, rc: float = 6.0):
    """ASE's Lennard-Jones pair potential (one parameter set for all species): instant, for tests."""
    from ase.calculators.lj import LennardJones

    return LennardJones(sigma=sigma, epsilon=epsilon, rc=rc)


def chgnet(model: str = '0.3.0'):
    """CHGNet universal potential; its weights ship inside the `chgnet` wheel (no download)."""
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    return CHGNetCalculator(model=CHGNet.load(model_name=model, verbose=False), use_device='cpu')
