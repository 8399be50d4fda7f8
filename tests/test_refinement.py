"""The refinement loop for real: the refinement iteration of the test run's shared demo run
(`demo_run`: sei.ase_md of the interface (NPT) and of Li2S, Li3P and LiCl (NVT) with the model of
the active-learning data, CHGNet stand-in labels through sei.label, retraining and validation),
imported here from its archive. Each check reads what it expects from the run's own inputs."""

from __future__ import annotations

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.ase_md import AseMdCalculation
from aiida_sei.workchains.label import LabelWorkChain
from aiida_sei.workchains.refinement import RefinementWorkChain, sampled_indices


@pytest.fixture(scope='module')
def refinement(demo_imported):
    (node,) = [child for child in demo_imported.called if child.process_class is RefinementWorkChain]
    assert node.is_finished_ok, node.exit_message
    assert node.inputs.iterations.value == 1  # the checks below read one iteration
    return node.outputs, node


def labels_of(node):
    return [c for c in node.called if c.process_class is LabelWorkChain]


def test_the_dataset_grows_by_exactly_the_labelled_frames_with_their_origins(refinement):
    results, node = refinement
    initial, final = node.inputs.dataset, results['dataset']
    products, n_frames = len(node.inputs.products), node.inputs.n_frames.value
    labelled = [label.outputs.frame for label in labels_of(node)]
    assert len(labelled) == n_frames * (1 + products)
    assert len(final) == len(initial) + len(labelled)
    assert final.frame_uuids[: len(initial)] == initial.frame_uuids
    assert set(final.frame_uuids[len(initial):]) == {frame.uuid for frame in labelled}
    origins = sorted(frame.base.attributes.get('origin') for frame in labelled)
    assert origins == ['product_md'] * (n_frames * products) + ['refinement_md'] * n_frames
    systems = {frame.base.attributes.get('system') for frame in labelled if frame.base.attributes.get('origin') == 'product_md'}
    assert len(systems) == products


def test_labelled_frames_are_the_sampled_md_frames_of_the_input_model(refinement):
    _, node = refinement
    md_runs = [c for c in node.called if c.process_class is AseMdCalculation]
    assert len(md_runs) == 1 + len(node.inputs.products)
    interface = node.inputs.interface.get_formula()
    assert {md.inputs.parameters['ensemble'] for md in md_runs if md.inputs.structure.get_formula() == interface} == {'npt'}
    assert {md.inputs.parameters['ensemble'] for md in md_runs if md.inputs.structure.get_formula() != interface} == {'nvt'}
    for md in md_runs:
        assert md.inputs.model.base.attributes.get('package_uuid') == node.inputs.model.uuid
    # every sampled structure is a frame of an MD trajectory, at the sampled steps
    samplers = [c for c in node.called if c.process_label == 'sample_trajectory']
    assert len(samplers) == len(md_runs)
    for sampler in samplers:
        trajectory = sampler.inputs.trajectory
        assert trajectory.creator.process_class is AseMdCalculation
        outputs = [link.node for link in sampler.base.links.get_outgoing().all()]
        indices = sampled_indices(trajectory.numsteps, node.inputs.n_frames.value)
        assert len(outputs) == len(indices)
        positions = trajectory.get_positions()
        for structure in outputs:
            assert any(np.allclose(structure.get_ase().positions, positions[i]) for i in indices)


def test_the_new_model_was_trained_on_the_old_dataset_and_the_new_frames(refinement):
    results, node = refinement
    iteration = node.outputs.iterations.iteration_1
    assert iteration.dataset.uuid == results['dataset'].uuid
    assert iteration.model.uuid == results['model'].uuid != node.inputs.model.uuid
    training = results['model'].creator
    seen = set(training.inputs.dataset.frame_uuids) | set(training.inputs.validation.frame_uuids)
    assert seen == set(results['dataset'].frame_uuids) >= set(node.inputs.dataset.frame_uuids)
    # the split came from the final dataset
    assert training.inputs.dataset.creator.inputs.dataset.uuid == results['dataset'].uuid
    assert results['compiled_model'].base.attributes.get('package_uuid') == results['model'].uuid
    assert results['compiled_model'].target == 'ase'


def test_errors_before_and_after_are_on_the_new_validation_split(refinement):
    results, node = refinement
    iteration = node.outputs.iterations.iteration_1
    validation = results['model'].creator.inputs.validation
    for errors in (iteration.errors, iteration.errors_before):
        assert errors['all']['frames'] == len(validation)
        assert np.isfinite(errors['all']['energy_per_atom_mae']) and errors['all']['forces_mae'] >= 0
    assert iteration.errors.creator.inputs.compiled.uuid == results['compiled_model'].uuid
    assert iteration.errors_before.creator.inputs.compiled.base.attributes.get('package_uuid') == node.inputs.model.uuid


def test_the_report_has_a_line_per_step_of_the_iteration(refinement):
    from aiida.cmdline.utils.common import get_workchain_report

    results, node = refinement
    labelled = len(labels_of(node))
    report = get_workchain_report(node, 'REPORT')
    assert f'iteration 1: {labelled} frames labelled (0 failed); dataset {len(node.inputs.dataset)} -> {len(results["dataset"])} frames' in report
    assert 'iteration 1: validation (' in report and 'meV/atom' in report


def test_sampled_indices_are_evenly_spread_and_skip_the_input_frame():
    assert sampled_indices(11, 2) == [1, 10]
    assert sampled_indices(11, 4) == [1, 4, 7, 10]
    assert sampled_indices(3, 5) == [1, 2]
    assert sampled_indices(1, 2) == []


def test_a_product_the_model_cannot_describe_is_refused_before_submission(refinement):
    from ase.build import bulk

    _, node = refinement
    codes = {'md': node.inputs.md_job.code, 'label': node.inputs.md_job.code, 'train': node.inputs.training.train.code,  # in-process labels: no code of their own
             'package': node.inputs.training.train.package_code, 'compile': node.inputs.compile_job.code}
    products = {**node.inputs.products, 'nacl': orm.StructureData(ase=bulk('NaCl', 'rocksalt', a=5.6))}
    before = orm.QueryBuilder().append(orm.Node).count()
    with pytest.raises(ValueError, match='holds Na, which the model lacks'):
        run_get_node(RefinementWorkChain.get_builder_from_protocol(
            codes, 'fast', dataset=node.inputs.dataset, model=node.inputs.model, interface=node.inputs.interface, products=products))
    assert orm.QueryBuilder().append(orm.Node).count() == before
