"""FLARE sparse GP (B2) as the active-learning surrogate: uncertainty falls where data was added."""

import numpy as np
import pytest
from ase.calculators.lj import LennardJones

from aiida_sei.science import crystals, sgp
from tests.science import fast_sgp_settings


def labelled(atoms, seed, amplitude):
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0, amplitude, atoms.positions.shape)
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    return atoms, atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False)


@pytest.fixture(scope='module')
def model():
    model = sgp.make_sgp(['Li', 'S'], fast_sgp_settings())
    atoms, energy, forces, stress = labelled(crystals.li2s(), 1, 0.02)
    sgp.add_frame(model, atoms, energy, forces, stress, range(len(atoms)))
    return model


def test_uncertainty_is_low_on_seen_and_high_on_unseen_environments(model):
    seen, *_ = labelled(crystals.li2s(), 1, 0.02)
    unseen, *_ = labelled(crystals.li2s(), 2, 0.4)
    assert sgp.uncertainties(model, seen).max() < sgp.uncertainties(model, unseen).max()


def test_adding_the_uncertain_frame_lowers_its_uncertainty(capfd):
    model = sgp.make_sgp(['Li', 'S'], fast_sgp_settings())
    first = labelled(crystals.li2s(), 1, 0.02)
    sgp.add_frame(model, *first, range(len(first[0])))
    unseen = labelled(crystals.li2s(), 3, 0.4)
    before = sgp.uncertainties(model, unseen[0])
    worst = np.flatnonzero(before > np.quantile(before, 0.5))
    sgp.add_frame(model, *unseen, worst)
    capfd.readouterr()
    log = sgp.train(model)
    printed = capfd.readouterr()
    assert 'Hyperparameters' in log or 'Precomputing' in log  # FLARE's printout, kept
    assert printed.out == ''  # and off the terminal
    after = sgp.uncertainties(model, unseen[0])
    assert after[worst].max() < before[worst].max()
    assert model.n_training_structures == 2


def test_json_round_trip_predicts_the_same(model):
    atoms, *_ = labelled(crystals.li2s(), 5, 0.1)
    again = sgp.from_json(sgp.to_json(model))
    energy, forces, stress = sgp.predict(model, atoms)
    energy2, forces2, stress2 = sgp.predict(again, atoms)
    assert energy2 == pytest.approx(energy, rel=1e-10)
    assert np.allclose(forces2, forces) and np.allclose(stress2, stress)
    assert np.allclose(sgp.uncertainties(again, atoms), sgp.uncertainties(model, atoms))


def test_flare_stress_order_and_sign():
    stress = np.array([[1.0, 6.0, 5.0], [6.0, 2.0, 4.0], [5.0, 4.0, 3.0]])
    assert list(sgp.flare_stress(stress)) == [-1.0, -6.0, -5.0, -2.0, -4.0, -3.0]


def test_incomplete_sgp_settings_name_what_is_missing():
    with pytest.raises(ValueError, match='SGP settings lack sigma_e'):
        sgp.make_sgp(['Li'], {k: v for k, v in fast_sgp_settings().items() if k != 'sigma_e'})
