"""The active-learning loop for real: FLARE SGP MD jobs, labels through sei.label (Lennard-Jones
stand-in labels for speed, GPAW for the DFT path), dataset and SGP nodes linked step by step."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.flare_md import FlareMdCalculation
from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.data import DatasetData, FrameData
from aiida_sei.data.sgp import SgpModelData
from aiida_sei.workchains.active_learning import ActiveLearningWorkChain
from aiida_sei.workchains.label import LabelWorkChain, label_inputs

#: A small SGP and hot MD on a 16-atom BCC Li cell: several DFT calls in ~100 steps.
FAST = {
    'sgp': {'cutoff': 4.0, 'n_max': 4, 'l_max': 2},
    'system_thresholds': {'Li': {'dft': 0.02, 'add_atom': 0.005}},
    'md': {'temperature_K': 900, 'pressure_GPa': None, 'total_steps': 120, 'segment_steps': 40, 'thin': 10, 'seed': 7},
    'max_dft_calls': 8,
    'hyperparameter_tolerance': 0.0,  # retrain at every label (the paper's)
}
LJ_LABELS = {'label': {'backend': 'ase', 'protocol': 'fast'}}


@pytest.fixture(scope='module')
def python_code(aiida_profile, tmp_path_factory):
    """The `python` code of `aiida-sei setup`, in a storage emptied once for this module (the
    loop runs are shared between tests: each costs about a minute)."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost

    aiida_profile.reset_storage()
    ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), echo=lambda _: None), echo=lambda _: None)
    return orm.load_code('python@localhost')


@pytest.fixture(scope='module')
def li_cell(python_code):
    return build_structure_node('bcc-li', {'supercell': [2, 2, 2]})['structure']


@pytest.fixture(scope='module')
def lj_loop(python_code, li_cell):
    """One finished loop with Lennard-Jones labels: (outputs, work chain node)."""
    return run_loop(build(python_code, li_cell, LJ_LABELS))


def build(code, structure, overrides):
    from aiida_sei.protocols import recursive_merge

    return ActiveLearningWorkChain.get_builder_from_protocol({'md': code, 'label': code}, 'fast', recursive_merge(FAST, overrides), structure=structure)


def children(node, process_class):
    return sorted((c for c in node.called if c.process_class is process_class), key=lambda c: c.ctime)


def run_loop(builder):
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    return results, node


def test_dft_is_called_exactly_when_the_uncertainty_passed_the_threshold(lj_loop):
    results, node = lj_loop
    threshold = node.inputs.thresholds['dft']
    segments, labels = children(node, FlareMdCalculation), children(node, LabelWorkChain)
    triggered = [s for s in segments if 'trigger' in s.outputs]
    assert len(triggered) >= 2, 'the test needs a loop that called DFT more than once'
    for segment in segments:
        maximum = segment.outputs.misc['max_uncertainty']
        assert (maximum > threshold) == ('trigger' in segment.outputs)
        if 'trigger' not in segment.outputs:  # ran to its end
            assert segment.outputs.misc['steps'] == segment.inputs.parameters['max_steps']
    # one label for the jittered start, then one per trigger, labelling exactly the trigger frame
    assert len(labels) == 1 + len(triggered)
    for segment, label in zip(triggered, labels[1:]):
        frame = label.outputs.frame
        assert np.allclose(frame.get_array('positions'), segment.outputs.trigger.get_ase().positions)
        # the reason of each label is stored on its frame, queryable
        assert frame.base.attributes.get('trigger') == {'reason': 'uncertainty', 'max_uncertainty': segment.outputs.misc['max_uncertainty'],
                                                        'threshold': threshold, 'md_step': segment.outputs.state.step}
    assert labels[0].outputs.frame.base.attributes.get('trigger') == {'reason': 'first frame', 'md_step': 0}
    above = orm.QueryBuilder().append(FrameData, filters={'id': {'in': [l.outputs.frame.pk for l in labels]},
                                                          'attributes.trigger.max_uncertainty': {'>': threshold}}).count()
    assert above == len(triggered)
    # the dataset grew by exactly the labelled frames, in order
    dataset = results['dataset']
    assert dataset.frame_uuids == [label.outputs.frame.uuid for label in labels]
    assert results['state'].step == node.inputs.md['total_steps']


def test_hyperparameters_are_retrained_at_every_label_until_they_settle(python_code, li_cell, lj_loop):
    """Tolerance 0 (the lj_loop): every update from the second frame on retrains. A tolerance no
    retraining can stay above: the first retraining settles them and the later updates only add
    data, with the hyperparameters carried over unchanged."""
    _, every = lj_loop
    updates = [c for c in every.called if c.process_label == 'update_sgp']
    assert len(updates) >= 2 and all('training_log' in u.outputs for u in updates)

    _, node = run_loop(build(python_code, li_cell, {**LJ_LABELS, 'hyperparameter_tolerance': 1e9}))
    updates = sorted((c for c in node.called if c.process_label == 'update_sgp'), key=lambda c: c.ctime)
    assert len(updates) >= 2, 'the test needs a loop that updated its SGP more than once'
    assert ['training_log' in u.outputs for u in updates] == [True] + [False] * (len(updates) - 1)
    settled = updates[0].outputs.sgp.base.attributes.get('hyperparameters')
    assert all(u.outputs.sgp.base.attributes.get('hyperparameters') == settled for u in updates[1:])
    assert any('settled, not retrained again' in log.message for log in orm.Log.collection.get_logs_for(node))


def test_sgp_models_form_a_chain_and_each_drove_the_next_segment(lj_loop):
    results, node = lj_loop
    segments = children(node, FlareMdCalculation)
    chain = [results['sgp']]
    while getattr(chain[-1].creator.inputs, 'sgp', None) is not None:
        chain.append(chain[-1].creator.inputs.sgp)
    chain.reverse()
    assert chain[0].creator.process_label == 'create_sgp'
    assert [m.n_training_structures for m in chain] == list(range(1, len(chain) + 1))
    assert chain[-1].n_training_structures == len(results['dataset'])
    # each segment ran with the newest model at its time; the state passed from one to the next
    for segment in segments:
        newer = [m for m in chain if m.ctime < segment.ctime]
        assert segment.inputs.sgp.uuid == newer[-1].uuid
    for previous, following in zip(segments, segments[1:]):
        assert following.inputs.state.uuid == previous.outputs.state.uuid
    assert all(m.base.attributes.get('flare_version') for m in chain)


def test_a_finished_run_continues_with_more_md_time(python_code, li_cell, lj_loop):
    first, first_node = lj_loop
    total = first_node.inputs.md['total_steps'] + 40
    builder = build(python_code, li_cell, {**LJ_LABELS, 'md': {'total_steps': total}, 'max_dft_calls': 4})
    builder.sgp, builder.dataset, builder.state = first['sgp'], first['dataset'], first['state']
    second, node = run_loop(builder)
    segments = children(node, FlareMdCalculation)
    assert segments[0].inputs.state.uuid == first['state'].uuid
    assert segments[0].inputs.sgp.uuid == first['sgp'].uuid
    assert second['state'].step == total
    assert second['dataset'].frame_uuids[: len(first['dataset'])] == first['dataset'].frame_uuids
    assert len(second['dataset']) == len(first['dataset']) + sum('trigger' in s.outputs for s in segments)
    assert not any(c.process_label in ('create_sgp', 'jitter_structure') for c in node.called)


@pytest.mark.parametrize(('change', 'message'), [
    (lambda b: setattr(b, 'thresholds', orm.Dict({'dft': 0.01, 'add_atom': 0.1})), 'add_atom <= dft'),
    (lambda b: setattr(b, 'md', orm.Dict({**b.md.get_dict(), 'temperature': 300})), 'unknown keys'),
    (lambda b: setattr(b.label, 'gpaw', label_inputs(b.label.ase.ase.code, {'backend': 'gpaw', 'protocol': 'fast'})['gpaw']),
     'fill exactly one backend namespace'),
    (lambda b: setattr(b.label.ase.ase, 'calculator', orm.Str('mace')), 'unknown ASE calculator'),
], ids=['thresholds', 'md-key', 'two-backends', 'calculator'])
def test_bad_inputs_are_refused_before_anything_runs(python_code, li_cell, change, message):
    """Refused when set on the builder (port validators) or at the latest on launch."""
    builder = build(python_code, li_cell, LJ_LABELS)
    before = orm.QueryBuilder().append(orm.ProcessNode).count()
    with pytest.raises(ValueError, match=message):
        change(builder)
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.ProcessNode).count() == before


def test_sgp_that_does_not_know_a_species_is_refused(python_code, lj_loop):
    results, _ = lj_loop
    builder = build(python_code, build_structure_node('li2s')['structure'], LJ_LABELS)
    builder.sgp, builder.dataset = results['sgp'], results['dataset']
    with pytest.raises(ValueError, match='the SGP knows Li, the structure has Li, S'):
        run_get_node(builder)


def test_gpaw_labels_drive_the_loop(python_code):
    """The DFT path: GPAW (fast protocol) labels; every frame is DFT and the SGP has them all.
    Two labels (the first frame and one trigger) of the 2-atom BCC cell: the 16-atom cell's
    GPAW labels took about 40 s each."""
    li_pair = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    overrides = {'label': {'backend': 'gpaw', 'protocol': 'fast'}, 'md': {'total_steps': 40, 'segment_steps': 20}, 'max_dft_calls': 2}
    results, node = run_loop(build(python_code, li_pair, overrides))
    dataset = results['dataset']
    assert isinstance(dataset, DatasetData) and dataset.base.attributes.get('all_dft') is True
    assert len(dataset) == 2
    assert isinstance(results['sgp'], SgpModelData) and results['sgp'].n_training_structures == len(dataset)
    frames = list(dataset.iter_frames())
    assert all(f.base.attributes.get('backend') == 'gpaw' for f in frames)
    assert frames[0].base.attributes.get('origin') == 'active_learning'


def test_paper_sweep_protocol_holds_the_papers_conditions_and_thresholds(python_code, li_cell):
    from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain, curriculum_order

    lpscl = build_structure_node('argyrodite')['structure']
    builder = ActiveLearningSweepWorkChain.get_builder_from_protocol({'md': python_code, 'label': python_code}, 'paper', structures={'li': li_cell, 'lpscl': lpscl})
    conditions = builder.conditions.get_dict()
    assert sorted(c['temperature_K'] for c in conditions.values() if c['pressure_GPa'] == 0.0) == [100, 200, 300, 400, 500, 600, 700, 800, 2000]
    assert sorted(c['pressure_GPa'] for c in conditions.values() if c['pressure_GPa']) == [1, 5, 10]
    assert sorted(c['expansion'] for c in conditions.values() if c['expansion']) == [0.01, 0.05, 0.10]
    assert all(c['pressure_GPa'] is None for c in conditions.values() if c['expansion'])  # NVT in the expanded cell
    assert builder.system_thresholds['Li'] == {'dft': 0.0005, 'add_atom': 0.0001}
    assert builder.curriculum.value is True
    assert curriculum_order(conditions) == ['T100K', 'T200K', 'T300K', 'T400K', 'T500K', 'T600K', 'T700K', 'T800K', 'T2000K',
                                            'P1GPa', 'P5GPa', 'P10GPa', 'E1pct', 'E5pct', 'E10pct']
    assert builder.active_learning.thresholds.get_dict() == {'dft': 0.15, 'add_atom': 0.03}
    settings = builder.active_learning.sgp_settings.get_dict()
    assert (settings['cutoff'], settings['n_max'], settings['l_max']) == (6.0, 9, 3)
    assert builder.active_learning.md['timestep_fs'] == 1.0 and builder.active_learning.md['total_steps'] == 1_000_000
    assert set(builder.active_learning.label._inputs(prune=True)) == {'gpaw'} and builder.active_learning.label.gpaw.gpaw.parameters['ecut'] == 700


def test_sweep_runs_each_condition_and_merges_the_datasets(python_code, li_cell):
    """Without the curriculum every condition starts from scratch, side by side."""
    from aiida_sei.protocols import recursive_merge
    from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain

    overrides = recursive_merge(FAST, {**LJ_LABELS, 'md': {'total_steps': 40}, 'max_dft_calls': 3,
                                       'sweep': {'temperatures_K': [600], 'pressures_GPa': [], 'expansions': [0.05], 'curriculum': False}})
    builder = ActiveLearningSweepWorkChain.get_builder_from_protocol({'md': python_code, 'label': python_code}, 'fast', overrides, structures={'li': li_cell})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    runs = {c.inputs.frame_metadata['condition']['expansion']: c for c in node.called if c.process_class is ActiveLearningWorkChain}
    assert set(runs) == {0.0, 0.05}
    hot, expanded = runs[0.0], runs[0.05]
    assert hot.inputs.md['temperature_K'] == 600 and hot.inputs.md['pressure_GPa'] == 0.0
    assert expanded.inputs.md['pressure_GPa'] is None
    assert expanded.inputs.structure.get_cell_volume() == pytest.approx(li_cell.get_cell_volume() * 1.05**3)
    assert hot.inputs.thresholds.get_dict() == FAST['system_thresholds']['Li']  # by system, over the default
    union = hot.outputs.dataset.frame_uuids + expanded.outputs.dataset.frame_uuids
    assert sorted(results['dataset'].frame_uuids) == sorted(union)
    assert sorted(results['datasets']['li'].frame_uuids) == sorted(union)
    assert set(results['sgps']) == {'li__T600K', 'li__E5pct'}
    assert 'sgp' not in expanded.inputs and len(expanded.outputs.dataset) >= 1


def test_curriculum_continues_each_condition_from_the_one_before(python_code, li_cell):
    """With the curriculum, the harsher condition starts from the SGP and dataset of the gentler
    one: no first label of its own, its frames added to the same dataset. The structure is also
    labelled at each strain, without MD."""
    from aiida_sei.calculators import lennard_jones
    from aiida_sei.protocols import recursive_merge
    from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain

    overrides = recursive_merge(FAST, {**LJ_LABELS, 'md': {'total_steps': 40}, 'max_dft_calls': 3,
                                       'sweep': {'temperatures_K': [900, 300], 'pressures_GPa': [], 'expansions': [], 'curriculum': True,
                                                 'strains': [-0.03, 0.1]}})
    builder = ActiveLearningSweepWorkChain.get_builder_from_protocol({'md': python_code, 'label': python_code}, 'fast', overrides, structures={'li': li_cell})
    builder.strained_structures = {'li_x2': orm.StructureData(ase=li_cell.get_ase() * (2, 1, 1))}  # strained only, no MD
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    runs = sorted((c for c in node.called if c.process_class is ActiveLearningWorkChain), key=lambda c: c.pk)
    assert [run.inputs.md['temperature_K'] for run in runs] == [300, 900]  # gentle first, whatever the given order
    gentle, harsh = runs
    assert harsh.inputs.sgp.uuid == gentle.outputs.sgp.uuid and harsh.inputs.dataset.uuid == gentle.outputs.dataset.uuid
    assert harsh.outputs.dataset.frame_uuids[:len(gentle.outputs.dataset)] == gentle.outputs.dataset.frame_uuids
    harsh_labels = [c for c in harsh.called if c.process_label == 'LabelWorkChain']
    assert all(c.inputs.structure.creator is None or c.inputs.structure.creator.process_label != 'jitter_structure' for c in harsh_labels)
    strained = [f for f in results['dataset'].iter_frames() if f.metadata()['origin'] == 'strain']
    assert sorted(results['dataset'].frame_uuids) == sorted(harsh.outputs.dataset.frame_uuids + [f.uuid for f in strained])
    assert results['sgps']['li__T900K'].uuid == harsh.outputs.sgp.uuid
    assert len(runs) == 2 and len(results['datasets']['li_x2']) == 2  # the strained-only cell: its two strains, no run
    strained = [f for f in strained if f.uuid not in results['datasets']['li_x2'].frame_uuids]
    by_strain = {f.metadata()['condition']['strain']: f.get_atoms() for f in strained}
    assert sorted(by_strain) == [-0.03, 0.1]
    cell = li_cell.get_ase()
    for strain, atoms in by_strain.items():
        assert atoms.get_volume() == pytest.approx(cell.get_volume() * (1 + strain)**3)
        assert atoms.get_scaled_positions() == pytest.approx(cell.get_scaled_positions(), abs=1e-9)
        reference = atoms.copy()
        reference.calc = lennard_jones()  # the `fast` ase labels: labelled at its strain, not copied
        assert atoms.get_potential_energy() == pytest.approx(reference.get_potential_energy(), rel=1e-6)


def test_md_that_blew_up_gets_its_exit_code(python_code, lj_loop):
    """A state whose atoms overlap (the MD blew up) ends the segment with ERROR_MD_UNSTABLE."""
    from aiida_sei.data import MdStateData
    from aiida_sei.science.md_segment import MdState

    results, _ = lj_loop
    state = results['state'].get_state()
    atoms = state.atoms.copy()
    atoms.positions[1] = atoms.positions[0] + [0.3, 0.0, 0.0]
    parameters = {'max_steps': 2, 'threshold': 1e6, 'temperature_K': 300.0,
                  'timestep_fs': 1.0, 'seed': 0, 'thin': 1}
    _, job = run_get_node(FlareMdCalculation, code=python_code, sgp=results['sgp'], state=MdStateData(MdState(atoms, state.step, {})),
                          parameters=orm.Dict(parameters))
    assert job.exit_status == FlareMdCalculation.exit_codes.ERROR_MD_UNSTABLE.status
    assert 'atoms 0 and 1 are' in job.exit_message


def test_a_model_kept_in_memory_predicts_as_its_stored_json(lj_loop):
    """update_sgp starts from the model the previous update kept in memory instead of rebuilding
    it from JSON: that is only right if a trained model and its stored JSON predict the same."""
    from aiida_sei.science import sgp as science

    results, node = lj_loop
    last_update = max((c for c in node.called if c.process_label == 'update_sgp'), key=lambda c: c.ctime)
    frame = last_update.inputs.frame
    model = last_update.inputs.sgp.load()
    atoms = frame.get_atoms()
    science.add_frame(model, atoms, frame.energy, frame.get_array('forces'), frame.get_array('stress'), range(4))
    science.train(model)
    stored = SgpModelData(model).store()
    stored.keep_loaded(model)
    rebuilt = SgpModelData.load(orm.load_node(stored.pk))  # from the JSON: nothing kept under that node
    atoms.rattle(0.05, seed=3)
    kept_prediction, rebuilt_prediction = science.predict(model, atoms), science.predict(rebuilt, atoms)
    assert kept_prediction[0] == pytest.approx(rebuilt_prediction[0], abs=1e-6)
    assert np.allclose(kept_prediction[1], rebuilt_prediction[1], atol=1e-6)
    assert np.allclose(science.uncertainties(model, atoms), science.uncertainties(rebuilt, atoms), atol=1e-6)
    assert stored.load(reuse=True) is model  # handed out once ...
    assert stored.load(reuse=True) is not model  # ... then rebuilt from the JSON
    stored.keep_loaded(model)
    science.add_frame(model, atoms, frame.energy, frame.get_array('forces'), frame.get_array('stress'), range(2))
    assert stored.load(reuse=True) is not model  # changed after it was kept: the JSON wins


@pytest.mark.parametrize('strains', [[0.0], [0.5], [-0.3], ['0.1']])
def test_strains_that_are_no_strain_or_would_break_the_cell_are_refused(python_code, li_cell, strains):
    """A zero strain relabels the cell; +50 % or -30 % are no longer an equation of state near
    equilibrium (atoms overlap, or no bond is left): refused before anything runs."""
    from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain

    builder = ActiveLearningSweepWorkChain.get_builder_from_protocol({'md': python_code, 'label': python_code}, 'fast', LJ_LABELS, structures={'li': li_cell})
    with pytest.raises(ValueError, match='strains are isotropic lattice strains'):
        builder.strains = orm.List(strains)
