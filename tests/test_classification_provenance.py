"""Classification as nodes: the clustering is kept, labelled later without re-clustering, and a
frame's SEI composition links back to the frame and the clustering."""

import numpy as np
import pytest
from aiida import orm

from aiida_sei.calculations.functions.classification import classify_structure, cluster_environments, label_clustering, reference_inputs
from aiida_sei.science import crystals


def node(atoms, seed):
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0, 0.08, atoms.positions.shape)
    return orm.StructureData(ase=atoms)


def test_clustering_labels_and_composition_are_linked_nodes(aiida_profile_clean):
    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    clustering = cluster_environments(orm.Dict({'n_components': 10}), a=node(li, 1), b=node(licl, 2), c=node(li, 3), d=node(licl, 4))
    assert clustering.base.attributes.get('n_environments') == 2 * 128 + 2 * 256
    labelled = label_clustering(clustering, **reference_inputs({'Li': [node(li, 5)], 'LiCl': [node(licl, 6)]}))
    assert labelled.creator.inputs.clustering.pk == clustering.pk
    assert np.array_equal(labelled.get_array('cluster'), clustering.get_array('cluster'))  # not re-clustered
    assert set(labelled.labels) <= {'Li', 'LiCl', 'unknown'} and {'Li', 'LiCl'} <= set(labelled.labels)

    frame = node(crystals.licl(supercell=(4, 4, 4)), 7)
    result = classify_structure(labelled, frame)
    assert result.creator.inputs.structure.pk == frame.pk
    fractions = result['fractions']
    assert fractions['LiCl']['core'] + fractions['LiCl']['non_core'] == pytest.approx(1.0)
    assert len(result['li_labels']) == 256  # the Li of 4 x 4 x 4 rocksalt cells
