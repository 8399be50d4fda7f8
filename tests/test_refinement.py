"""The refinement loop for real: the two refinement iterations of the test run's shared demo run
(`demo_run`: sei.ase_md of the interface (NPT) and of Li2S, Li3P and LiCl (NVT) with the current
model, CHGNet stand-in labels through sei.label, fine-tuning and validation),
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
    return node.outputs, node


def labels_of(node):
    return [c for c in node.called if c.process_class is LabelWorkChain]


def iterations_of(node) -> list:
    """Each iteration's outputs (dataset, model, errors, errors_before), in order."""
    count = node.inputs.iterations.value
    assert sorted(node.outputs.iterations) == [f'iteration_{i}' for i in range(1, count + 1)]
    return [node.outputs.iterations[f'iteration_{i}'] for i in range(1, count + 1)]


def test_the_dataset_grows_by_exactly_the_labelled_frames_with_their_origins(refinement):
    results, node = refinement
    initial, final = node.inputs.dataset, results['dataset']
    products, n_frames, count = len(node.inputs.products), node.inputs.n_frames.value, node.inputs.iterations.value
    labelled = [label.outputs.frame for label in labels_of(node)]
    assert len(labelled) == n_frames * (1 + products) * count
    assert len(final) == len(initial) + len(labelled)
    assert final.frame_uuids[: len(initial)] == initial.frame_uuids
    assert set(final.frame_uuids[len(initial):]) == {frame.uuid for frame in labelled}
    origins = sorted(frame.base.attributes.get('origin') for frame in labelled)
    assert origins == ['product_md'] * (n_frames * products * count) + ['refinement_md'] * (n_frames * count)
    systems = {frame.base.attributes.get('system') for frame in labelled if frame.base.attributes.get('origin') == 'product_md'}
    assert len(systems) == products
    # each iteration's dataset holds the one before it and its own frames
    sizes = [len(initial)] + [len(iteration.dataset) for iteration in iterations_of(node)]
    assert np.diff(sizes).tolist() == [n_frames * (1 + products)] * count


def test_labelled_frames_are_the_sampled_md_frames_of_each_iterations_model(refinement):
    _, node = refinement
    md_runs = sorted((c for c in node.called if c.process_class is AseMdCalculation), key=lambda c: c.pk)
    per_iteration = 1 + len(node.inputs.products)
    assert len(md_runs) == per_iteration * node.inputs.iterations.value
    interface = node.inputs.interface.get_formula()
    assert {md.inputs.parameters['ensemble'] for md in md_runs if md.inputs.structure.get_formula() == interface} == {'npt'}
    assert {md.inputs.parameters['ensemble'] for md in md_runs if md.inputs.structure.get_formula() != interface} == {'nvt'}
    # iteration 1 runs the input model, each later one the model the iteration before it trained
    models = [node.inputs.model] + [iteration.model for iteration in iterations_of(node)]
    for k, md in enumerate(md_runs):
        assert md.inputs.model.base.attributes.get('package_uuid') == models[k // per_iteration].uuid
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


def test_each_model_was_trained_on_its_iterations_dataset_from_the_model_before(refinement):
    results, node = refinement
    iterations = iterations_of(node)
    assert iterations[-1].dataset.uuid == results['dataset'].uuid
    assert iterations[-1].model.uuid == results['model'].uuid != node.inputs.model.uuid
    previous = node.inputs.model
    for iteration in iterations:
        training = iteration.model.creator
        seen = set(training.inputs.dataset.frame_uuids) | set(training.inputs.validation.frame_uuids)
        assert seen == set(iteration.dataset.frame_uuids) >= set(node.inputs.dataset.frame_uuids)
        if node.inputs.fine_tune:  # the demo's: each training fine-tunes the model before it, on that model's split extended
            assert training.inputs.initial_model.uuid == previous.uuid
            assert iteration.model.r_max == previous.r_max and iteration.model.species == previous.species
            before = previous.creator.inputs
            assert set(before.dataset.frame_uuids) <= set(training.inputs.dataset.frame_uuids)
            assert set(before.validation.frame_uuids) <= set(training.inputs.validation.frame_uuids)
            assert not set(before.dataset.frame_uuids) & set(training.inputs.validation.frame_uuids)  # no frame validates what it trained
        else:
            assert 'initial_model' not in training.inputs
            assert training.inputs.dataset.creator.inputs.dataset.uuid == iteration.dataset.uuid  # split from it
        previous = iteration.model
    assert results['compiled_model'].base.attributes.get('package_uuid') == results['model'].uuid
    assert results['compiled_model'].target == 'ase'


def test_errors_before_and_after_are_on_each_iterations_validation_split(refinement):
    _, node = refinement
    previous = node.inputs.model
    for iteration in iterations_of(node):
        validation = iteration.model.creator.inputs.validation
        for errors in (iteration.errors, iteration.errors_before):
            assert errors['all']['frames'] == len(validation)
            assert np.isfinite(errors['all']['energy_per_atom_mae']) and errors['all']['forces_mae'] >= 0
        assert iteration.errors.creator.inputs.compiled.base.attributes.get('package_uuid') == iteration.model.uuid
        assert iteration.errors_before.creator.inputs.compiled.base.attributes.get('package_uuid') == previous.uuid
        previous = iteration.model


def test_the_report_has_a_line_per_step_of_each_iteration(refinement):
    from aiida.cmdline.utils.common import get_workchain_report

    _, node = refinement
    report = get_workchain_report(node, 'REPORT')
    sizes = [len(node.inputs.dataset)] + [len(iteration.dataset) for iteration in iterations_of(node)]
    for i in range(1, node.inputs.iterations.value + 1):
        assert f'iteration {i}: {sizes[i] - sizes[i - 1]} frames labelled (0 failed); dataset {sizes[i - 1]} -> {sizes[i]} frames' in report
        assert f'iteration {i}: validation (' in report
    assert 'meV/atom' in report


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


def test_fine_tuning_a_model_whose_training_is_not_stored_is_refused(refinement):
    """Fine-tuning keeps the model's training split; a model file brought in from elsewhere has
    none, so the request is refused before anything runs."""
    import io

    from aiida_sei.data import ModelData

    _, node = refinement
    with node.inputs.model.open(mode='rb') as handle:
        foreign = ModelData(io.BytesIO(handle.read()), filename='model.nequip.zip')
    foreign.base.attributes.set_many(dict(node.inputs.model.base.attributes.all))
    codes = {'md': node.inputs.md_job.code, 'label': node.inputs.md_job.code, 'train': node.inputs.training.train.code,
             'package': node.inputs.training.train.package_code, 'compile': node.inputs.compile_job.code}
    builder = RefinementWorkChain.get_builder_from_protocol(codes, 'fast', overrides={'fine_tune': True}, dataset=node.inputs.dataset,
                                                            model=foreign, interface=node.inputs.interface, products=dict(node.inputs.products))
    with pytest.raises(ValueError, match='fine_tune needs a model trained by sei.nequip_train'):
        run_get_node(builder)
