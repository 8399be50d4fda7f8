"""``sei.ase`` parser: a registered ASE calculator's results -> a stand-in (not-DFT) frame."""

from __future__ import annotations

from .singlepoint import SinglePointParser


class AseParser(SinglePointParser):
    """Frames of `sei.ase` jobs, always ``is_dft = False``, backend ``ase:<calculator>``."""

    is_dft = False

    def backend(self) -> str:
        return f'ase:{self.node.inputs.calculator.value}'

    def settings(self) -> dict:
        return self.node.inputs.parameters.get_dict() if 'parameters' in self.node.inputs else {}
