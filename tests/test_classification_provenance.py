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


def test_a_stored_clustering_keeps_its_non_core_labels_and_its_support(aiida_profile_clean):
    from aiida_sei.data import ClusteringData
    from aiida_sei.science.classification import classify, label_clusters, label_non_core
    from tests.science.test_classification import partly_referenced_phases

    data, fitted, references = partly_referenced_phases()
    label_clusters(fitted, references)
    label_non_core(fitted, references)
    loaded = orm.load_node(ClusteringData.from_clustering(fitted, {}).store().pk)
    assert loaded.non_core_labels == fitted.non_core_labels != loaded.labels and loaded.names == ['A', 'X', 'unknown']
    again = loaded.get_clustering()
    assert again.reach == pytest.approx(fitted.reach) and np.allclose(again.distance_to_data(data), fitted.distance_to_data(data), atol=1e-6)
    assert np.array_equal(classify(again, data)[0], classify(fitted, data)[0])


def test_trajectory_composition_and_sei_series_are_nodes_with_plots(aiida_profile_clean, tmp_path):
    from aiida_sei.calculations.functions.analyses import analyse_trajectory
    from aiida_sei.calculations.functions.classification import classify_trajectory, composition_from_series
    from aiida_sei.science import interfaces, plots

    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    clustering = cluster_environments(orm.Dict({'n_components': 10}), a=node(li, 1), b=node(licl, 2))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [node(li, 5)], 'LiCl': [node(licl, 6)]}))
    for phase, atoms in (('Li', li), ('LiCl', licl)):
        series = classify_trajectory(labelled, orm.TrajectoryData([node(atoms, seed) for seed in (10, 11, 12)]))
        composition = composition_from_series(series)
        assert composition[phase]['core'] + composition[phase]['non_core'] == pytest.approx([1.0, 1.0, 1.0])
        assert series.creator.inputs.clustering.pk == labelled.pk
    plots.composition_series(series.get_array('time'), composition, tmp_path / 'fig4c.png')
    assert (tmp_path / 'fig4c.png').read_bytes()[:4] == b'\x89PNG'

    # an S atom walks into the Li side: the SEI on that side grows frame by frame
    cell = interfaces.li_argyrodite_interface(argyrodite_repeats=(1, 1, 2), li_layers=24)
    top = cell.positions[cell.numbers == 15][:, 2].max()
    phosphorus = np.flatnonzero(cell.numbers == 15)
    free_sulfur = [i for i in np.flatnonzero(cell.numbers == 16) if cell.get_distances(i, phosphorus, mic=True).min() > 3.0]
    sulfur = int(free_sulfur[0])  # a free S2- (not in a PS4), so every PS4 stays intact
    frames = []
    for depth in (3.0, 5.0, 7.0):
        moved = cell.copy()
        moved.positions[sulfur, 2] = top + depth
        frames.append(orm.StructureData(ase=moved))
    evolution = analyse_trajectory(orm.TrajectoryData(frames))
    assert evolution.get_array('sei_upper') == pytest.approx([3.0, 5.0, 7.0])
    assert list(evolution.get_array('intact_ps4')) == [8, 8, 8]
    plots.sei_evolution(evolution.get_array('time'), evolution.get_array('intact_ps4'), evolution.get_array('sei_lower'), evolution.get_array('sei_upper'), tmp_path / 'fig2d.png')
    assert (tmp_path / 'fig2d.png').read_bytes()[:4] == b'\x89PNG'


def test_composition_of_the_sei_region_of_a_frame(aiida_profile_clean):
    from aiida_sei.science import interfaces

    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    clustering = cluster_environments(orm.Dict({'n_components': 10}), a=node(li, 1), b=node(licl, 2))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [node(li, 5)], 'LiCl': [node(licl, 6)]}))
    cell = interfaces.li_argyrodite_interface(argyrodite_repeats=(1, 1, 2), li_layers=24)
    phosphorus = np.flatnonzero(cell.numbers == 15)
    chlorine = [i for i in np.flatnonzero(cell.numbers == 17) if cell.get_distances(i, phosphorus, mic=True).min() > 3.0][0]
    cell.positions[chlorine, 2] = cell.positions[phosphorus][:, 2].max() + 6.0  # a Cl- in the Li side
    result = classify_structure(labelled, orm.StructureData(ase=cell))
    assert result['sei_composition']['Cl'] > 0
    assert result['sei_fractions'] is not None
    pristine = classify_structure(labelled, node(licl, 9))
    assert pristine['sei_composition'] is None and pristine['sei_fractions'] is None


def test_a_frame_unlike_the_clustered_data_is_flagged_beyond_reach(aiida_profile_clean):
    """Labels of environments far from every clustered one are extrapolations (molten Li against
    a clustering of 300 K frames named Li6PS5Cl in a demo run): the composition says how many."""
    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    clustering = cluster_environments(orm.Dict({'n_components': 10}), a=node(li, 1), b=node(licl, 2))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [node(li, 5)], 'LiCl': [node(licl, 6)]}))
    assert classify_structure(labelled, node(li, 1))['beyond_reach'] == 0.0  # a clustered frame
    assert classify_structure(labelled, node(crystals.li2s(supercell=(2, 2, 2)), 7))['beyond_reach'] == 1.0


def test_xrd_and_rdf_of_a_classified_phase(aiida_profile_clean, tmp_path):
    """The doped phase, classified as one phase, diffracts like Li2S (the paper's Fig. S12)."""
    from aiida_sei.calculations.functions.analyses import characterise_phase
    from aiida_sei.science import plots

    doped = crystals.doped_li2s(x=0.14, supercell=(3, 3, 3), seed=1)
    n_li = int(np.sum(doped.numbers == 3))
    composition = orm.Dict({'li_labels': ['new'] * n_li})
    result = characterise_phase(orm.StructureData(ase=doped), composition, orm.Str('new'))
    assert result.base.attributes.get('n_atoms') == len(doped)
    two_theta, intensity = result.get_array('xrd_two_theta'), result.get_array('xrd_intensity')
    reference = result.get_array('xrd_li2s_two_theta')[np.argmax(result.get_array('xrd_li2s_intensity'))]
    assert two_theta[np.argmax(intensity)] == pytest.approx(reference, abs=0.1)
    r, g = result.get_array('rdf_Li_S')
    assert r[np.argmax(g)] == pytest.approx(5.71 * np.sqrt(3) / 4, abs=0.06)  # Li-S bond of antifluorite
    plots.phase_characterisation(two_theta, intensity, result.get_array('xrd_li2s_two_theta'), result.get_array('xrd_li2s_intensity'),
                                 {f'Li-{x}': tuple(result.get_array(f'rdf_Li_{x}')) for x in ('S', 'P', 'Cl')}, tmp_path / 's12.png')
    assert (tmp_path / 's12.png').read_bytes()[:4] == b'\x89PNG'


def test_classify_command_takes_a_trajectory_node(aiida_profile_clean, tmp_path):
    import json

    import ase.io
    from aiida.manage import get_manager
    from click.testing import CliRunner

    from aiida_sei.cli import cli

    li, licl = crystals.bcc_li(supercell=(4, 4, 4)), crystals.licl(supercell=(4, 4, 4))
    trajectory = orm.TrajectoryData([node(licl, seed) for seed in (1, 2)]).store()
    ase.io.write(tmp_path / 'li.extxyz', [node(li, 3).get_ase(), node(li, 4).get_ase()], format='extxyz')
    ase.io.write(tmp_path / 'licl.extxyz', [node(licl, 5).get_ase()], format='extxyz')
    arguments = ['--profile', get_manager().get_profile().name, 'classify', '--frames', str(trajectory.pk), '--frames', str(tmp_path / 'li.extxyz'),
                 '--reference', f'Li={tmp_path / "li.extxyz"}', '--reference', f'LiCl={tmp_path / "licl.extxyz"}', '--n-components', '10',
                 '--json', str(tmp_path / 'out.json')]
    result = CliRunner().invoke(cli, arguments)
    assert result.exit_code == 0, result.output
    frames = json.loads((tmp_path / 'out.json').read_text())['frames']
    totals = [{k: v['core'] + v['non_core'] for k, v in f['fractions'].items()} for f in frames]
    assert [max(t, key=t.get) for t in totals] == ['LiCl', 'LiCl', 'Li', 'Li']
