"""Classification of Li environments with provenance: the clustering, its labels and every
frame's composition are nodes linked to the structures they came from."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.data import ClusteringData
from aiida_sei.science.classification import (
    classify, fit_clustering, label_clusters, label_fractions, label_non_core, label_unknown_clusters as label_unknown, out_of_reach,
)
from aiida_sei.science.descriptors import ace_basis, li_ace_descriptors

#: Defaults: the paper's descriptor (6 Å, Li/P/S/Cl) and the clustering settings that separated
#: the reference phases here (z-score, 20 principal components, Z = 3).
DEFAULT_SETTINGS = {'cutoff': 6.0, 'nradmax': [8, 3, 1], 'lmax': [0, 2, 1], 'n_components': 20, 'Z': 3.0, 'maxk': 100}


def _descriptors(structures, settings: dict) -> np.ndarray:
    basis = ace_basis(cutoff=settings['cutoff'], nradmax=tuple(settings['nradmax']), lmax=tuple(settings['lmax']))
    return np.vstack([li_ace_descriptors(s.get_ase(), basis) for s in structures])


def _ordered(nodes: dict) -> list:
    return [nodes[key] for key in sorted(nodes)]


@calcfunction
def cluster_environments(settings: orm.Dict, **structures) -> ClusteringData:
    """Fit the clustering on the Li environments of ``structures`` (keyword inputs)."""
    settings = {**DEFAULT_SETTINGS, **settings.get_dict()}
    fitted = fit_clustering(_descriptors(_ordered(structures), settings), settings['n_components'], settings['Z'], settings['maxk'])
    return ClusteringData.from_clustering(fitted, settings)


@calcfunction
def label_clustering(clustering: ClusteringData, **references) -> ClusteringData:
    """A labelled copy of ``clustering``: references are keyword inputs ``<label>__<n>`` holding
    structures of one phase each; no re-clustering."""
    return _labelled(clustering, references, label_clusters)


@calcfunction
def label_unknown_clusters(clustering: ClusteringData, **references) -> ClusteringData:
    """The second pass: a copy of ``clustering`` whose clusters still ``unknown`` are named by the
    references (``<label>__<n>`` structures, as :func:`label_clustering`); no re-clustering."""
    return _labelled(clustering, references, label_unknown)


@calcfunction
def label_non_core_regions(clustering: ClusteringData, **references) -> ClusteringData:
    """The last pass: a copy of ``clustering`` whose clusters still ``unknown`` name their non-core
    region by the references that land there (``<label>__<n>`` structures); cores stay unknown."""
    return _labelled(clustering, references, label_non_core)


def _labelled(clustering: ClusteringData, references: dict, labeller) -> ClusteringData:
    """A copy of ``clustering`` labelled by ``labeller`` (a pass of ``science.classification``),
    that says which references the data do not hold."""
    fitted = clustering.get_clustering()
    descriptors = _reference_descriptors(references, clustering.settings)
    labeller(fitted, descriptors)
    node = ClusteringData.from_clustering(fitted, clustering.settings)
    node.base.attributes.set('out_of_reach', out_of_reach(fitted, descriptors))
    return node


def _reference_descriptors(references: dict, settings: dict) -> dict:
    """``{label: descriptors}`` of keyword inputs ``<label>__<n>``, the structures of one phase each."""
    by_label: dict[str, list] = {}
    for key in sorted(references):
        by_label.setdefault(key.rsplit('__', 1)[0], []).append(references[key])
    return {label: _descriptors(nodes, settings) for label, nodes in by_label.items()}


@calcfunction
def classify_structure(clustering: ClusteringData, structure: orm.StructureData) -> orm.Dict:
    """Label of every Li of ``structure``, the fractions per label (core C and non-core N) over
    all Li and over the Li of the SEI region, the SEI's composition per anion (None when the
    frame has no SEI region: no intact PS4, or nothing diffused), and the fraction of Li beyond
    the clustering's reach, whose labels are extrapolations (e.g. molten Li and a clustering of
    300 K frames)."""
    from aiida_sei.science.analyses import composition_per_anion, sei_region_mask

    atoms = structure.get_ase()
    fitted, descriptors = clustering.get_clustering(), _descriptors([structure], clustering.settings)
    labels, core = classify(fitted, descriptors)
    sei = sei_region_mask(atoms)
    sei_li = sei[np.array(atoms.get_chemical_symbols()) == 'Li']
    sei_symbols = [s for s, inside in zip(atoms.get_chemical_symbols(), sei) if inside]
    has_anions = any(s in ('S', 'P', 'Cl') for s in sei_symbols)
    return orm.Dict(
        {
            'fractions': label_fractions(labels, core, names=clustering.names),
            'sei_fractions': label_fractions(labels[sei_li], core[sei_li], names=clustering.names) if sei_li.any() else None,
            'sei_composition': composition_per_anion(sei_symbols) if has_anions else None,
            'li_labels': [str(label) for label in labels],
            'li_core': [bool(c) for c in core],
            'beyond_reach': float(np.mean(fitted.distance_to_data(descriptors) > fitted.reach)) if len(descriptors) else 0.0,
        }
    )


def reference_inputs(references: dict[str, list]) -> dict:
    """``{label: [structures]}`` as keyword inputs of :func:`label_clustering`."""
    return {f'{label}__{n}': node for label, nodes in references.items() for n, node in enumerate(nodes)}


@calcfunction
def classify_trajectory(clustering: ClusteringData, trajectory: orm.TrajectoryData) -> orm.ArrayData:
    """Composition of every frame of ``trajectory`` (the paper's Fig. 4c) as one node: arrays
    ``time`` (the trajectory's times, or step indices) and ``<label>__core`` /
    ``<label>__non_core`` fractions per frame."""
    fitted = clustering.get_clustering()
    names = clustering.names
    series = {f'{name}__{part}': [] for name in names for part in ('core', 'non_core')}
    for step in range(trajectory.numsteps):
        labels, core = classify(fitted, _descriptors([trajectory.get_step_structure(step)], clustering.settings))
        for name, parts in label_fractions(labels, core, names=names).items():
            for part, value in parts.items():
                series[f'{name}__{part}'].append(value)
    node = orm.ArrayData()
    times = trajectory.get_times() if 'times' in trajectory.get_arraynames() else None
    node.set_array('time', np.asarray(times if times is not None else np.arange(trajectory.numsteps), float))
    for name, values in series.items():
        node.set_array(name, np.asarray(values, float))
    node.base.attributes.set('labels', names)
    return node


@calcfunction
def interface_series(trajectory: orm.TrajectoryData) -> orm.ArrayData:
    """The paper's time series of an interface run, one value per frame (Fig. 2d and the SEI's
    composition): arrays ``time`` and :data:`~aiida_sei.science.analyses.FRAME_NUMBERS` (intact
    PS4, SEI thickness per side in Å, Li PTM fractions, SEI Li/S/P/Cl per anion; NaN where there
    is nothing to measure)."""
    from aiida_sei.science.analyses import FRAME_NUMBERS, frame_numbers

    rows = [frame_numbers(trajectory.get_step_structure(step).get_ase()) for step in range(trajectory.numsteps)]
    node = orm.ArrayData()
    times = trajectory.get_times() if 'times' in trajectory.get_arraynames() else None
    node.set_array('time', np.asarray(times if times is not None else np.arange(trajectory.numsteps), float))
    for name in FRAME_NUMBERS:
        node.set_array(name, np.array([row[name] for row in rows], float))
    return node


def composition_from_series(node: orm.ArrayData) -> dict[str, dict[str, np.ndarray]]:
    """``{label: {core, non_core}}`` arrays of a :func:`classify_trajectory` output."""
    return {name: {part: node.get_array(f'{name}__{part}') for part in ('core', 'non_core')} for name in node.base.attributes.get('labels')}
