"""Per-species energy shifts of a training from its own frames (no profile)."""

import pytest

from aiida_sei.science.allegro import fit_energy_shifts


def test_energy_shifts_fitted_by_least_squares_recover_per_species_energies():
    """Frames whose energies are sums of per-species energies give those back exactly; the
    shifts that a GPAW- or CHGNet-labelled training uses instead of the paper's VASP table."""
    truth = {'Li': -1.9, 'S': -4.1, 'P': -5.3, 'Cl': -1.8}
    compositions = [{'Li': 16}, {'Li': 8, 'S': 4}, {'Li': 12, 'P': 4}, {'Li': 4, 'Cl': 4}, {'Li': 24, 'P': 4, 'S': 20, 'Cl': 4}]
    energies = [sum(truth[s] * n for s, n in c.items()) for c in compositions]
    fitted = fit_energy_shifts(compositions, energies, ['Cl', 'Li', 'P', 'S'])
    assert fitted == pytest.approx(truth)
