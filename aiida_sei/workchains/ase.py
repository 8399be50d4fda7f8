"""``sei.ase.base``: a stand-in single point with a registered ASE calculator, with restarts."""

from __future__ import annotations

from aiida_sei.calculations.ase import AseCalculation

from .singlepoint import SinglePointBaseWorkChain


class AseBaseWorkChain(SinglePointBaseWorkChain):
    """Runs :class:`AseCalculation` (labels that are not DFT)."""

    _process_class = AseCalculation
    _namespace = 'ase'
    _protocol_file = 'ase'
    CODES = {'label': 'python'}
