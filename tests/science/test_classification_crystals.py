"""The paper's classification on the project's own crystals: ACE descriptors of Li centres,
DPA clustering, labels from reference frames, and the doped SEI phase found as "unknown"."""

import numpy as np
import pytest

from aiida_sei.science import crystals
from aiida_sei.science.classification import UNKNOWN, classify, fit_clustering, label_clusters, label_fractions
from aiida_sei.science.descriptors import li_ace_descriptors

PHASES = {
    'Li': lambda seed: crystals.bcc_li(supercell=(4, 4, 4)),
    'Li6PS5Cl': lambda seed: crystals.argyrodite(supercell=(2, 1, 1), seed=seed),
    'Li2S': lambda seed: crystals.li2s(supercell=(3, 3, 3)),
    'Li3P': lambda seed: crystals.li3p(supercell=(4, 4, 2)),
    'LiCl': lambda seed: crystals.licl(supercell=(4, 4, 4)),
}
NEW = 'Li2S0.72P0.14Cl0.14'


def rattled(atoms, seed, amplitude=0.08):
    """Thermal-like disorder: Gaussian displacements of ``amplitude`` Å."""
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0, amplitude, atoms.positions.shape)
    return atoms


def environments(make, seeds):
    return np.vstack([li_ace_descriptors(rattled(make(seed), 1000 + seed)) for seed in seeds])


def new_phase(seed):
    return crystals.doped_li2s(x=0.14, supercell=(4, 4, 4), seed=seed)


@pytest.fixture(scope='module')
def clustering():
    data = [environments(make, range(6 if name == 'Li6PS5Cl' else 3)) for name, make in PHASES.items()] + [environments(new_phase, range(3))]
    fitted = fit_clustering(np.vstack(data), n_components=20, Z=3.0, maxk=100)
    label_clusters(fitted, {name: environments(make, [10, 11, 12, 13]) for name, make in PHASES.items()})
    return fitted


def fractions(clustering, descriptors):
    labels, core = classify(clustering, descriptors)
    return {name: part['core'] + part['non_core'] for name, part in label_fractions(labels, core).items()}


@pytest.mark.parametrize('phase', list(PHASES))
def test_each_reference_phase_is_recovered_without_confusion(clustering, phase):
    found = fractions(clustering, environments(PHASES[phase], [20]))
    assert found.get(phase, 0) >= 0.9
    assert all(value == 0 for name, value in found.items() if name not in (phase, UNKNOWN)), found


def test_new_phase_is_unknown_until_its_reference_is_added(clustering):
    held_out = environments(new_phase, [30])
    before = fractions(clustering, held_out)
    # A Li whose four nearest anions are all S (0.72^4 = 27 % of them) looks like Li2S, as the
    # paper found; the rest is unknown, and nothing else is confused with it.
    assert before[UNKNOWN] >= 0.6
    assert set(before) <= {UNKNOWN, 'Li2S'}
    clusters = clustering.cluster.copy()
    references = {name: environments(make, [10, 11, 12, 13]) for name, make in PHASES.items()}
    label_clusters(clustering, {**references, NEW: environments(new_phase, [40])})
    assert np.array_equal(clustering.cluster, clusters)  # labelled without re-clustering
    after = fractions(clustering, held_out)
    assert after[NEW] >= 0.6 and after.get(UNKNOWN, 0) < before[UNKNOWN]


def test_a_known_mixture_gives_back_its_fractions(clustering):
    li, licl = environments(PHASES['Li'], [50]), environments(PHASES['LiCl'], [51])
    found = fractions(clustering, np.vstack([li, licl]))
    assert found['Li'] == pytest.approx(len(li) / (len(li) + len(licl)))
    assert found['LiCl'] == pytest.approx(len(licl) / (len(li) + len(licl)))
