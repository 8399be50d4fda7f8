"""``sei.clustering``: a fitted clustering of local environments, kept so that new frames and
new references are assigned to it later without re-clustering."""

from __future__ import annotations

from aiida.orm import ArrayData

from aiida_sei.science.classification import Clustering


class ClusteringData(ArrayData):
    """Arrays of :class:`~aiida_sei.science.classification.Clustering` (projection, clustered
    points, densities, clusters, core thresholds, the support references are measured against)
    with its settings and cluster labels (core and non-core) as attributes."""

    @classmethod
    def from_clustering(cls, clustering: Clustering, settings: dict) -> ClusteringData:
        node = cls()
        for name, array in clustering.to_arrays().items():
            node.set_array(name, array)
        node.base.attributes.set_many(
            {
                'settings': settings,
                'labels': list(clustering.labels),
                'non_core_labels': list(clustering.non_core_labels),
                'n_clusters': clustering.n_clusters,
                'n_environments': int(len(clustering.points)),
                'intrinsic_dimension': clustering.intrinsic_dimension,
                'maxk': clustering.maxk,
            }
        )
        return node

    @property
    def settings(self) -> dict:
        return self.base.attributes.get('settings')

    @property
    def labels(self) -> list[str]:
        return self.base.attributes.get('labels')

    @property
    def non_core_labels(self) -> list[str]:
        """Label of each cluster's non-core points (its label unless the non-core pass named it;
        nodes stored before that pass existed have only ``labels``)."""
        return self.base.attributes.get('non_core_labels', None) or self.labels

    @property
    def names(self) -> list[str]:
        """Every label a point can take, core or non-core."""
        return sorted(set(self.labels) | set(self.non_core_labels))

    def get_clustering(self) -> Clustering:
        arrays = {name: self.get_array(name) for name in self.get_arraynames()}
        attributes = self.base.attributes
        return Clustering.from_arrays(arrays, attributes.get('intrinsic_dimension'), attributes.get('maxk'), attributes.get('labels'),
                                      self.non_core_labels)
