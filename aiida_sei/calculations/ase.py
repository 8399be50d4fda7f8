"""``sei.ase``: a single point with any ASE calculator registered in the entry-point group
``sei.calculators`` (cheap stand-in labels such as a universal potential; never DFT).

The job runs ``aiida_sei/runners/ase_singlepoint.py``, which loads the calculator by name on
the machine that runs it, so that machine needs aiida-sei and the calculator's package.
"""

from __future__ import annotations

from importlib.metadata import entry_points

from aiida import orm

from .singlepoint import SinglePointCalculation

CALCULATOR_GROUP = 'sei.calculators'


def available_calculators() -> list[str]:
    return sorted(ep.name for ep in entry_points(group=CALCULATOR_GROUP))


def validate_calculator(name, _):
    if name.value not in available_calculators():
        return f'unknown ASE calculator `{name.value}`; registered in {CALCULATOR_GROUP}: {", ".join(available_calculators())}'
    return None


class AseCalculation(SinglePointCalculation):
    """Single point with a registered ASE calculator; frames are marked ``is_dft = False``."""

    _runner_script = 'ase_singlepoint.py'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('calculator', valid_type=orm.Str, validator=validate_calculator, help=f'Name in the `{CALCULATOR_GROUP}` entry-point group.')
        spec.input('parameters', valid_type=orm.Dict, required=False, help='Keyword arguments of the calculator factory.')
        spec.inputs['metadata']['options']['parser_name'].default = 'sei.ase'

    def runner_input(self) -> dict:
        parameters = self.inputs.parameters.get_dict() if 'parameters' in self.inputs else {}
        return {'calculator': self.inputs.calculator.value, 'parameters': parameters}
