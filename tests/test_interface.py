"""The whole pipeline (`sei.interface`, demo protocol) for real, with Lennard-Jones stand-in
labels so that it fits in CI: structures, active learning, Allegro, compilation, LAMMPS with
the project's pair style, classification, and a summary read from the stored nodes."""

import numpy as np
import pytest
from aiida.engine import run_get_node

from aiida_sei.workchains.interface import CODES, InterfaceWorkChain

#: Stand-in labels, no refinement: the refinement has its own tests.
OVERRIDES = {
    'active_learning': {'overrides': {'labeller': {'backend': 'ase', 'protocol': 'fast'}, 'sweep': {'temperatures_K': [300]}}},
    'refinement': {'enabled': False},
    'allegro': {'overrides': {'training': {'max_epochs': 3}}},
}


@pytest.fixture(scope='module')
def codes(aiida_profile, tmp_path_factory):
    from aiida_sei.profile import ensure_local_codes, ensure_localhost

    aiida_profile.reset_storage()
    local = ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), echo=lambda _: None), echo=lambda _: None)
    return {'md': local['python'], 'label': local['python'], 'train': local['nequip-train'], 'package': local['nequip-package'],
            'compile': local['nequip-compile'], 'lammps': local['lmp']}


@pytest.fixture(scope='module')
def pipeline(codes):
    results, node = run_get_node(InterfaceWorkChain.get_builder_from_protocol(codes, 'demo', OVERRIDES))
    assert node.is_finished_ok, node.exit_message
    return results, node


def test_summary_numbers_come_from_the_stored_nodes(pipeline):
    results, node = pipeline
    summary, dataset, trajectory = results['summary'], results['dataset'], results['trajectory']
    assert summary['frames'] == len(dataset) == len(list(dataset.iter_frames()))
    assert summary['md_frames'] == trajectory.numsteps == 200 // 50 + 1
    assert summary['atoms'] == len(trajectory.symbols)
    assert summary['md_steps'] == 200
    assert summary['model_metrics'] == results['model'].creator.outputs.metrics.get_dict()
    fractions = summary['phase_fractions']
    assert sum(part['core'] + part['non_core'] for part in fractions.values()) == pytest.approx(1.0, abs=1e-6)
    last = results['composition']
    for label, part in fractions.items():
        assert last.get_array(f'{label}__core')[-1] == pytest.approx(part['core'])


def test_the_model_in_production_links_back_to_the_labels(pipeline):
    results, node = pipeline
    production = results['trajectory'].creator
    compiled = production.inputs.model
    assert compiled.creator.inputs.model.uuid == results['model'].uuid
    training_frames = set(results['model'].creator.inputs.dataset.frame_uuids)
    assert training_frames <= set(results['dataset'].frame_uuids)
    labels = [d for d in node.called_descendants if d.process_label == 'LabelWorkChain']
    assert {label.outputs.frame.uuid for label in labels} == set(results['dataset'].frame_uuids)


def test_composition_covers_every_production_frame(pipeline):
    results, _ = pipeline
    composition, trajectory = results['composition'], results['trajectory']
    assert len(composition.get_array('time')) == trajectory.numsteps
    totals = sum(composition.get_array(name) for name in composition.get_arraynames() if name != 'time')
    assert np.allclose(totals, 1.0, atol=1e-6)


def test_missing_code_is_refused_before_anything_runs(codes):
    partial = {k: v for k, v in codes.items() if k != 'lammps'}
    with pytest.raises(ValueError, match='codes missing: lammps'):
        run_get_node(InterfaceWorkChain.get_builder_from_protocol(partial, 'demo', OVERRIDES))
    assert set(CODES) == set(codes)
