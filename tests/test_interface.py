"""The whole pipeline (`sei.interface`, demo protocol): the README's main job, run once for the
test run by the `demo_run` fixture (CHGNet stand-in labels so that every step fits in CI:
structures, active learning, Allegro, refinement, compilation, LAMMPS with the project's pair
style, classification, summary) and imported here from its archive. The summary must be what
the stored nodes say, and the provenance must lead from the production run back to the labels."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.geometry import get_distances

from aiida_sei.science.model_errors import production_check
from aiida_sei.workchains.interface import CODES, InterfaceWorkChain


@pytest.fixture(scope='module')
def pipeline(demo_imported):
    node = demo_imported
    assert node.is_finished_ok, node.exit_message
    return node.outputs, node


def test_summary_numbers_come_from_the_stored_nodes(pipeline):
    results, node = pipeline
    summary, dataset, trajectory = results['summary'], results['dataset'], results['trajectory']
    production = trajectory.creator.inputs.parameters
    assert summary['frames'] == len(dataset) == len(list(dataset.iter_frames()))
    assert summary['md_frames'] == trajectory.numsteps == production['steps'] // production['dump_interval'] + 1
    assert summary['atoms'] == len(trajectory.symbols)
    assert summary['md_steps'] == production['steps']
    assert summary['model_metrics'] == results['model'].creator.outputs.metrics.get_dict()
    fractions = summary['phase_fractions']
    assert sum(part['core'] + part['non_core'] for part in fractions.values()) == pytest.approx(1.0, abs=1e-6)
    last = results['composition']
    for label, part in fractions.items():
        assert last.get_array(f'{label}__core')[-1] == pytest.approx(part['core'])
    check = production_check(results['validation_errors']['all'], results['test_errors']['all'])  # the demo labels a test set
    stored = summary['production_check']  # floats through the database keep 13 significant digits
    assert (stored['trusted'], stored['message']) == (check['trusted'], check['message'])
    assert stored['energy_ratio'] == pytest.approx(check['energy_ratio']) and stored['force_ratio'] == pytest.approx(check['force_ratio'])
    inputs = summary.creator.inputs
    assert summary['beyond_reach'] == pytest.approx({'first': inputs.first['beyond_reach'], 'last': inputs.composition['beyond_reach']})
    first = summary['first_frame_fractions']  # the cell as built, before any MD
    for label, part in first.items():
        assert last.get_array(f'{label}__core')[0] == pytest.approx(part['core'])


def bulk_metal(composition, cutoff: float) -> tuple[np.ndarray, np.ndarray]:
    """Labels of the Li of a classified frame, and which of them are bulk metal: no anion within
    the descriptor's cutoff."""
    atoms = composition.creator.inputs.structure.get_ase()
    symbols = np.array(atoms.get_chemical_symbols())
    _, distances = get_distances(atoms.positions[symbols == 'Li'], atoms.positions[symbols != 'Li'], cell=atoms.cell, pbc=atoms.pbc)
    return np.array(composition['li_labels']), distances.min(axis=1) > cutoff


def test_the_demo_names_the_cell_as_built(pipeline):
    """First frame, before any MD: the metal's Li are named Li and the electrolyte's Li6PS5Cl
    (issue 16). The metal here is its bulk, the Li with no anion within the descriptor's cutoff:
    the metal's first layers see S and Cl, and the clustering of the reacting interface may set
    them apart as ``unknown`` (21 of their 43 in 2 of 7 demo runs; docs/classification.md)."""
    results, _ = pipeline
    first = results['summary'].creator.inputs.first
    labels, bulk = bulk_metal(first, first.creator.inputs.clustering.settings['cutoff'])
    atoms = first.creator.inputs.structure.get_ase()
    symbols = np.array(atoms.get_chemical_symbols())
    anions_z = atoms.positions[symbols != 'Li', 2]
    li_z = atoms.positions[symbols == 'Li', 2]
    electrolyte = (li_z > anions_z.min() - 1.0) & (li_z < anions_z.max() + 1.0)
    assert bulk.sum() >= 0.5 * (~electrolyte).sum() and electrolyte.sum() > 0
    assert np.mean(labels[bulk] == 'Li') >= 0.9, dict(zip(*np.unique(labels[bulk], return_counts=True)))
    assert np.mean(labels[electrolyte] == 'Li6PS5Cl') >= 0.8, dict(zip(*np.unique(labels[electrolyte], return_counts=True)))


def test_the_metal_still_reads_as_li_after_the_run(pipeline):
    """Last frame: 1 ps at 300 K leaves the metal's bulk BCC Li, and the classification must say
    so. With the metal split in two clusters whose cores no reference reached, a demo run's last
    frame read 101 of 168 Li `unknown` (docs/classification.md)."""
    results, _ = pipeline
    last = results['summary'].creator.inputs.composition
    labels, bulk = bulk_metal(last, last.creator.inputs.clustering.settings['cutoff'])
    assert bulk.sum() > 0
    assert np.mean(labels[bulk] == 'Li') >= 0.9, dict(zip(*np.unique(labels[bulk], return_counts=True)))


def test_the_model_in_production_links_back_to_the_labels(pipeline):
    results, node = pipeline
    production = results['trajectory'].creator
    compiled = production.inputs.model
    assert compiled.creator.inputs.model.uuid == results['model'].uuid
    training_frames = set(results['model'].creator.inputs.dataset.frame_uuids)
    assert training_frames <= set(results['dataset'].frame_uuids)
    labels = [d for d in node.called_descendants if d.process_label == 'LabelWorkChain'
              and d.outputs.frame.base.attributes.get('origin') not in ('production_test', 'dft_check')]  # checks are not training data
    assert {label.outputs.frame.uuid for label in labels} == set(results['dataset'].frame_uuids)
    # the refinement ran, and its labels are in the final dataset
    refinement = [d for d in node.called if d.process_label == 'RefinementWorkChain']
    assert len(refinement) == 1 and refinement[0].outputs.dataset.uuid == results['dataset'].uuid


def test_every_explored_system_has_its_equation_of_state(pipeline):
    """The demo's sweep labels each explored structure, and the production cell, at its strains:
    near equilibrium the pressure CHGNet gives falls as the lattice grows, in every cell (what the
    model's NPT needs to learn); further out the tension may saturate (LiCl's peaks between +10
    and +15 % in CHGNet), but every stretched cell is under less pressure than a compressed one."""
    results, node = pipeline
    sweep = next(c for c in node.called if c.process_label == 'ActiveLearningSweepWorkChain')
    strains = sorted(sweep.inputs.strains.get_list())
    strained = {}
    for frame in results['dataset'].iter_frames():
        if frame.metadata()['origin'] == 'strain':
            atoms = frame.get_atoms()
            strained.setdefault((frame.metadata()['system'], len(atoms)), {})[frame.metadata()['condition']['strain']] = atoms
    explored = {(f.metadata()['system'], f.base.attributes.get('n_atoms')) for f in sweep.outputs.dataset.iter_frames()
                if f.metadata()['origin'] == 'active_learning'}
    assert len(explored) == len(node.inputs.active_learning.systems)
    assert set(strained) == explored | {('interface', len(results['trajectory'].get_step_structure(0).sites))}
    for system, frames in strained.items():
        assert sorted(frames) == strains, system
        pressure = {e: -frames[e].get_stress()[:3].mean() for e in strains}
        near = [pressure[e] for e in strains if e <= 0.06]
        assert len(near) >= 3 and np.all(np.diff(near) < 0), (system, pressure)
        assert max(p for e, p in pressure.items() if e > 0) < min(p for e, p in pressure.items() if e < 0), (system, pressure)


def test_composition_covers_every_production_frame(pipeline):
    results, _ = pipeline
    composition, trajectory = results['composition'], results['trajectory']
    assert len(composition.get_array('time')) == trajectory.numsteps
    totals = sum(composition.get_array(name) for name in composition.get_arraynames() if name != 'time')
    assert np.allclose(totals, 1.0, atol=1e-6)


def test_missing_code_is_refused_before_anything_runs(pipeline):
    codes = {name: orm.load_code(label) for name, label in (('md', 'python@localhost'), ('label', 'python@localhost'),
             ('relax', 'gpaw@localhost'), ('train', 'nequip-train@localhost'), ('package', 'nequip-package@localhost'), ('compile', 'nequip-compile@localhost'),
             ('dft', 'gpaw@localhost'))}
    assert set(CODES) - set(codes) == {'lammps'}
    before = orm.QueryBuilder().append(orm.Node).count()
    with pytest.raises(ValueError, match='codes missing: lammps'):
        run_get_node(InterfaceWorkChain.get_builder_from_protocol(codes, 'demo'))
    assert orm.QueryBuilder().append(orm.Node).count() == before


def test_an_imported_localhost_is_configured_before_it_runs_anything(pipeline, tmp_path):
    """Archives carry computers but no authinfo: the `localhost` that came with the demo's
    archive would fail its first job until `ensure_localhost` configures it for this user."""
    from aiida_sei.profile import COMPUTER_LABEL, ensure_localhost

    imported = orm.load_computer(COMPUTER_LABEL)
    assert not imported.is_configured
    computer = ensure_localhost(tmp_path, echo=lambda _: None)
    assert computer.pk == imported.pk and computer.is_configured


def test_every_steps_settings_are_input_ports_of_the_interface_node(pipeline):
    """What `verdi process show` lists: each step's settings as the exposed inputs of the work
    chain or job that ran it (no opaque protocol Dict), the same nodes the steps received."""
    from aiida.cmdline.commands.cmd_process import process_show
    from click.testing import CliRunner

    results, node = pipeline
    inputs = node.inputs
    assert 'protocol' not in inputs
    demo = InterfaceWorkChain.get_protocol_inputs('demo')
    assert inputs.allegro.training['max_epochs'] == demo['allegro']['overrides']['training']['max_epochs']  # over the fast protocol's
    assert inputs.active_learning.active_learning.md['total_steps'] == demo['active_learning']['overrides']['md']['total_steps']
    assert inputs.production.parameters['steps'] == demo['production']['parameters']['steps']
    assert inputs.production.system.value == demo['production']['system']
    training = results['model'].creator.caller  # the refinement's retraining made the final model
    sweep = next(c for c in node.called if c.process_label == 'ActiveLearningSweepWorkChain')
    assert sweep.inputs.active_learning.md.uuid == inputs.active_learning.active_learning.md.uuid  # passed on, not rebuilt
    assert training.inputs.training.get_dict() == inputs.refinement.training.training.get_dict()
    shown = CliRunner().invoke(process_show, [str(node.pk)]).output  # `verdi process show`, on the loaded test profile
    assert 'Inputs' in shown and 'protocol' not in shown.split('Outputs')[0]
    for namespace in ('active_learning', 'allegro', 'refinement', 'production', 'classification'):
        assert namespace in shown


def test_references_are_md_frames_of_each_crystal_with_the_production_model(pipeline):
    """The paper's references: 300 K MD of each reference crystal with the model in use, not
    static cells; then the second pass names unknown clusters by the ordered doped Li2S cell
    without re-clustering, and leaves the clusters the first pass named as they were; clusters
    still unknown then have their non-core regions named, if any reference lands there."""
    from aiida.common.links import LinkType

    results, node = pipeline
    model = results['trajectory'].creator.inputs.model
    built = next(c for c in node.called if c.process_label == 'StructuresWorkChain').outputs.structures
    passes = {process.process_label: process for process in node.called if process.process_label in ('label_clustering', 'label_unknown_clusters', 'label_non_core_regions')}
    expected = {**node.inputs.classification.references.get_dict(), **node.inputs.classification.second_pass.get_dict()}
    seen = set()
    for process in passes.values():
        for link in process.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all():
            if link.link_label == 'clustering':
                continue
            phase = link.link_label.rsplit('__', 1)[0]
            md = link.node.creator.inputs.trajectory.creator  # last_frames <- the reference's LAMMPS run
            assert md.process_label == 'LammpsMdCalculation' and md.inputs.model.uuid == model.uuid
            assert md.inputs.structure.uuid == built[expected[phase]].uuid
            assert md.inputs.parameters['temperature'] == 300.0
            seen.add(phase)
    assert seen == set(expected)
    first = passes['label_clustering'].outputs.result.labels
    second = passes['label_unknown_clusters'].outputs.result.labels
    assert second == [new if old == 'unknown' else old for old, new in zip(first, second)]
    assert passes['label_unknown_clusters'].inputs.clustering.uuid == passes['label_clustering'].outputs.result.uuid
    assert ('label_non_core_regions' in passes) == ('unknown' in second)
    if 'unknown' in second:
        last = passes['label_non_core_regions']
        assert last.inputs.clustering.uuid == passes['label_unknown_clusters'].outputs.result.uuid and last.outputs.result.labels == second
        assert [n for n, old in zip(last.outputs.result.non_core_labels, second) if old != 'unknown'] == [old for old in second if old != 'unknown']
        assert results['summary'].creator.inputs.first.creator.inputs.clustering.uuid == last.outputs.result.uuid


def test_the_final_model_is_checked_on_its_validation_frames_and_can_be_plotted(pipeline, tmp_path):
    """The chain runs validate_model with the final model compiled for ASE (by the refinement,
    which compiled it to validate it, or by the chain) on the frames it was validated on: the
    errors agree with the training's own, and `aiida-sei plot parity` of the model (what a user
    runs after the demo) finds them."""
    from click.testing import CliRunner

    from aiida_sei.cli import cli
    from aiida_sei.queries import model_validations

    results, _ = pipeline
    errors = results['validation_errors'].get_dict()['all']
    trained = results['model'].creator.outputs.metrics['validation']
    assert errors['frames'] == len(results['model'].creator.inputs.validation)
    assert errors['energy_per_atom_mae'] == pytest.approx(trained['energy_per_atom_mae'], rel=1e-3)
    assert errors['forces_mae'] == pytest.approx(trained['forces_mae'], rel=1e-3)
    from aiida.manage import get_manager

    profile = get_manager().get_profile().name
    shown = CliRunner().invoke(cli, ['--profile', profile, 'plot', 'parity', str(results['model'].pk), '-o', str(tmp_path / 'parity.png')])
    assert shown.exit_code == 0, shown.output
    assert (tmp_path / 'parity.png').stat().st_size > 1000
    newest = model_validations(results['model'])[0]  # the test set's, run after the validation frames'
    assert f'{"all":10s} {newest.outputs.errors["all"]["frames"]:5d} frames' in shown.output


def test_the_time_series_holds_the_papers_numbers_of_every_production_frame(pipeline):
    """Fig. 2d and the SEI composition as stored numbers: one value per production frame, equal to
    what the analyses give on that frame."""
    from aiida_sei.science.analyses import FRAME_NUMBERS, frame_numbers

    results, _ = pipeline
    series, trajectory = results['time_series'], results['trajectory']
    assert set(FRAME_NUMBERS) | {'time'} == set(series.get_arraynames())
    assert len(series.get_array('time')) == trajectory.numsteps
    last = frame_numbers(trajectory.get_step_structure(trajectory.numsteps - 1).get_ase())
    for name in FRAME_NUMBERS:
        assert series.get_array(name)[-1] == pytest.approx(last[name], nan_ok=True)
    built = trajectory.get_step_structure(0).get_ase().get_chemical_symbols().count('P')
    assert series.get_array('intact_ps4')[0] == built  # the cell as built: every P in an intact PS4


def test_li_msd_by_phase_is_stored_for_the_production_run(pipeline):
    """Fig. 2b from the run's own trajectory: windows in the paper's proportions, paths unwrapped
    with the dump's image flags, the Li metal slabs' BCC atoms followed from each window's start."""
    from aiida_sei.science.analyses import msd_windows

    results, _ = pipeline
    msd, trajectory = results['li_msd'], results['trajectory']
    assert msd.creator.inputs.trajectory.uuid == trajectory.uuid
    starts, length = msd_windows(trajectory.numsteps)
    assert msd.base.attributes.get('window_starts') == starts and len(msd.get_array('lag')) == length
    assert msd.base.attributes.get('BCC_atoms') > 0  # the Li slabs are BCC metal
    bcc = msd.get_array('BCC_in_plane')
    assert bcc[0] == 0 and np.all(np.isfinite(bcc)) and np.all(np.isfinite(msd.get_array('BCC_out_of_plane')))


def test_production_frames_labelled_by_the_run_s_labeller_test_the_final_model(pipeline):
    """The paper's test set: frames of the production run recomputed by the labeller (here the
    stand-in), and the compiled final model's errors on them, per system."""
    results, node = pipeline
    errors = results['test_errors'].get_dict()
    called = [c for c in node.called if c.process_label == 'LabelWorkChain']  # the steps' own labels are called deeper
    labels = [c for c in called if c.outputs.frame.base.attributes.get('origin') == 'production_test']
    assert len(labels) == errors['all']['frames'] == node.inputs.test_set.frames.value
    assert len(called) == len(labels) + 2 * node.inputs.dft_check.clusters.value  # and the DFT check's, two per cluster
    for label in labels:
        assert label.inputs.structure.creator.process_label == 'trajectory_frames'
        assert label.inputs.structure.creator.inputs.trajectory.uuid == results['trajectory'].uuid
    validation = next(c for c in node.called if c.process_label == 'validate_model' and c.outputs.errors.uuid == results['test_errors'].uuid)
    assert set(validation.inputs.dataset.frame_uuids) == {label.outputs.frame.uuid for label in labels}
    assert np.isfinite(errors['all']['energy_per_atom_mae']) and np.isfinite(errors['all']['forces_rmse'])


def _failed_node(label: str, status: int, message: str):
    failed = orm.WorkflowNode(process_type=f'aiida.workflows:{label}')
    failed.set_process_state('finished')
    failed.set_exit_status(status)
    failed.set_exit_message(message)
    return failed.store()


def test_the_elevated_production_is_classified_with_the_clustering_of_the_first(pipeline):
    """The second production: the same cell and compiled model at the elevated temperature, its
    frames classified by the clustering fitted on the 300 K run (not a new one), its time series
    and last-frame fractions in the summary."""
    results, node = pipeline
    hot, cold = results['elevated']['trajectory'], results['trajectory']
    assert hot.creator.inputs.parameters['temperature'] == node.inputs.production.elevated_temperature.value == 600.0
    assert cold.creator.inputs.parameters['temperature'] == 300.0
    for port in ('model', 'structure'):
        assert hot.creator.inputs[port].uuid == cold.creator.inputs[port].uuid
    composition = results['elevated']['composition']
    assert composition.creator.inputs.trajectory.uuid == hot.uuid
    assert composition.creator.inputs.clustering.uuid == results['composition'].creator.inputs.clustering.uuid
    series = results['elevated']['time_series']
    assert series.creator.inputs.trajectory.uuid == hot.uuid and len(series.get_array('time')) == hot.numsteps
    summary = results['summary']['elevated']
    assert summary['temperature'] == 600.0 and summary['md_time_ps'] == pytest.approx(float(hot.get_array('times')[-1]))
    for label, part in summary['phase_fractions'].items():
        assert composition.get_array(f'{label}__core')[-1] == pytest.approx(part['core'])
    # whether each cell kept its volume, from its own thermo (the demo's model lacks cohesion at 600 K)
    for check, production in ((summary['volume_check'], hot), (results['summary']['volume_check'], cold)):
        volumes = production.creator.outputs.thermo.get_array('volume')
        assert check['volume_change'] == pytest.approx(volumes[-1] / volumes[0] - 1) and check['trusted'] == (abs(check['volume_change']) <= 0.1)


def test_the_dft_check_compares_stand_in_and_model_with_dft_on_clusters_of_the_production(pipeline):
    """Clusters cut out of production frames, each labelled by GPAW (is_dft) and by the stand-in
    (not DFT); the stored errors are those of the labelled frames themselves."""
    from aiida_sei.science.dft_check import core_mask, force_errors

    results, node = pipeline
    check = results['dft_check']
    errors = check.creator
    clusters = node.inputs.dft_check.clusters.value
    assert check['clusters'] == clusters and len(check['regions']) == clusters
    assert check['regions'][0] == 'interface'  # the first cluster sits at the interface, then by turns
    dft = [errors.inputs[f'dft_{n:03d}'] for n in range(clusters)]
    stand_in = [errors.inputs[f'stand_in_{n:03d}'] for n in range(clusters)]
    labelled = {c.outputs.frame.uuid: c for c in node.called if c.process_label == 'LabelWorkChain'}
    for reference, other in zip(dft, stand_in):
        assert reference.base.attributes.get('is_dft') is True and other.base.attributes.get('is_dft') is False
        assert reference.base.attributes.get('backend') == 'gpaw'
        cut = labelled[reference.uuid].inputs.structure  # the cluster both labels started from
        assert labelled[other.uuid].inputs.structure.uuid == cut.uuid
        assert cut.creator.process_label == 'cut_clusters' and cut.creator.inputs.trajectory.uuid == results['trajectory'].uuid
        assert len(cut.sites) == len(reference.get_atoms()) < 60
    atoms = [frame.get_atoms() for frame in dft]
    masks = [core_mask(a, node.inputs.dft_check.core_radius.value) for a in atoms]
    expected = force_errors([a.get_forces() for a in atoms], [f.get_atoms().get_forces() for f in stand_in], masks)
    assert check['stand_in']['all']['forces_rmse'] == pytest.approx(expected['forces_rmse'])
    assert 0 < expected['forces_rmse'] < 5.0  # a universal potential against PBE: tenths of eV/Å, not tens
    assert np.isfinite(check['model']['all']['forces_rmse'])
    assert results['summary']['dft_check']['stand_in'] == check['stand_in']['all']


@pytest.mark.parametrize('step', ['reference MD', 'test set', 'DFT check'])
def test_a_failed_reference_md_or_test_label_ends_the_run_naming_it(pipeline, step):
    """The steps of the run, replayed on its own inputs, with one child failed: the run exits 400
    naming the step and the child's own exit, instead of classifying against a missing reference
    or reporting errors of a test set that was not labelled."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    results, node = pipeline
    process = instantiate_process(get_manager().get_runner(), node.get_builder_restart())
    if step == 'reference MD':
        process.ctx.production = results['trajectory'].creator
        source = sorted(process._phases().values())[0]
        process.ctx[f'reference_md_{source}'] = _failed_node('sei.lammps.base', 410, 'Atoms were lost')
        exit_code, where = process.classify(), f'reference MD of {source}'
    elif step == 'test set':
        process.ctx.test_frame_0 = _failed_node('sei.label', 400, 'the label failed: SCF')
        exit_code, where = process.check_test_set(), 'test-set labelling'
    else:
        process.ctx.dft_cluster_000 = _failed_node('sei.label', 400, 'the label failed: SCF')
        exit_code, where = process.check_stand_in(), 'DFT check'
    assert exit_code.status == InterfaceWorkChain.exit_codes.ERROR_STEP_FAILED.status
    assert exit_code.message.startswith(f'The {where} step failed') and ('exit 410' in exit_code.message or 'exit 400' in exit_code.message)


def _steps(builder) -> set[str]:
    """The optional steps a builder of sei.interface runs."""
    taken = {name for name in ('refinement', 'test_set', 'dft_check') if builder._inputs(prune=True).get(name)}
    taken |= {f'production.{name}' for name in ('elevated_temperature',) if name in builder.production}
    return taken | {f'classification.{name}' for name in ('reference_md', 'second_pass') if name in builder.classification}


def test_the_reduced_protocol_takes_the_demos_steps_at_a_larger_size(pipeline):
    """`make reproduce` (the `reduced` protocol, two hours) takes every step the demo this module
    checks takes (refinement, an elevated production, test set, DFT check of the stand-in,
    reference MD, second pass): the demo is its wiring at a tiny size. Here: that its settings
    resolve and scale up, with the paper's condition grid reduced and a few-thousand-atom cell."""
    from aiida_sei.science.catalogue import build
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain

    codes = {role: orm.load_code(f'{label}@localhost') for role, label in {**CODES, 'label': 'python'}.items()}
    demo = InterfaceWorkChain.get_builder_from_protocol(codes, 'demo')
    reduced = InterfaceWorkChain.get_builder_from_protocol(codes, 'reduced')
    assert _steps(reduced) == _steps(demo) == {'refinement', 'test_set', 'dft_check', 'production.elevated_temperature',
                                               'classification.reference_md', 'classification.second_pass'}
    assert reduced.test_set.ase_inline.calculator.value == 'chgnet' and 'gpaw' in reduced.dft_check  # stand-in labels, checked by DFT
    settings = InterfaceWorkChain.get_protocol_inputs('reduced')
    sweep = settings['active_learning']['overrides']['sweep']
    assert len(sweep['temperatures_K']) + len(sweep['pressures_GPa']) + len(sweep['expansions']) == 5
    assert set(reduced.active_learning.systems.get_list()) == {'bcc_li', 'argyrodite', 'interface_al', 'li2s', 'li3p', 'licl'}
    cell = reduced.structures.structures[reduced.production.system.value]
    assert 1000 < len(build(cell['kind'], cell['parameters'])) < 5000
    fast, paper = (AllegroTrainingWorkChain.get_protocol_inputs(name)['architecture'] for name in ('fast', 'paper'))
    for port in ('cutoff_radius', 'num_scalar_features', 'num_tensor_features'):  # between the fast and the paper model
        assert fast[port] < reduced.allegro.architecture[port] <= paper[port]
    assert reduced.production.parameters['steps'] > demo.production.parameters['steps']
    assert reduced.dft_check.clusters.value > len({'Li', 'S', 'P', 'Cl'})  # enough clusters to fit one energy shift per species
