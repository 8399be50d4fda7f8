"""Per-species energy shifts of a training from its own frames (no profile)."""

import pytest

from aiida_sei.science.allegro import composition_rank, fit_energy_shifts


def test_energy_shifts_fitted_by_least_squares_recover_per_species_energies():
    """Frames whose energies are sums of per-species energies give those back exactly; the
    shifts that a training on data of a labeller without a table (GPAW, imported) uses."""
    truth = {'Li': -1.9, 'S': -4.1, 'P': -5.3, 'Cl': -1.8}
    compositions = [{'Li': 16}, {'Li': 8, 'S': 4}, {'Li': 12, 'P': 4}, {'Li': 4, 'Cl': 4}, {'Li': 24, 'P': 4, 'S': 20, 'Cl': 4}]
    energies = [sum(truth[s] * n for s, n in c.items()) for c in compositions]
    fitted = fit_energy_shifts(compositions, energies, ['Cl', 'Li', 'P', 'S'])
    assert fitted == pytest.approx(truth)


def test_frames_of_one_composition_fix_only_its_total_and_say_so():
    """One composition (the new phase's MD frames, say): the minimum-norm shifts reproduce its
    total energy, and the rank that flags the shifts as underdetermined is 1."""
    compositions = [{'Li': 8, 'S': 2, 'P': 1, 'Cl': 1}] * 3
    species = ['Cl', 'Li', 'P', 'S']
    fitted = fit_energy_shifts(compositions, [-40.0, -40.2, -39.9], species)
    assert sum(fitted[s] * n for s, n in compositions[0].items()) == pytest.approx(-40.033333)
    assert composition_rank(compositions, species) == 1
    assert composition_rank([{'Li': 16}, {'Li': 8, 'S': 4}, {'Li': 12, 'P': 4}, {'Li': 4, 'Cl': 4}], species) == 4


def test_the_chgnet_table_holds_chgnets_single_atom_energies_below_its_bonded_ones():
    """The `ase:chgnet` shifts of the Allegro protocol are CHGNet's energies of one atom in a
    20 Å box (recomputed here: the table is not stale for the CHGNet that labels), and each lies
    above the energy per atom of its element bonded (Li metal, and through Li2S, Li3P, LiCl the
    anions): the model's isolated atom costs the cohesive energy, so a cell under tension does
    not evaporate (docs/training.md)."""
    from ase import Atoms

    from aiida_sei.calculators import chgnet
    from aiida_sei.science import crystals
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    table = AllegroTrainingWorkChain.get_protocol_inputs('fast')['energy_shifts']['ase:chgnet']
    calculator = chgnet()
    for element, shift in table.items():
        atom = Atoms(element, positions=[[10.0] * 3], cell=[20.0] * 3, pbc=True)
        atom.calc = calculator
        assert atom.get_potential_energy() == pytest.approx(shift, abs=1e-4)
    for name, build in (('Li', crystals.bcc_li), ('Li2S', crystals.li2s), ('Li3P', crystals.li3p), ('LiCl', crystals.licl)):
        atoms = build()
        atoms.calc = calculator
        count = {s: atoms.get_chemical_symbols().count(s) for s in set(atoms.get_chemical_symbols())}
        cohesive = (sum(table[s] * n for s, n in count.items()) - atoms.get_potential_energy()) / len(atoms)
        assert 1.0 < cohesive < 6.0, f'{name}: {cohesive:.2f} eV/atom below its isolated atoms'
