"""Allegro training for real (nequip 0.19 + allegro 0.8, CPU): a tiny model on a small dataset."""


import pathlib
import re
from importlib.metadata import version

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.lj import LennardJones

from aiida_sei.calculations.functions.dataset import import_frames_file, split
from aiida_sei.calculations.nequip import NequipTrainCalculation
from aiida_sei.science import catalogue
from aiida_sei.science.training_metrics import learning_curve
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from tests.local import local_code, local_computer



def lj_li2s_cells(count: int, seed: int) -> list:
    """Rattled Li2S cells labelled by Lennard-Jones (energy, forces, stress)."""
    from ase.calculators.singlepoint import SinglePointCalculator

    rng = np.random.default_rng(seed)
    images = []
    for _ in range(count):
        atoms = catalogue.build('li2s')
        atoms.positions += rng.normal(0, 0.08, atoms.positions.shape)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        results = {'energy': atoms.get_potential_energy(), 'forces': atoms.get_forces(), 'stress': atoms.get_stress()}
        atoms.calc = SinglePointCalculator(atoms, **results)
        images.append(atoms)
    return images


@pytest.fixture(scope='module')
def lj_dataset(aiida_profile, tmp_path_factory):
    """30 rattled Li2S cells with Lennard-Jones labels, split 80/20."""
    import ase.io

    path = tmp_path_factory.mktemp('lj') / 'li2s.extxyz'
    ase.io.write(path, lj_li2s_cells(30, seed=0), format='extxyz')
    dataset = import_frames_file(path, is_dft=False, backend='lj')['dataset']
    return split(dataset, {'train': 0.8, 'validation': 0.2}, seed=1)


@pytest.fixture(scope='module')
def codes(lj_dataset, tmp_path_factory):
    computer = local_computer('train-localhost', tmp_path_factory.mktemp('work'))
    return {'train': local_code(computer, 'nequip-train'), 'package': local_code(computer, 'nequip-package')}


@pytest.fixture(scope='module')
def trained(codes, lj_dataset):
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', dataset=lj_dataset['train'], validation=lj_dataset['validation'], overrides={'training': {'max_epochs': 3}})
    return run_get_node(builder)


def test_training_produces_a_packaged_model_with_its_provenance(trained, lj_dataset):
    results, node = trained
    assert node.is_finished_ok, node.exit_message
    model = results['model']
    assert model.species == ['Li', 'S'] and model.r_max == 4.0
    shifts = results['energy_shifts_used']  # Lennard-Jones labels: no table of their own, so fitted
    assert shifts['source'].startswith('fitted by least squares') and set(shifts['shifts']) == {'Li', 'S'}
    assert model.creator.inputs.config['training_module']['model']['per_type_energy_shifts'] == shifts['shifts']
    recorded = model.base.attributes.get('versions')
    assert (recorded['nequip'], recorded['allegro']) == (version('nequip'), version('nequip-allegro'))  # what trained it
    assert model.base.attributes.get('dataset_uuid') == lj_dataset['train'].uuid
    calculation = model.creator
    assert calculation.inputs.dataset.uuid == lj_dataset['train'].uuid
    assert calculation.inputs.config['training_module']['loss']['coeffs'] == {'total_energy': 10.0, 'forces': 1.0, 'stress': 100.0}


def test_metrics_and_learning_curve_come_from_the_training_log(trained):
    results, _ = trained
    metrics = results['metrics'].get_dict()
    assert metrics['epochs'] == 3
    curve = results['learning_curve']
    assert list(curve.get_array('epoch')) == [0.0, 1.0, 2.0]
    best = int(np.argmin(curve.get_array('validation_weighted_sum')))
    assert metrics['best_epoch'] == best
    calculation = results['model'].creator
    csv_text = calculation.outputs.retrieved.base.repository.get_object_content('metrics.csv')
    assert metrics['validation']['forces_mae'] == pytest.approx(learning_curve(csv_text)['validation_forces_mae'][best], rel=1e-12)
    for split_name in ('train', 'validation'):
        assert all(np.isfinite(v) and v >= 0 for v in metrics[split_name].values())
    assert metrics['validation']['forces_rmse'] >= metrics['validation']['forces_mae']
    shown = NequipTrainCalculation.progress(pathlib.Path(calculation.get_remote_workdir()))  # what a run shows as it trains
    assert re.fullmatch(r'epoch 3/3, loss (\S+)', shown) and np.isfinite(float(shown.split()[-1]))


def job_inputs(codes, lj_dataset) -> dict:
    """Inputs of one training job of the `fast` protocol on the LJ data (the config the work
    chain would make for its species, Li and S)."""
    from aiida_sei.science.allegro import training_config

    config = training_config(['Li', 'S'], AllegroTrainingWorkChain.get_protocol_inputs('fast'))
    return {'code': codes['train'], 'package_code': codes['package'], 'dataset': lj_dataset['train'],
            'validation': lj_dataset['validation'], 'config': orm.Dict(config)}


def test_species_missing_from_the_model_are_refused_before_submission(codes, lj_dataset, tmp_path):
    import ase.io

    atoms = catalogue.build('licl')
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ase.io.write(tmp_path / 'licl.extxyz', [atoms], format='extxyz')
    licl = import_frames_file(tmp_path / 'licl.extxyz', is_dft=False)['dataset']
    with pytest.raises(ValueError, match='Cl, which the model config lacks'):
        run_get_node(NequipTrainCalculation, **{**job_inputs(codes, lj_dataset), 'validation': licl})


def test_an_empty_dataset_is_refused(codes, lj_dataset):
    from aiida_sei.data import DatasetData

    with pytest.raises(ValueError, match='validation dataset is empty'):
        run_get_node(NequipTrainCalculation, **{**job_inputs(codes, lj_dataset), 'validation': DatasetData([])})


@pytest.fixture(scope='module')
def compiled(codes, trained):
    from aiida_sei.calculations.nequip_compile import NequipCompileCalculation

    compile_code = local_code(codes['train'].computer, 'nequip-compile', executable='sei-nequip-compile')
    return run_get_node(NequipCompileCalculation, code=compile_code, model=trained[0]['model'], target=orm.Str('ase'))


def test_compiled_model_in_ase_reproduces_the_stored_validation_metrics(compiled, trained, lj_dataset):
    """Package -> AOTInductor compile -> nequip's ASE calculator gives the validation errors the
    training recorded for the packaged (best) epoch."""
    from nequip.integrations.ase import NequIPCalculator

    results, node = compiled
    assert node.is_finished_ok, node.exit_message
    compiled_model = results['compiled']
    model = trained[0]['model']
    assert compiled_model.creator.inputs.model.uuid == model.uuid
    assert compiled_model.target == 'ase' and compiled_model.species == ['Li', 'S']
    with compiled_model.as_path() as path:
        calculator = NequIPCalculator.from_compiled_model(str(path), device='cpu', chemical_species_to_atom_type_map=True)
        energy_errors, force_errors = [], []
        for frame in lj_dataset['validation'].iter_frames():
            atoms = frame.get_atoms()
            reference_energy, reference_forces = atoms.get_potential_energy(), atoms.get_forces()
            atoms.calc = calculator
            energy_errors.append(abs(atoms.get_potential_energy() - reference_energy) / len(atoms))
            force_errors.extend(np.abs(atoms.get_forces() - reference_forces).ravel())
    stored = trained[0]['metrics']['validation']
    assert np.mean(energy_errors) == pytest.approx(stored['energy_per_atom_mae'], rel=1e-3)
    assert np.mean(force_errors) == pytest.approx(stored['forces_mae'], rel=1e-3)


def test_the_compiled_graph_has_no_det_and_its_stress_is_the_strain_derivative(compiled, lj_dataset):
    """`sei-nequip-compile` replaces torch.linalg.det (whose CUDA AOTInductor build segfaults,
    docs/production.md) by a triple product: the compiled wrapper no longer calls `_linalg_det`,
    and the stress, the one output that needs the cell volume, still equals -1/V dE/dstrain by
    finite differences of the same model's energy, on a sheared cell."""
    import zipfile

    from nequip.integrations.ase import NequIPCalculator

    with compiled[0]['compiled'].as_path() as path:
        with zipfile.ZipFile(path) as archive:
            wrappers = [archive.read(name) for name in archive.namelist() if name.endswith('.wrapper.cpp')]
        calculator = NequIPCalculator.from_compiled_model(str(path), device='cpu', chemical_species_to_atom_type_map=True)
        assert wrappers and not any(b'_linalg_det' in code for code in wrappers)
        atoms = next(lj_dataset['validation'].iter_frames()).get_atoms()
        atoms.set_cell(atoms.cell.array @ np.array([[1, 0.04, 0], [0, 1, 0.03], [0.02, 0, 1]]), scale_atoms=True)
        atoms.calc = calculator
        stress, volume, step = atoms.get_stress(voigt=False), atoms.get_volume(), 1e-3
        derivative = np.zeros((3, 3))
        for i, j in ((0, 0), (1, 1), (2, 2), (0, 1), (1, 2), (0, 2)):
            energies = []
            for sign in (1, -1):
                strained = atoms.copy()
                strain = np.eye(3)
                strain[i, j] += sign * step / (1 if i == j else 2)
                strain[j, i] += 0 if i == j else sign * step / 2
                strained.set_cell(atoms.cell.array @ strain, scale_atoms=True)
                strained.calc = calculator
                energies.append(strained.get_potential_energy())
            derivative[i, j] = derivative[j, i] = (energies[0] - energies[1]) / (2 * step) / volume
    assert np.abs(stress).max() > 1e-4  # a stress to compare, not zeros
    assert np.allclose(stress, derivative, atol=2e-3 * np.abs(stress).max() + 1e-6)


def test_validation_stores_per_system_errors_and_parity(compiled, trained, lj_dataset, tmp_path):
    from aiida_sei.calculations.functions.validation import validate_model
    from aiida_sei.science.model_errors import parity_plot

    outputs = validate_model(compiled[0]['compiled'], lj_dataset['validation'])
    errors = outputs['errors'].get_dict()
    assert set(errors) == {'Li2S', 'all'} and errors['all']['frames'] == len(lj_dataset['validation'])
    stored = trained[0]['metrics']['validation']
    assert errors['Li2S']['forces_mae'] == pytest.approx(stored['forces_mae'], rel=1e-3)
    parity = outputs['parity']
    assert len(parity.get_array('force_reference')) == 3 * lj_dataset['validation'].base.attributes.get('n_atoms_total')
    path = tmp_path / 'parity.png'
    parity_plot(parity.base.attributes.get('systems'), parity.get_array('energy_per_atom_reference'),
                parity.get_array('energy_per_atom_predicted'), parity.get_array('force_reference'),
                parity.get_array('force_predicted'), path)
    assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_plot_parity_command_finds_the_validation_of_a_model(compiled, trained, lj_dataset, tmp_path):
    from click.testing import CliRunner

    from aiida_sei.calculations.functions.validation import validate_model
    from aiida_sei.cli import cli
    from aiida_sei.queries import model_validations

    run = validate_model(compiled[0]['compiled'], lj_dataset['validation'])['errors'].creator
    model = trained[0]['model']
    assert model_validations(model)[0].pk == run.pk
    from aiida.manage import get_manager

    profile = get_manager().get_profile().name
    result = CliRunner().invoke(cli, ['--profile', profile, 'plot', 'parity', str(model.pk), '-o', str(tmp_path / 'p.png')])
    assert result.exit_code == 0, result.output
    assert 'Li2S' in result.output and (tmp_path / 'p.png').read_bytes()[:4] == b'\x89PNG'


def test_training_resumes_from_the_last_checkpoint_of_an_earlier_job(codes, trained):
    """What the walltime handler relies on: a job given `restart_folder` continues the earlier
    training (same config) from its `last.ckpt` instead of starting over."""
    first = trained[0]['model'].creator
    config = first.inputs.config.get_dict()
    config['trainer']['max_epochs'] = 5
    inputs = {k: first.inputs[k] for k in ('code', 'package_code', 'dataset', 'validation')}
    results, node = run_get_node(NequipTrainCalculation, **inputs, config=orm.Dict(config), restart_folder=first.outputs.remote_folder)
    assert node.is_finished_ok, node.exit_message
    assert list(results['learning_curve'].get_array('epoch')) == [3.0, 4.0]  # epochs 0-2 were done


def test_fine_tuning_starts_from_the_initial_models_weights_and_keeps_its_shifts(codes, trained, lj_dataset):
    """One epoch at learning rate 0 from the trained model (nequip's ModelFromPackage, what
    sei.refinement's `fine_tune` uses): its validation errors are exactly the initial model's,
    which a random start would not give, and the new package carries the model's cutoff and
    species."""
    initial = trained[0]['model']
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(
        codes, 'fast', dataset=lj_dataset['train'], validation=lj_dataset['validation'],
        overrides={'training': {'max_epochs': 1, 'learning_rate': 0.0}, 'architecture': {'cutoff_radius': 6.0}})
    builder.train.initial_model = initial
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    job = results['model'].creator
    assert job.inputs.config['training_module']['model'] == {'_target_': 'nequip.model.ModelFromPackage', 'package_path': 'initial.nequip.zip'}
    assert job.inputs.config['data']['transforms'][1]['r_max'] == initial.r_max == 4.0  # the model's cutoff, not the override's
    shifts = results['energy_shifts_used']
    assert shifts['shifts'] == initial.creator.inputs.config['training_module']['model']['per_type_energy_shifts']
    assert shifts['source'].startswith('kept from the initial model')
    assert results['model'].r_max == initial.r_max and results['model'].species == initial.species
    before, after = trained[0]['metrics']['validation'], results['metrics']['validation']
    for key in ('forces_mae', 'energy_per_atom_mae'):
        assert after[key] == pytest.approx(before[key], rel=1e-4)


def test_fine_tuning_is_refused_for_species_the_initial_model_lacks(codes, trained, tmp_path):
    import ase.io

    atoms = catalogue.build('licl')
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
    ase.io.write(tmp_path / 'licl.extxyz', [atoms, atoms], format='extxyz')
    licl = import_frames_file(tmp_path / 'licl.extxyz', is_dft=False)['dataset']
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', dataset=licl, validation=licl)
    builder.train.initial_model = trained[0]['model']
    with pytest.raises(ValueError, match='Cl, which the initial model lacks'):
        run_get_node(builder)


def test_a_fine_tuning_config_needs_its_initial_model(codes, lj_dataset, trained):
    from aiida_sei.science.allegro import training_config

    config = training_config(['Li', 'S'], AllegroTrainingWorkChain.get_protocol_inputs('fast'), fine_tune=True)
    with pytest.raises(ValueError, match='needs `initial_model`'):
        run_get_node(NequipTrainCalculation, **{**job_inputs(codes, lj_dataset), 'config': orm.Dict(config)})
    with pytest.raises(ValueError, match='needs `initial_model`'):
        run_get_node(NequipTrainCalculation, **job_inputs(codes, lj_dataset), initial_model=trained[0]['model'])


def work_chain_and_failed_job(codes, lj_dataset, exit_code, overrides=None):
    """A set-up training work chain (of the `fast` protocol) and a finished training job that
    failed with ``exit_code``; nothing is trained."""
    from aiida.engine.utils import instantiate_process
    from aiida.manage import get_manager

    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', dataset=lj_dataset['train'], validation=lj_dataset['validation'], overrides=overrides)
    process = instantiate_process(get_manager().get_runner(), builder)
    process.setup()
    failed = orm.CalcJobNode(computer=codes['train'].computer, process_type='aiida.calculations:sei.nequip_train')
    failed.set_process_state('finished')
    failed.set_exit_status(getattr(NequipTrainCalculation.exit_codes, exit_code).status)
    return process, failed


def test_nan_loss_handler_halves_the_learning_rate_down_to_its_floor(codes, lj_dataset):
    from aiida_sei.workchains.allegro import MIN_LEARNING_RATE

    process, failed = work_chain_and_failed_job(codes, lj_dataset, 'ERROR_NAN_LOSS', {'training': {'learning_rate': 1.0e8}})
    report = process.handle_nan_loss(failed)
    assert report.do_break and report.exit_code.status == 0  # train again
    assert process.ctx.inputs.config['training_module']['optimizer']['lr'] == 5.0e7
    process, failed = work_chain_and_failed_job(codes, lj_dataset, 'ERROR_NAN_LOSS', {'training': {'learning_rate': 1.5 * MIN_LEARNING_RATE}})
    report = process.handle_nan_loss(failed)
    assert report.exit_code.status == AllegroTrainingWorkChain.exit_codes.ERROR_NAN_UNRECOVERABLE.status


def test_walltime_handler_points_the_restart_at_the_failed_jobs_folder(codes, lj_dataset):
    from aiida.common.links import LinkType

    process, failed = work_chain_and_failed_job(codes, lj_dataset, 'ERROR_OUT_OF_WALLTIME')
    failed.store()
    remote = orm.RemoteData(computer=codes['train'].computer, remote_path='/scratch/somewhere')
    remote.base.links.add_incoming(failed, LinkType.CREATE, 'remote_folder')
    remote.store()
    report = process.handle_out_of_walltime(failed)
    assert report.do_break and process.ctx.inputs.restart_folder.uuid == remote.uuid


def test_query_from_a_model_back_to_the_processes_that_labelled_its_frames(trained, compiled, lj_dataset):
    from aiida_sei.queries import training_frames_processes

    model = trained[0]['model']
    (importer,) = training_frames_processes(model)
    assert importer.process_label == 'import_frames'
    assert training_frames_processes(compiled[0]['compiled'])[0].pk == importer.pk


def test_out_of_memory_handler_halves_the_batch_size(codes, lj_dataset):
    process, failed = work_chain_and_failed_job(codes, lj_dataset, 'ERROR_OUT_OF_MEMORY')
    assert process.handle_out_of_memory(failed).do_break
    config = process.ctx.inputs.config.get_dict()
    assert config['data']['train_dataloader']['batch_size'] == 2 and config['data']['val_dataloader']['batch_size'] == 2


@pytest.mark.parametrize(('case', 'files', 'exit_code'), [
    ('nan_loss', {}, 'ERROR_NAN_LOSS'),  # recorded from a real training at a learning rate of 1e8
    (None, {'train.log': 'RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB'}, 'ERROR_OUT_OF_MEMORY'),
    (None, {'train.log': ''}, 'ERROR_METRICS_MISSING'),
])
def test_parser_turns_failed_trainings_into_exit_codes(codes, lj_dataset, generate_calc_job_node, case, files, exit_code):
    """The real parser on the retrieved files of a failed training (recorded, or only a log)."""
    from aiida_sei.parsers.nequip import NequipTrainParser

    inputs = job_inputs(codes, lj_dataset)
    node = generate_calc_job_node('sei.nequip_train', case, {**inputs, 'config': inputs['config'].store()}, files)
    results, calcfunction = NequipTrainParser.parse_from_node(node, store_provenance=False)
    assert calcfunction.exit_status == getattr(NequipTrainCalculation.exit_codes, exit_code).status
    if exit_code == 'ERROR_NAN_LOSS':
        assert 'epoch 0' in calcfunction.exit_message and np.isnan(results['learning_curve'].get_array('train_loss')[0])
        assert 'model' not in results and 'metrics' not in results


def test_compiling_a_truncated_model_file_fails_with_a_clear_exit_code(codes, trained, compiled):
    """A damaged package (half the file) makes nequip-compile fail: exit 300, no node."""
    import io

    from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
    from aiida_sei.data import ModelData

    content = trained[0]['model'].get_content(mode='rb')
    damaged = ModelData(io.BytesIO(content[: len(content) // 2]), filename='model.nequip.zip')
    damaged.set_model_metadata(species=['Li', 'S'], r_max=4.0, versions={})
    compile_code = compiled[1].inputs.code
    results, node = run_get_node(NequipCompileCalculation, code=compile_code, model=damaged)
    assert node.exit_status == NequipCompileCalculation.exit_codes.ERROR_COMPILED_MISSING.status
    assert 'compiled' not in results


def test_frames_without_stress_import_and_train_on_energies_and_forces(codes, tmp_path):
    """A real training (the one this module adds for it) on frames of which some were labelled
    without stress: they import with `has_stress` false, the stress term leaves the loss instead
    of turning it NaN, and the stress errors come from the frames that have one."""
    import ase.io

    images = lj_li2s_cells(10, seed=3)
    for atoms in images[::2]:
        del atoms.calc.results['stress']  # labelled with energy and forces only
    ase.io.write(tmp_path / 'mixed.extxyz', images, format='extxyz')
    dataset = import_frames_file(tmp_path / 'mixed.extxyz', is_dft=False, backend='lj')['dataset']
    assert dataset.base.attributes.get('frames_without_stress') == 5
    parts = split(dataset, {'train': 0.8, 'validation': 0.2}, seed=1)
    builder = AllegroTrainingWorkChain.get_builder_from_protocol(codes, 'fast', dataset=parts['train'], validation=parts['validation'],
                                                                 overrides={'training': {'max_epochs': 2}})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    loss = results['model'].creator.inputs.config['training_module']['loss']
    assert loss['coeffs']['stress'] is None and loss['ignore_nan'] == {'stress': True}
    assert all(np.isfinite(value) for value in results['learning_curve'].get_array('train_loss'))
    assert np.isfinite(results['metrics']['train']['stress_mae'])  # over the 4 training frames with a stress
