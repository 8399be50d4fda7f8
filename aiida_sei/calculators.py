"""ASE calculators usable as stand-in labellers (entry-point group ``sei.calculators``).

Each entry is a factory ``f(**parameters) -> ase.calculators.Calculator``. Their labels are
never DFT: frames they make carry ``is_dft = False`` and the `paper` protocol refuses them.
"""

from __future__ import annotations


def calculator_version(calc) -> str:
    """``package version`` of the engine behind ``calc`` (the first class in its MRO from outside
    aiida-sei, whose wrappers only adjust how it runs)."""
    from importlib.metadata import version

    module = next(c.__module__ for c in type(calc).__mro__ if not c.__module__.startswith('aiida_sei'))
    package = module.split('.')[0]
    return f'{package} {version(package)}'


def load_calculator(name: str, parameters: dict):
    """The calculator that the factory registered as ``name`` in the ``sei.calculators`` group makes
    with ``parameters`` (the job's runner and the in-process labels both build theirs here)."""
    from importlib.metadata import entry_points

    (entry_point,) = [ep for ep in entry_points(group='sei.calculators') if ep.name == name]
    return entry_point.load()(**parameters)


def lennard_jones(sigma: float = 2.5, epsilon: float = 0.01, rc: float = 6.0):
    """ASE's Lennard-Jones pair potential (one parameter set for all species): instant, for tests."""
    from ase.calculators.lj import LennardJones

    return LennardJones(sigma=sigma, epsilon=epsilon, rc=rc)


def chgnet(model: str = '0.3.0'):
    """CHGNet universal potential; its weights ship inside the `chgnet` wheel (no download). Quiet:
    in-process labels (`sei.ase.inline`) would print its banner and torch's warnings in the log
    of the work chain's process."""
    import contextlib
    import io
    import warnings

    import torch
    from chgnet.model import CHGNet
    from chgnet.model.dynamics import CHGNetCalculator

    class Float32CHGNetCalculator(CHGNetCalculator):
        """CHGNet computes in float32 whatever torch's default is: nequip, when imported in the
        same process (`sei.ase.inline` labels), switches the default to float64."""

        def calculate(self, *args, **kwargs):
            with float32(), warnings.catch_warnings():
                warnings.filterwarnings('ignore', message='Converting a tensor with requires_grad', category=UserWarning)
                return super().calculate(*args, **kwargs)

    @contextlib.contextmanager
    def float32():
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float32)
        try:
            yield
        finally:
            torch.set_default_dtype(previous)

    with float32(), contextlib.redirect_stdout(io.StringIO()):  # "CHGNet will run on cpu"
        return Float32CHGNetCalculator(model=CHGNet.load(model_name=model, verbose=False), use_device='cpu')
