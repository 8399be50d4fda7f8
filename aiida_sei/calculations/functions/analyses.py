"""The paper's per-frame analyses as calcfunctions, so each result is a node with its input."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.science import analyses


@calcfunction
def analyse_structure(structure: orm.StructureData) -> orm.Dict:
    """Intact PS4 count, SEI thickness per side (Å, None once the electrolyte is consumed), Li
    phase fractions (PTM) and the composition per anion of one frame."""
    atoms = structure.get_ase()
    symbols = atoms.get_chemical_symbols()
    has_anions = any(s in analyses.ANIONS for s in symbols)
    return orm.Dict(
        {
            'intact_ps4': analyses.count_intact_ps4(atoms),
            'sei_thickness': analyses.sei_thickness(atoms),
            'li_phases': analyses.li_phase_fractions(atoms) if 'Li' in symbols else None,
            'composition_per_anion': analyses.composition_per_anion(symbols) if has_anions else None,
        }
    )
