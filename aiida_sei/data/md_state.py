"""``sei.md_state``: the full state of an MD run, to continue it exactly (another segment, a
restarted daemon, or more MD time on a finished run)."""

from __future__ import annotations

import json

import numpy as np
from aiida.orm import ArrayData, StructureData


class MdStateData(ArrayData):
    """Positions, cell and momenta (arrays) plus the step reached and the integrator's variables
    (thermostat/barostat, or the Langevin random stream) as JSON: plain data, no pickles.

    Attributes (queryable): step, n_atoms, formula.
    """

    def __init__(self, state=None, **kwargs):
        super().__init__(**kwargs)
        if state is not None:
            atoms = state.atoms
            self.set_array('numbers', np.asarray(atoms.numbers, np.int64))
            self.set_array('positions', np.asarray(atoms.positions, float))
            self.set_array('cell', np.asarray(atoms.cell.array, float))
            self.set_array('pbc', np.asarray(atoms.pbc, bool))
            self.set_array('momenta', np.asarray(atoms.get_momenta(), float))
            # JSON text, not nested attributes: the random stream's state holds 128-bit integers.
            self.base.attributes.set_many(
                {'step': int(state.step), 'n_atoms': len(atoms), 'formula': atoms.get_chemical_formula(), 'dynamics': json.dumps(state.dynamics)}
            )

    @property
    def step(self) -> int:
        return self.base.attributes.get('step')

    def get_state(self):
        """The state as a :class:`aiida_sei.science.md_segment.MdState`."""
        from ase import Atoms

        from aiida_sei.science.md_segment import MdState

        atoms = Atoms(numbers=self.get_array('numbers'), positions=self.get_array('positions'), cell=self.get_array('cell'), pbc=self.get_array('pbc'))
        atoms.set_momenta(self.get_array('momenta'))
        return MdState(atoms, self.step, json.loads(self.base.attributes.get('dynamics')))

    def get_structure(self) -> StructureData:
        """The configuration (unstored) as a StructureData."""
        return StructureData(ase=self.get_state().atoms)
