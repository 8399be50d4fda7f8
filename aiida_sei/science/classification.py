"""Unsupervised classification of local environments: PAk density, DPA clustering (DADApy),
cluster cores, labels from reference environments, and assignment of new points to the existing
clusters without re-clustering. Pure numpy/DADApy; descriptors come from ``descriptors``.

The paper's definitions: a point is *core* when its log-density exceeds the highest saddle
(border) log-density between its cluster and any neighbouring cluster; a cluster takes the label
of the reference environments in its core; a cluster with no reference in its core is
``unknown``, and the non-core region of a cluster still unknown at the end takes the label of
the reference environments in it (the paper's LiCl_N and Li3P_N). Points keep their cluster's
label and are reported as core (C) or non-core (N).

One addition: a reference votes only if the data hold its environments, its median environment
no farther from the nearest clustered one (on the first ``SUPPORT_AXES`` principal axes, nearly
the whole descriptor space) than the data's own 99th-percentile nearest-neighbour distance. The
few axes the density is computed on can fold a phase the data do not contain onto one they do
(docs/classification.md).
"""

from __future__ import annotations

import contextlib
import warnings
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from scipy.spatial import cKDTree

UNKNOWN = 'unknown'

#: Principal axes on which a reference environment's distance to the data is measured: 99.6 %
#: of the variance of a demo run's 326 ACE features (3 axes: 94 %).
SUPPORT_AXES = 32

#: The data's nearest-neighbour distance at this percentile is the reach of a reference vote.
REACH_PERCENTILE = 99.0


@dataclass
class Clustering:
    """A fitted clustering: the projection, the clustered points and their clusters."""

    mean: np.ndarray  #: per-feature mean of the training descriptors
    scale: np.ndarray  #: the descriptors' total standard deviation, one number repeated per feature
    components: np.ndarray  #: PCA axes, shape (n_components, n_features)
    points: np.ndarray  #: projected training points, shape (N, n_components)
    log_density: np.ndarray  #: PAk log-density of each training point
    cluster: np.ndarray  #: cluster index of each training point
    thresholds: np.ndarray  #: core threshold (highest saddle log-density) of each cluster
    intrinsic_dimension: float
    maxk: int
    labels: list[str] = field(default_factory=list)  #: label of each cluster (after ``label_clusters``)
    #: label of each cluster's non-core points: its label, or for a cluster whose core no reference
    #: names, the references in its non-core region (``label_non_core``)
    non_core_labels: list[str] = field(default_factory=list)
    support_axes: np.ndarray | None = None  #: the first SUPPORT_AXES principal axes
    support: np.ndarray | None = None  #: the clustered environments on them (float32)
    reach: float = np.inf  #: REACH_PERCENTILE of the environments' nearest-neighbour distances there

    @property
    def n_clusters(self) -> int:
        return len(self.thresholds)

    @property
    def core(self) -> np.ndarray:
        return self.log_density >= self.thresholds[self.cluster]

    def project(self, descriptors: np.ndarray) -> np.ndarray:
        return ((np.asarray(descriptors, float) - self.mean) / self.scale) @ self.components.T

    def distance_to_data(self, descriptors: np.ndarray) -> np.ndarray:
        """Each environment's distance to the nearest clustered one on the support axes (zeros for
        a clustering stored before the support was kept)."""
        if self.support is None:
            return np.zeros(len(descriptors))
        standard = (np.asarray(descriptors, float) - self.mean) / self.scale
        distance, _ = self._support_tree.query((standard @ self.support_axes.T).astype(self.support.dtype))
        return distance

    @cached_property
    def _support_tree(self) -> cKDTree:
        """Built once per clustering: every reference and classified frame is measured against it."""
        return cKDTree(self.support)

    def holds(self, descriptors: np.ndarray) -> bool:
        """Whether the data hold environments like these: the median one lies within reach."""
        return bool(np.median(self.distance_to_data(descriptors)) <= self.reach)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """Everything needed to rebuild the clustering, as named arrays (for an ArrayData node)."""
        arrays = {
            'mean': self.mean, 'scale': self.scale, 'components': self.components, 'points': self.points,
            'log_density': self.log_density, 'cluster': self.cluster, 'thresholds': self.thresholds,
        }
        if self.support is not None:
            arrays.update(support_axes=self.support_axes, support=self.support, reach=np.array([self.reach]))
        return arrays

    @classmethod
    def from_arrays(cls, arrays: dict, intrinsic_dimension: float, maxk: int, labels=(), non_core_labels=()) -> Clustering:
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        if 'reach' in arrays:
            arrays['reach'] = float(arrays['reach'][0])
        return cls(**arrays, intrinsic_dimension=intrinsic_dimension, maxk=maxk, labels=list(labels),
                   non_core_labels=list(non_core_labels or labels))


@contextlib.contextmanager
def _zero_distances_expected():
    """DADApy warns of neighbours at distance 0. Here they are expected: an environment assigned to
    the clustering it is a point of, or crystal sites alike to 1e-10 after projection. The warning,
    once per call, would bury the run's report."""
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='There are points with neighbours at 0 distance')
        yield


def _data(points: np.ndarray, maxk: int, n_jobs: int = 1):
    from dadapy import Data

    data = Data(coordinates=points, maxk=min(maxk, len(points) - 1), n_jobs=n_jobs, verbose=False)
    data.compute_distances()
    data.compute_id_2NN()
    return data


def core_thresholds(log_den_bord: np.ndarray) -> np.ndarray:
    """Highest saddle log-density between each cluster and its neighbours (-inf when alone)."""
    borders = np.array(log_den_bord, float)
    np.fill_diagonal(borders, -np.inf)
    return borders.max(axis=1) if len(borders) > 1 else np.array([-np.inf])


#: Points closer than this (in units of the descriptors' total standard deviation) count as one environment.
DUPLICATE_DISTANCE = 1e-6


def distinct_points(points: np.ndarray, tolerance: float = DUPLICATE_DISTANCE) -> np.ndarray:
    """``points`` without those within ``tolerance`` of an earlier one.

    Rounding descriptors does not catch every repeat: sites of a perfect crystal that differ by
    1e-12 can round apart, and their distance (computed as |a|^2 + |b|^2 - 2ab) then comes out
    as exactly 0. With such a pair, DADApy's PAk Newton-Raphson never converges: a reduced run's
    classification of 21 MD frames starting from an ideal cell ran for hours.
    """
    pairs = cKDTree(points).query_pairs(tolerance, output_type='ndarray')
    keep = np.ones(len(points), bool)
    keep[pairs.max(axis=1)] = False
    return points[keep]


def fit_clustering(descriptors, n_components: int = 20, Z: float = 3.0, maxk: int = 100, n_jobs: int = 1) -> Clustering:
    """Centre and scale, project on the first ``n_components`` principal axes, then PAk density
    and DPA clustering with merging parameter ``Z`` (DADApy). O(N maxk) memory, O(N log N) time.

    One scale for all features (their total standard deviation) keeps the descriptors' own
    distances. Per-feature z-scores magnify near-constant high-order features, whose thermal
    noise then outweighs the difference between phases: on a reduced run's 28,800 environments
    the 300 K argyrodite reference landed 3.8 units from the nearest production environment (15x
    the typical neighbour distance) and labelled nothing; with one scale, 0.15 (1.6x).

    Identical environments (a perfect crystal) would make the density estimate divide 0 by 0:
    repeats of an environment are clustered once (the first of them is kept).
    """
    descriptors = np.asarray(descriptors, float)
    _, first = np.unique(np.round(descriptors, 10), axis=0, return_index=True)
    descriptors = descriptors[np.sort(first)]
    if len(descriptors) < 10:
        raise ValueError(f'clustering needs at least 10 environments, got {len(descriptors)}')
    mean = descriptors.mean(axis=0)
    total = float(np.sqrt(np.sum(descriptors.var(axis=0)))) or 1.0
    scale = np.full(descriptors.shape[1], total)
    standard = (descriptors - mean) / scale
    _, _, axes = np.linalg.svd(standard - standard.mean(axis=0), full_matrices=False)
    components = axes[: min(n_components, axes.shape[0])]
    support_axes = axes[:SUPPORT_AXES]
    support = (standard @ support_axes.T).astype(np.float32)
    points = distinct_points(standard @ components.T)
    with _zero_distances_expected():
        data = _data(points, maxk, n_jobs)
        data.compute_density_PAk()
        data.compute_clustering_ADP(Z=Z, halo=False)
    return Clustering(
        mean=mean, scale=scale, components=components, points=points,
        log_density=np.asarray(data.log_den), cluster=np.asarray(data.cluster_assignment, int),
        thresholds=core_thresholds(data.log_den_bord), intrinsic_dimension=float(data.intrinsic_dim),
        maxk=data.maxk, support_axes=support_axes, support=support, reach=_reach(support),
    )


def _reach(support: np.ndarray) -> float:
    """REACH_PERCENTILE of the nearest-neighbour distances between distinct environments."""
    distance, _ = cKDTree(support).query(support, k=2)
    nearest = distance[:, 1][distance[:, 1] > DUPLICATE_DISTANCE]
    return float(np.percentile(nearest, REACH_PERCENTILE)) if len(nearest) else 0.0


def assign(clustering: Clustering, descriptors, chunk: int = 50_000) -> tuple[np.ndarray, np.ndarray]:
    """Clusters and core flags of new environments, in chunks of ``chunk`` (bounded memory)."""
    from dadapy import Data

    descriptors = np.asarray(descriptors, float)
    with _zero_distances_expected():
        reference = Data(coordinates=clustering.points, maxk=clustering.maxk, verbose=False)
        reference.compute_distances()
        reference.set_id(clustering.intrinsic_dimension)
        parts = [_assign(clustering, reference, descriptors[start : start + chunk]) for start in range(0, len(descriptors), chunk)]
    if not parts:
        return np.zeros(0, int), np.zeros(0, bool)
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _assign(clustering: Clustering, reference, descriptors) -> tuple[np.ndarray, np.ndarray]:
    """Clusters and core flags of new environments, without re-clustering.

    Each new point gets the kstarNN log-density of the clustered data at its position and the
    cluster of its nearest clustered neighbour of higher density (DPA's own rule for non-peak
    points; its nearest neighbour's cluster when no neighbour is denser). It is core when its
    density exceeds its cluster's core threshold. O(M maxk log N) for M new points.
    """
    from dadapy._utils.utils import compute_cross_nn_distances

    new = clustering.project(descriptors)
    log_density, _ = reference.return_interpolated_density_kstarNN(new)

    _, neighbours = compute_cross_nn_distances(new, clustering.points, clustering.maxk, 'euclidean', None)
    denser = clustering.log_density[neighbours] > log_density[:, None]
    # first (nearest) denser neighbour, or the nearest neighbour when none is denser
    column = np.where(denser.any(axis=1), denser.argmax(axis=1), 0)
    clusters = clustering.cluster[neighbours[np.arange(len(new)), column]]
    return clusters, log_density >= clustering.thresholds[clusters]


def label_clusters(clustering: Clustering, references: dict[str, np.ndarray]) -> list[str]:
    """Label each cluster by the reference environments that land in its core (majority; only
    references the data hold), or ``unknown``; references are assigned without re-clustering.
    Sets and returns ``clustering.labels`` (and the non-core labels, the same)."""
    votes = _votes(clustering, references, core=True)
    clustering.labels = [vote.most_common(1)[0][0] if vote else UNKNOWN for vote in votes]
    clustering.non_core_labels = list(clustering.labels)
    return clustering.labels


def label_unknown_clusters(clustering: Clustering, references: dict[str, np.ndarray]) -> list[str]:
    """The paper's second pass: clusters still ``unknown`` take the label of the reference
    environments that land in their core (e.g. the ordered Li2S(1-2x)PxClx approximants); the
    labelled clusters keep theirs and nothing is re-clustered. Sets and returns ``clustering.labels``."""
    votes = _votes(clustering, references, core=True)
    clustering.labels = [vote.most_common(1)[0][0] if label == UNKNOWN and vote else label
                         for label, vote in zip(clustering.labels, votes)]
    clustering.non_core_labels = list(clustering.labels)
    return clustering.labels


def label_non_core(clustering: Clustering, references: dict[str, np.ndarray]) -> list[str]:
    """The paper's last pass: the non-core region of each cluster still ``unknown`` takes the
    label of the reference environments that land in it (majority); its core stays ``unknown``
    (environments that only partly resemble the reference, reported as non-core). Sets and
    returns ``clustering.non_core_labels``."""
    votes = _votes(clustering, references, core=False)
    clustering.non_core_labels = [vote.most_common(1)[0][0] if label == UNKNOWN and vote else label
                                  for label, vote in zip(clustering.labels, votes)]
    return clustering.non_core_labels


def out_of_reach(clustering: Clustering, references: dict[str, np.ndarray]) -> list[str]:
    """The references the data do not hold (:meth:`Clustering.holds`): they name nothing."""
    return sorted(label for label, descriptors in references.items() if len(descriptors) and not clustering.holds(descriptors))


def _votes(clustering: Clustering, references: dict[str, np.ndarray], core: bool) -> list[Counter]:
    """Per cluster, how many environments of each reference the data hold land in its core (or,
    ``core=False``, in its non-core region)."""
    empty = [label for label, descriptors in references.items() if len(descriptors) == 0]
    if empty:
        raise ValueError(f'reference(s) {", ".join(empty)} hold no Li: the descriptors are Li-centred, so they would label nothing')
    votes = [Counter() for _ in range(clustering.n_clusters)]
    absent = out_of_reach(clustering, references)
    for label, descriptors in references.items():
        if label in absent:
            continue
        clusters, in_core = assign(clustering, descriptors)
        for cluster in clusters[in_core == core]:
            votes[cluster][label] += 1
    return votes


def label_fractions(labels, core, names=None) -> dict[str, dict[str, float]]:
    """Fraction of environments per label, split into core (C) and non-core (N); fractions of
    all environments, so they sum to 1 over labels and both parts."""
    labels, core = np.asarray(labels), np.asarray(core, bool)
    names = sorted(set(labels.tolist()) | set(names or []))
    total = max(len(labels), 1)
    return {
        name: {'core': float(np.sum((labels == name) & core) / total), 'non_core': float(np.sum((labels == name) & ~core) / total)}
        for name in names
    }


def classify(clustering: Clustering, descriptors) -> tuple[np.ndarray, np.ndarray]:
    """Labels and core flags of environments (assigned to the existing clusters)."""
    if not clustering.labels:
        raise ValueError('the clustering has no labels yet: call label_clusters with references first')
    clusters, core = assign(clustering, descriptors)
    labels, non_core = (np.array(names, dtype=object)[clusters] for names in (clustering.labels, clustering.non_core_labels))
    return np.where(core, labels, non_core), core
