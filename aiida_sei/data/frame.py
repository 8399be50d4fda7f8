"""``sei.frame``: one labelled frame as a node, its metadata as queryable attributes."""

from __future__ import annotations

import numpy as np
from aiida.orm import ArrayData
from ase.data import chemical_symbols

from aiida_sei.science.frames import Frame, check_frame, structure_hash

#: Queryable attributes a frame may carry beyond the derived ones.
METADATA_KEYS = ('system', 'condition', 'origin', 'settings_hash', 'backend', 'is_dft')


class FrameData(ArrayData):
    """A configuration with its energy (eV), forces (eV/Å) and stress (eV/Å^3, ASE sign).

    Arrays (in the repository): numbers, positions, cell, pbc, forces, stress.
    Attributes (queryable): energy, energy_per_atom, n_atoms, formula, elements,
    structure_hash, and the metadata: system (e.g. 'Li6PS5Cl'), condition (dict: temperature K,
    pressure GPa, strain), origin ('active_learning', 'refinement_md', 'aimd', 'imported', ...),
    settings_hash (labelling settings), backend ('gpaw', 'vasp', ...), is_dft.
    """

    def __init__(self, frame: Frame | None = None, **kwargs):
        metadata = {key: kwargs.pop(key) for key in METADATA_KEYS if key in kwargs}
        super().__init__(**kwargs)
        if frame is not None:
            self._set_frame(check_frame(frame))
            known = {k: v for k, v in frame.info.items() if k in METADATA_KEYS}
            self.set_metadata(**{**known, **metadata})

    def _set_frame(self, frame: Frame) -> None:
        self.set_array('numbers', np.asarray(frame.numbers, dtype=np.int64))
        self.set_array('positions', np.asarray(frame.positions, float))
        self.set_array('cell', np.asarray(frame.cell, float))
        self.set_array('pbc', np.asarray(frame.pbc, bool))
        self.set_array('forces', np.asarray(frame.forces, float))
        self.set_array('stress', np.asarray(frame.stress, float))
        symbols = [chemical_symbols[z] for z in frame.numbers]
        counts = {s: symbols.count(s) for s in sorted(set(symbols))}
        self.base.attributes.set_many(
            {
                'energy': float(frame.energy),
                'energy_per_atom': float(frame.energy) / frame.n_atoms,
                'n_atoms': frame.n_atoms,
                'formula': ''.join(f'{s}{n}' for s, n in counts.items()),
                'elements': sorted(counts),
                'structure_hash': structure_hash(frame.numbers, frame.positions, frame.cell),
            }
        )

    def set_metadata(self, **metadata) -> None:
        """Set the queryable metadata (only :data:`METADATA_KEYS`; others are refused)."""
        unknown = set(metadata) - set(METADATA_KEYS)
        if unknown:
            raise ValueError(f'unknown frame metadata {sorted(unknown)}; allowed: {", ".join(METADATA_KEYS)}')
        self.base.attributes.set_many(metadata)

    @property
    def energy(self) -> float:
        return self.base.attributes.get('energy')

    def metadata(self) -> dict:
        return {key: self.base.attributes.get(key, None) for key in METADATA_KEYS}

    def get_frame(self) -> Frame:
        return Frame(
            numbers=self.get_array('numbers'),
            positions=self.get_array('positions'),
            cell=self.get_array('cell'),
            pbc=self.get_array('pbc'),
            energy=self.energy,
            forces=self.get_array('forces'),
            stress=self.get_array('stress'),
            info={k: v for k, v in self.metadata().items() if isinstance(v, (str, int, float, bool))},
        )

    def get_atoms(self):
        """ASE atoms with a single-point calculator holding energy, forces and stress."""
        return self.get_frame().to_atoms()
