"""Clustering, cores, labels and assignment without re-clustering, on data with known answers:
well-separated Gaussian blobs standing for phases (the ACE-descriptor tests use real crystals)."""

import numpy as np
import pytest

from aiida_sei.science.classification import (
    UNKNOWN, Clustering, assign, classify, distinct_points, fit_clustering, label_clusters, label_fractions, label_non_core,
    label_unknown_clusters, out_of_reach,
)

CENTRES = {name: np.random.default_rng(i).normal(0, 6, 30) for i, name in enumerate(['Li2S', 'LiCl', 'new'])}


def blob(name, n, seed):
    return CENTRES[name] + np.random.default_rng(seed).normal(0, 1, (n, 30))


@pytest.fixture(scope='module')
def clustering():
    data = np.vstack([blob('Li2S', 250, 1), blob('LiCl', 250, 2), blob('new', 250, 3)])
    return fit_clustering(data, n_components=10, Z=3.0, maxk=60)


def test_separated_phases_form_their_own_clusters_with_cores(clustering):
    assert clustering.n_clusters == 3
    per_blob = clustering.cluster.reshape(3, 250)
    assert all(len(set(row.tolist())) == 1 for row in per_blob)  # one cluster per blob
    assert clustering.core.all()  # no saddle between fully separated clusters: all core


def test_touching_clusters_have_cores_above_their_saddle():
    rng = np.random.default_rng(5)
    shift = np.full(5, 2.5)  # along the diagonal, so standardisation scales it evenly
    data = np.vstack([rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (400, 5)) + shift])
    fitted = fit_clustering(data, n_components=5, Z=2.0, maxk=60)
    assert fitted.n_clusters == 2 and np.isfinite(fitted.thresholds).all()
    core = fitted.core
    assert 0.1 < core.mean() < 0.95
    # non-core points lie towards the saddle between the two peaks
    towards_saddle = np.abs((data - shift / 2) @ shift / np.linalg.norm(shift))
    assert towards_saddle[~core].mean() < towards_saddle[core].mean()


def test_unreferenced_cluster_is_unknown_until_its_reference_is_added(clustering):
    labels = label_clusters(clustering, {'Li2S': blob('Li2S', 40, 10), 'LiCl': blob('LiCl', 40, 11)})
    assert sorted(labels) == sorted(['Li2S', 'LiCl', UNKNOWN])
    before = classify(clustering, blob('new', 50, 12))[0]
    assert set(before) == {UNKNOWN}
    clusters_before = clustering.cluster.copy()
    label_clusters(clustering, {'Li2S': blob('Li2S', 40, 10), 'LiCl': blob('LiCl', 40, 11), 'new': blob('new', 40, 13)})
    assert np.array_equal(clustering.cluster, clusters_before)  # no re-clustering
    assert set(classify(clustering, blob('new', 50, 12))[0]) == {'new'}


def test_the_second_pass_names_only_the_unknown_cluster(clustering):
    """The paper's second pass: a reference added afterwards (here one that also overlaps a
    labelled phase) names the unknown cluster and leaves the labelled ones as they were."""
    label_clusters(clustering, {'Li2S': blob('Li2S', 40, 10), 'LiCl': blob('LiCl', 40, 11)})
    first = list(clustering.labels)
    doped = np.vstack([blob('new', 40, 13), blob('Li2S', 60, 14)])  # more votes in Li2S's core than in the new one's
    labels = label_unknown_clusters(clustering, {'Li2S(1-2x)PxClx': doped})
    assert [new for old, new in zip(first, labels) if old != UNKNOWN] == [old for old in first if old != UNKNOWN]
    assert labels[first.index(UNKNOWN)] == 'Li2S(1-2x)PxClx'
    assert set(classify(clustering, blob('new', 50, 12))[0]) == {'Li2S(1-2x)PxClx'}


def test_assignment_agrees_with_reclustering():
    train = np.vstack([blob('Li2S', 200, 21), blob('LiCl', 200, 22), blob('new', 200, 23)])
    held_out = np.vstack([blob('Li2S', 50, 24), blob('LiCl', 50, 25), blob('new', 50, 26)])
    fitted = fit_clustering(train, n_components=10, maxk=60)
    assigned, _ = assign(fitted, held_out)
    refitted = fit_clustering(np.vstack([train, held_out]), n_components=10, maxk=60)
    reclustered = refitted.cluster[len(train):]
    # compare partitions through the training points' clusters in both fits
    mapping = {a: Counter_most(refitted.cluster[: len(train)][fitted.cluster == a]) for a in range(fitted.n_clusters)}
    agreement = np.mean([mapping[a] == b for a, b in zip(assigned, reclustered)])
    assert agreement > 0.97


def Counter_most(values):
    values, counts = np.unique(values, return_counts=True)
    return values[np.argmax(counts)]


def test_known_mixture_gives_back_its_fractions(clustering):
    label_clusters(clustering, {'Li2S': blob('Li2S', 40, 10), 'LiCl': blob('LiCl', 40, 11), 'new': blob('new', 40, 13)})
    mixture = np.vstack([blob('Li2S', 60, 31), blob('LiCl', 30, 32), blob('new', 10, 33)])
    labels, core = classify(clustering, mixture)
    fractions = label_fractions(labels, core)
    totals = {name: part['core'] + part['non_core'] for name, part in fractions.items()}
    assert totals == pytest.approx({'Li2S': 0.6, 'LiCl': 0.3, 'new': 0.1})


def test_too_few_environments_are_refused():
    with pytest.raises(ValueError, match='at least 10'):
        fit_clustering(np.zeros((5, 3)))


def test_repeated_environments_are_clustered_once():
    data = np.vstack([blob('Li2S', 100, 41), blob('LiCl', 100, 42)])
    perfect = np.repeat(CENTRES['Li2S'][None, :], 50, axis=0)  # a perfect crystal: one environment
    fitted = fit_clustering(np.vstack([data, perfect]), n_components=10, maxk=40)
    assert len(fitted.points) == 201 and np.isfinite(fitted.log_density).all()


def test_environments_alike_to_rounding_noise_are_clustered_once():
    """Sites of an ideal cell differ by ~1e-13 and may round apart; a pair at distance 0 made
    DADApy's density fit loop forever on a reduced run's frames."""
    data = np.vstack([blob('Li2S', 100, 41), blob('LiCl', 100, 42)])
    boundary = np.round(CENTRES['Li2S'], 10) + 0.5e-10  # halfway between two rounded values
    noisy = boundary + np.random.default_rng(7).normal(0, 1e-13, (50, 30))
    assert len(np.unique(np.round(noisy, 10), axis=0)) > 1  # rounding alone keeps repeats
    fitted = fit_clustering(np.vstack([data, noisy]), n_components=10, maxk=40)
    assert len(fitted.points) == 201 and np.isfinite(fitted.log_density).all()
    assert len(distinct_points(np.array([[0.0, 0.0], [0.0, 5e-7], [1.0, 0.0]]))) == 2


def test_a_reference_without_li_environments_is_refused_not_dropped(clustering):
    """A reference of S only has no Li-centred descriptors: it would label nothing, silently."""
    with pytest.raises(ValueError, match='reference\\(s\\) S hold no Li'):
        label_clusters(clustering, {'Li2S': blob('Li2S', 40, 10), 'S': np.empty((0, 30))})


def test_a_reference_out_of_the_datas_reach_does_not_vote(clustering):
    """A phase the data do not contain can project onto a cluster on the few axes the density is
    computed on (a demo run's LiCl reference named its metal): here a Li2S blob moved off every
    principal axis kept. Only references the data hold, on the support axes, vote."""
    rng = np.random.default_rng(51)
    off_axis = rng.normal(0, 1, 30)
    off_axis -= clustering.components.T @ (clustering.components @ off_axis)  # orthogonal to the kept axes
    off_axis *= 5 * clustering.reach * clustering.scale / np.linalg.norm(off_axis)
    folded = blob('Li2S', 80, 52) + off_axis
    assert np.allclose(clustering.project(folded), clustering.project(blob('Li2S', 80, 52)))  # same place on the kept axes
    references = {'Li2S': blob('Li2S', 40, 10), 'absent': folded}
    assert (clustering.distance_to_data(folded) > clustering.reach).all() and clustering.holds(references['Li2S'])
    assert out_of_reach(clustering, references) == ['absent']
    labels = label_clusters(clustering, references)
    assert 'absent' not in labels and 'Li2S' in labels


def partly_referenced_phases():
    """Two touching phases, A and B, and references: A's environments, and X, environments of B's
    non-core region only (B's core holds no reference)."""
    rng = np.random.default_rng(5)
    data = np.vstack([rng.normal(0, 1, (400, 5)), rng.normal(0, 1, (400, 5)) + np.full(5, 2.5)])
    fitted = fit_clustering(data, n_components=5, Z=2.0, maxk=60)
    clusters, core = assign(fitted, data)
    partial = data[(clusters == fitted.cluster[-1]) & ~core]
    return data, fitted, {'A': rng.normal(0, 1, (40, 5)), 'X': partial}


def test_the_non_core_pass_names_only_the_non_core_region_of_unknown_clusters():
    """The paper's LiCl_N: a reference that lands only in the non-core region of a cluster leaves
    the cluster unknown in the first pass; the last pass names that region, and its core stays unknown."""
    data, fitted, references = partly_referenced_phases()
    a, b = fitted.cluster[0], fitted.cluster[-1]
    assert a != b and len(references['X']) >= 10
    labels = label_clusters(fitted, references)
    assert labels[a] == 'A' and labels[b] == UNKNOWN
    non_core = label_non_core(fitted, references)
    assert non_core[a] == 'A' and non_core[b] == 'X' and fitted.labels[b] == UNKNOWN
    clusters, _ = assign(fitted, data[400:])
    named, in_core = classify(fitted, data[400:])
    assert set(named[in_core & (clusters == b)]) == {UNKNOWN} and set(named[~in_core & (clusters == b)]) == {'X'}


def test_a_clustering_stored_without_its_support_lets_every_reference_vote(clustering):
    """Clusterings stored before the support was kept (older archives) still load and label."""
    arrays = {k: v for k, v in clustering.to_arrays().items() if k not in ('support_axes', 'support', 'reach')}
    older = Clustering.from_arrays(arrays, clustering.intrinsic_dimension, clustering.maxk)
    assert older.holds(blob('Li2S', 5, 60) + 1e3)
    assert sorted(label_clusters(older, {'Li2S': blob('Li2S', 40, 10)})) == sorted(['Li2S', UNKNOWN, UNKNOWN])
