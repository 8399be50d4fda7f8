"""Per-species energy shifts of a training from its own frames (no profile)."""

import pytest

from aiida_sei.science.allegro import composition_rank, fit_energy_shifts


def test_energy_shifts_fitted_by_least_squares_recover_per_species_energies():
    """Frames whose energies are sums of per-species energies give those back exactly; the
    shifts that a GPAW- or CHGNet-labelled training uses instead of the paper's VASP table."""
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
