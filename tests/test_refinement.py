"""The refinement loop for real, one iteration: a tiny Allegro model trained here, sei.ase_md of
an argyrodite cell (standing in for the interface, NPT) and of Li2S, Li3P and LiCl (NVT),
Lennard-Jones stand-in labels through sei.label, retraining and validation."""

from __future__ import annotations


import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.ase_md import AseMdCalculation
from aiida_sei.calculations.functions.dataset import import_frames_file, split
from aiida_sei.science import catalogue
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.label import LabelWorkChain
from aiida_sei.workchains.refinement import RefinementWorkChain, sampled_indices
from tests.allegro_fixtures import argyrodite_cells
from tests.local import local_code, local_computer

PRODUCTS = ('li2s', 'li3p', 'licl')
TINY_TRAINING = {'max_epochs': 1, 'batch_size': 2, 'accelerator': 'cpu'}
#: 20 steps dumped every 10: frames at steps 0, 10, 20, of which 2 (10 and 20) are labelled
OVERRIDES = {
    'md': {'interface': {'steps': 20, 'dump_interval': 10}, 'products': {'steps': 20, 'dump_interval': 10}},
    'n_frames': 2,
    'training': {'overrides': {'training': TINY_TRAINING}},
    'labeller': {'backend': 'ase', 'protocol': 'fast'},
}


@pytest.fixture(scope='module')
def codes(aiida_profile, tmp_path_factory):
    computer = local_computer('refinement-localhost', tmp_path_factory.mktemp('refinement-work'))
    python = local_code(computer, 'python')
    return {'md': python, 'label': python, 'train': local_code(computer, 'nequip-train'),
            'package': local_code(computer, 'nequip-package'), 'compile': local_code(computer, 'nequip-compile')}


@pytest.fixture(scope='module')
def start(codes, tmp_path_factory):
    """Six Lennard-Jones-labelled argyrodite cells and a one-epoch model trained on them."""
    import ase.io

    path = tmp_path_factory.mktemp('lj') / 'argyrodite.extxyz'
    ase.io.write(path, argyrodite_cells(6), format='extxyz')
    dataset = import_frames_file(path, is_dft=False, backend='lj', origin='active_learning')['dataset']
    parts = split(dataset, {'train': 0.5, 'validation': 0.5}, seed=0)
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes['train'], codes['package'], parts['train'], parts['validation'],
                                                                 protocol='fast', overrides={'training': TINY_TRAINING})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return dataset, results['model']


@pytest.fixture(scope='module')
def structures(aiida_profile):
    interface = orm.StructureData(ase=argyrodite_cells(1, seed=5)[0]).store()
    products = {}
    for number, name in enumerate(PRODUCTS):
        atoms = catalogue.build(name)
        atoms.rattle(0.03, seed=number)
        products[name] = orm.StructureData(ase=atoms).store()
    return interface, products


def builder(codes, start, structures, overrides=OVERRIDES):
    dataset, model = start
    interface, products = structures
    return RefinementWorkChain.get_builder_from_protocol(codes, dataset, model, interface, products, protocol='fast', overrides=overrides)


@pytest.fixture(scope='module')
def refinement(codes, start, structures):
    results, node = run_get_node(builder(codes, start, structures))
    assert node.is_finished_ok, node.exit_message
    return results, node


def labels_of(node):
    return [c for c in node.called if c.process_class is LabelWorkChain]


def test_the_dataset_grows_by_exactly_the_labelled_frames_with_their_origins(refinement, start):
    results, node = refinement
    initial, final = start[0], results['dataset']
    labelled = [label.outputs.frame for label in labels_of(node)]
    assert len(labelled) == 2 * (1 + len(PRODUCTS))
    assert len(final) == len(initial) + len(labelled)
    assert final.frame_uuids[: len(initial)] == initial.frame_uuids
    assert set(final.frame_uuids[len(initial):]) == {frame.uuid for frame in labelled}
    origins = sorted(frame.base.attributes.get('origin') for frame in labelled)
    assert origins == ['product_md'] * 6 + ['refinement_md'] * 2
    systems = {frame.base.attributes.get('system') for frame in labelled if frame.base.attributes.get('origin') == 'product_md'}
    assert len(systems) == len(PRODUCTS)


def test_labelled_frames_are_the_sampled_md_frames_of_the_input_model(refinement, start):
    _, node = refinement
    md_runs = [c for c in node.called if c.process_class is AseMdCalculation]
    assert len(md_runs) == 1 + len(PRODUCTS)
    assert {md.inputs.parameters['ensemble'] for md in md_runs if md.inputs.structure.get_formula() == 'Cl4Li24P4S20'} == {'npt'}
    for md in md_runs:
        assert md.inputs.model.base.attributes.get('package_uuid') == start[1].uuid
    # every sampled structure comes from an MD trajectory at steps 10 or 20
    samplers = [c for c in node.called if c.process_label == 'sample_trajectory']
    assert len(samplers) == len(md_runs)
    for sampler in samplers:
        trajectory = sampler.inputs.trajectory
        assert trajectory.creator.process_class is AseMdCalculation
        outputs = [link.node for link in sampler.base.links.get_outgoing().all()]
        assert len(outputs) == 2
        positions = trajectory.get_positions()
        for structure in outputs:
            assert any(np.allclose(structure.get_ase().positions, positions[i]) for i in (1, 2))


def test_the_new_model_was_trained_on_the_old_dataset_and_the_new_frames(refinement, start):
    results, node = refinement
    iteration = node.outputs.iterations.iteration_1
    assert iteration.dataset.uuid == results['dataset'].uuid
    assert iteration.model.uuid == results['model'].uuid != start[1].uuid
    training = results['model'].creator
    seen = set(training.inputs.dataset.frame_uuids) | set(training.inputs.validation.frame_uuids)
    assert seen == set(results['dataset'].frame_uuids) >= set(start[0].frame_uuids)
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

    report = get_workchain_report(refinement[1], 'REPORT')
    assert 'iteration 1: 8 frames labelled (0 failed); dataset 6 -> 14 frames' in report
    assert 'iteration 1: validation (' in report and 'meV/atom' in report


def test_sampled_indices_are_evenly_spread_and_skip_the_input_frame():
    assert sampled_indices(11, 2) == [1, 10]
    assert sampled_indices(11, 4) == [1, 4, 7, 10]
    assert sampled_indices(3, 5) == [1, 2]
    assert sampled_indices(1, 2) == []


def test_a_product_the_model_cannot_describe_is_refused_before_submission(codes, start, structures):
    interface, products = structures
    from ase.build import bulk

    with pytest.raises(ValueError, match='holds Na, which the model lacks'):
        run_get_node(RefinementWorkChain.get_builder_from_protocol(
            codes, start[0], start[1], interface, {**products, 'nacl': orm.StructureData(ase=bulk('NaCl', 'rocksalt', a=5.6))},
            protocol='fast', overrides=OVERRIDES))
