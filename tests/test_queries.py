"""The provenance questions of aiida_sei.queries, and `verdi data sei`, on a small real run:
Lennard-Jones labels through sei.label, imported frames, dataset calcfunctions, a stand-in
training and compile under a work chain, a classified trajectory and a figure made from it."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from aiida import orm
from aiida.engine import WorkChain, calcfunction, run_get_node

from aiida_sei import queries
from aiida_sei.data import CompiledModelData, DatasetData, ModelData
from tests.allegro_fixtures import lennard_jones_cells

MODEL_BYTES = b'stand-in packaged model'
COMPILED_BYTES = b'stand-in compiled model'


@calcfunction
def train_model(dataset: DatasetData, validation: DatasetData) -> ModelData:
    """Stand-in for sei.nequip_train (same link labels): a model file made from the datasets."""
    model = ModelData(io.BytesIO(MODEL_BYTES), filename='model.nequip.zip')
    model.set_model_metadata(dataset.elements, 5.0, {}, dataset_uuid=dataset.uuid)
    return model


@calcfunction
def compile_model(model: ModelData) -> CompiledModelData:
    """Stand-in for sei.nequip_compile (same link label ``model``)."""
    return CompiledModelData(io.BytesIO(COMPILED_BYTES), filename='model.nequip.pt2')


@calcfunction
def plot_composition(composition: orm.ArrayData) -> orm.SinglefileData:
    """A figure as a node: the composition series plotted (Fig. 4c)."""
    import tempfile

    from aiida_sei.calculations.functions.classification import composition_from_series
    from aiida_sei.science.plots import composition_series

    with tempfile.TemporaryDirectory() as directory:
        path = f'{directory}/composition.png'
        composition_series(composition.get_array('time'), composition_from_series(composition), path)
        with open(path, 'rb') as handle:
            return orm.SinglefileData(io.BytesIO(handle.read()), filename='composition.png')


class TrainAndCompile(WorkChain):
    """Orchestrates the stand-ins, so the model has CALL links to a work chain as a real run has."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('dataset', valid_type=DatasetData)
        spec.input('validation', valid_type=DatasetData)
        spec.output('model', valid_type=ModelData)
        spec.output('compiled', valid_type=CompiledModelData)
        spec.outline(cls.train_and_compile)

    def train_and_compile(self):
        model = train_model(self.inputs.dataset, self.inputs.validation)
        self.out('model', model)
        self.out('compiled', compile_model(model))


def lj_cells(count: int, seed: int):
    """Rattled 16-atom BCC Li cells with Lennard-Jones labels (energy, forces, stress)."""
    from aiida_sei.science import crystals

    return lennard_jones_cells(lambda: crystals.bcc_li(supercell=(2, 2, 2)), count, seed)


def rattled(atoms, seed: int):
    """A copy with every atom moved a little (a perfect crystal has one environment only)."""
    atoms = atoms.copy()
    atoms.positions += np.random.default_rng(seed).normal(0, 0.08, atoms.positions.shape)
    return atoms


def build_run(code, directory) -> dict:
    """A small run with every kind of provenance the queries follow; its nodes by role."""
    import ase.io

    from aiida_sei.calculations.functions.classification import classify_trajectory, cluster_environments, label_clustering, reference_inputs
    from aiida_sei.calculations.functions.dataset import create_dataset, frame_inputs, import_frames_file, split
    from aiida_sei.science import crystals
    from aiida_sei.workchains.label import LabelWorkChain

    labels = []
    for atoms in lj_cells(1, seed=1):  # one label job: the CalcJob path (each costs ~20 s)
        results, node = run_get_node(LabelWorkChain.get_builder_from_protocol(code, 'fast', {'backend': 'ase'}, structure=orm.StructureData(ase=atoms)))
        assert node.is_finished_ok, node.exit_message
        labels.append(node)
    path = directory / 'imported.extxyz'
    ase.io.write(path, lj_cells(4, seed=2), format='extxyz')
    imported = import_frames_file(path, origin='imported', backend='lennard-jones', is_dft=False)
    frames = [node.outputs.frame for node in labels] + list(imported['dataset'].iter_frames())
    dataset = create_dataset(**frame_inputs(frames))
    halves = split(dataset, {'train': 0.5, 'validation': 0.5}, seed=3)
    _, training = run_get_node(TrainAndCompile, dataset=halves['train'], validation=halves['validation'])
    left_out = import_frames_file(path, origin='imported', is_dft=False)['dataset']  # in no training set

    li, licl = rattled(crystals.bcc_li(supercell=(2, 2, 2)), 4), rattled(crystals.licl(supercell=(2, 2, 2)), 5)
    clustering = cluster_environments(orm.Dict({'n_components': 5}), a=orm.StructureData(ase=li), b=orm.StructureData(ase=licl))
    labelled = label_clustering(clustering, **reference_inputs({'Li': [orm.StructureData(ase=li)], 'LiCl': [orm.StructureData(ase=licl)]}))
    trajectory = orm.TrajectoryData([orm.StructureData(ase=rattled(licl, seed)) for seed in (10, 11, 12)])
    trajectory.set_array('times', np.array([0.0, 0.5, 1.0]))
    composition = classify_trajectory(labelled, trajectory)
    return {
        'labels': labels, 'import': imported['dataset'].creator, 'frames': frames, 'dataset': dataset, 'halves': halves,
        'training': training, 'model': training.outputs.model, 'compiled': training.outputs.compiled,
        'left_out_frame': next(left_out.iter_frames()), 'trajectory': trajectory, 'composition': composition,
        'figure': plot_composition(composition),
    }


@pytest.fixture(scope='module')
def python_code(aiida_profile, tmp_path_factory):
    """The `python` code of `aiida-sei setup`, in a storage emptied once for this module."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost

    aiida_profile.reset_storage()
    ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), echo=lambda _: None), echo=lambda _: None)
    return orm.load_code('python@localhost')


@pytest.fixture(scope='module')
def run(python_code, tmp_path_factory):
    return build_run(python_code, tmp_path_factory.mktemp('run'))


def uuids(nodes) -> list[str]:
    return [node.uuid for node in nodes]


def test_frames_behind_a_compiled_model_are_its_training_set(run):
    train, validation = run['halves']['train'], run['halves']['validation']
    assert uuids(queries.model_frames(run['compiled'])) == train.frame_uuids
    assert uuids(queries.model_frames(run['model'], validation=True)) == train.frame_uuids + validation.frame_uuids
    assert queries.packaged_model(run['compiled'].pk).uuid == run['model'].uuid
    assert queries.model_frame_uuids(run['compiled'], validation=True) == train.frame_uuids + validation.frame_uuids


def test_frame_table_of_a_model_names_each_frame_and_its_creator(run):
    frames = {frame.uuid: frame for frame in run['frames']}
    table = queries.model_frame_table(run['compiled'], validation=True)
    expected = run['halves']['train'].frame_uuids + run['halves']['validation'].frame_uuids
    assert [row['uuid'] for row in table] == expected
    assert [(row['pk'], row['labelled_by']) for row in table] == [(frames[u].pk, frames[u].creator.pk) for u in expected]


def test_labelling_calculations_of_a_model_are_the_label_jobs_and_the_import(run):
    frames = {frame.uuid: frame for frame in run['frames']}
    expected = {frames[uuid].creator.pk for uuid in run['halves']['train'].frame_uuids}
    found = queries.model_labelling_processes(run['compiled'])
    assert {node.pk for node in found} == expected
    both = {node.pk for node in queries.model_labelling_processes(run['compiled'], validation=True)}
    job_pks = {label.outputs.frame.creator.pk for label in run['labels']}
    assert both == job_pks | {run['import'].pk}
    assert all(isinstance(orm.load_node(pk), orm.CalcJobNode) for pk in job_pks)


def test_models_trained_on_a_frame(run):
    train, validation = run['halves']['train'], run['halves']['validation']
    in_training = orm.load_node(train.frame_uuids[0])
    assert uuids(queries.models_trained_on(in_training)) == [run['model'].uuid, run['compiled'].uuid]
    assert queries.models_trained_on(in_training.pk, compiled=False) == [run['model']]
    only_validated = orm.load_node(validation.frame_uuids[0])
    assert queries.models_trained_on(only_validated) == []
    assert uuids(queries.models_trained_on(only_validated, validation=True)) == [run['model'].uuid, run['compiled'].uuid]
    assert queries.models_trained_on(run['left_out_frame']) == []
    holding = set(uuids(queries.datasets_with_frame(in_training)))
    assert {run['dataset'].uuid, train.uuid} <= holding and validation.uuid not in holding
    every = orm.QueryBuilder().append(DatasetData, project='*').all(flat=True)
    assert holding == {node.uuid for node in every if in_training.uuid in node.frame_uuids}


def test_composition_over_time_from_the_trajectory_or_its_series(run):
    rows = queries.composition_over_time(run['trajectory'])
    assert [row['time'] for row in rows] == [0.0, 0.5, 1.0]
    for row in rows:
        assert sum(part for parts in row['fractions'].values() for part in parts.values()) == pytest.approx(1.0)
    assert all(sum(row['fractions']['LiCl'].values()) > 0.5 for row in rows)  # LiCl frames: mostly LiCl
    assert queries.composition_over_time(run['composition'].pk) == rows


def test_ancestry_of_a_figure_reaches_labels_and_their_work_chains(run):
    ancestry = {node.pk for node in queries.ancestor_processes(run['figure'])}
    assert run['composition'].creator.pk in ancestry and run['figure'].creator.pk in ancestry
    assert run['labels'][0].pk not in ancestry  # the figure does not depend on the training data

    of_model = {node.pk for node in queries.ancestor_processes(run['compiled'])}
    assert run['training'].pk in of_model  # reached through a CALL link only
    for label in run['labels']:
        assert label.pk in of_model and label.outputs.frame.creator.pk in of_model
        assert {called.pk for called in label.called_descendants} <= of_model
    assert run['import'].pk in of_model
    with_ancestors = orm.QueryBuilder().append(orm.Node, filters={'id': run['compiled'].pk}, tag='model')
    with_ancestors.append(orm.WorkflowNode, with_descendants='model', project='id')
    assert run['training'].pk not in with_ancestors.all(flat=True)  # why the query exists


@pytest.fixture(scope='module')
def verdi(run):
    from click.testing import CliRunner

    from aiida_sei.cli.data import data_sei

    def invoke(*args):
        result = CliRunner().invoke(data_sei, [str(arg) for arg in args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output
    return invoke


def test_verdi_model_list_show_export(run, verdi, tmp_path):
    listed = verdi('model', 'list')
    assert str(run['model'].pk) in listed and str(run['compiled'].pk) in listed
    shown = json.loads(verdi('model', 'show', run['compiled'].pk))
    assert shown['package'] == run['model'].pk and shown['training_frames'] == len(run['halves']['train'])
    verdi('model', 'export', run['compiled'].pk, '-o', tmp_path / 'model.pt2')
    assert (tmp_path / 'model.pt2').read_bytes() == COMPILED_BYTES


def test_verdi_dataset_list(run, verdi):
    lines = verdi('dataset', 'list').splitlines()
    row = next(line for line in lines if line.split()[0] == str(run['dataset'].pk))
    assert row.split()[1] == str(len(run['frames']))


def test_verdi_trajectory_list_show_export(run, verdi, tmp_path):
    import ase.io

    assert str(run['trajectory'].pk) in verdi('trajectory', 'list')
    shown = json.loads(verdi('trajectory', 'show', run['trajectory'].pk))
    assert shown['frames'] == 3 and shown['compositions'] == [run['composition'].pk]
    verdi('trajectory', 'export', run['trajectory'].pk, '-o', tmp_path / 'run.extxyz')
    written = ase.io.read(tmp_path / 'run.extxyz', index=':')
    assert [len(atoms) for atoms in written] == [len(s) for s in (run['trajectory'].get_step_structure(i).sites for i in range(3))]


def test_verdi_composition_show_and_export(run, verdi, tmp_path):
    assert str(run['composition'].pk) in verdi('composition', 'list')
    shown = json.loads(verdi('composition', 'show', run['composition'].pk))
    assert shown['frames'] == 3 and shown['trajectory'] == run['trajectory'].pk
    verdi('composition', 'export', run['composition'].pk, '-o', tmp_path / 'composition.json', '--plot', tmp_path / 'composition.png')
    exported = json.loads((tmp_path / 'composition.json').read_text())
    assert exported == json.loads(json.dumps(queries.composition_over_time(run['composition'])))
    assert (tmp_path / 'composition.png').read_bytes()[:4] == b'\x89PNG'
