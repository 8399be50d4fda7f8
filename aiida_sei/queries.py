"""Provenance queries a scientist asks of an aiida-sei profile."""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType

STRUCTURE_FUNCTIONS = ('build_structure', 'import_structure')


def _node(value) -> orm.Node:
    """A node given as itself, its pk or its uuid."""
    return value if isinstance(value, orm.Node) else orm.load_node(value)


#: UUIDs (or pks) bound in one query: few round trips at 10^4 frames, below SQLite's (32,766) and
#: PostgreSQL's (65,535) limits on bound parameters.
UUID_CHUNK = 5000


def _chunks(values, size=None):
    from aiida_sei.data.dataset import CHUNK

    values = list(values)
    for start in range(0, len(values), size or CHUNK):
        yield values[start : start + (size or CHUNK)]


def _load_sorted(node_class, pks) -> list:
    """Nodes of ``pks``, loaded in chunks with one query each, in pk order."""
    found = {}
    for chunk in _chunks(pks):
        found.update(orm.QueryBuilder().append(node_class, filters={'id': {'in': chunk}}, project=['id', '*']).all())
    return [found[pk] for pk in sorted(found)]


def structure_info(structure: orm.StructureData) -> dict:
    """The ``info`` the building calcfunction stored with ``structure`` ({} if none)."""
    creator = structure.creator
    if creator is None or 'info' not in creator.outputs:
        return {}
    return creator.outputs.info.get_dict()


def built_structures() -> list[dict]:
    """Every structure built or imported by aiida-sei: pk, kind, formula, atom count, creator."""
    qb = orm.QueryBuilder()
    qb.append(
        orm.CalcFunctionNode,
        filters={'attributes.process_label': {'in': list(STRUCTURE_FUNCTIONS)}},
        project=['id'],
        tag='calc',
    )
    qb.append(orm.StructureData, with_incoming='calc', edge_filters={'label': 'structure'}, project=['id', 'ctime'])
    qb.append(
        orm.Dict,
        with_incoming='calc',
        edge_filters={'label': 'info'},
        project=['attributes.kind', 'attributes.formula', 'attributes.n_atoms'],
    )
    qb.order_by({orm.StructureData: {'id': 'asc'}})
    keys = ('creator', 'pk', 'ctime', 'kind', 'formula', 'n_atoms')
    return [dict(zip(keys, row)) for row in qb.all()]


def _converted_calcjobs(creator_pks) -> dict[int, int]:
    """{calcfunction pk: CalcJob pk} for creators that converted a CalcJob's outputs (VASP)."""
    converted = {}
    for chunk in _chunks(sorted(creator_pks)):
        qb = orm.QueryBuilder().append(orm.CalcFunctionNode, filters={'id': {'in': chunk}}, project='id', tag='convert')
        qb.append(orm.Data, with_outgoing='convert', edge_filters={'type': LinkType.INPUT_CALC.value}, tag='input')
        qb.append(orm.CalcJobNode, with_outgoing='input', edge_filters={'type': LinkType.CREATE.value}, project='id')
        qb.order_by({orm.CalcJobNode: {'id': 'asc'}})
        for convert, job in qb.iterall():
            converted.setdefault(convert, job)
    return converted


def labelling_processes(dataset) -> list[orm.ProcessNode]:
    """The processes that labelled the frames of ``dataset``: the DFT CalcJobs (GPAW, VASP, ...)
    and, for imported frames, the import calcfunction. Answers "which DFT runs made this data".
    A calcfunction that converted a CalcJob's outputs (VASP) is replaced by that CalcJob."""
    from aiida_sei.data import FrameData

    creators = set()
    for chunk in _chunks(_node(dataset).frame_uuids, UUID_CHUNK):
        qb = orm.QueryBuilder().append(FrameData, filters={'uuid': {'in': chunk}}, tag='frame')
        qb.append(orm.ProcessNode, with_outgoing='frame', edge_filters={'type': LinkType.CREATE.value}, project='id')
        creators.update(qb.distinct().all(flat=True))  # a few creators for thousands of frames
    converted = _converted_calcjobs(creators)
    return _load_sorted(orm.ProcessNode, {converted.get(pk, pk) for pk in creators})


def model_validations(node) -> list[orm.CalcFunctionNode]:
    """The `validate_model` runs of a model: ``node`` is a compiled model or a packaged one
    (then every compiled model made from it counts), newest first."""
    from aiida_sei.data import CompiledModelData, ModelData

    if isinstance(node, ModelData):
        qb = orm.QueryBuilder().append(ModelData, filters={'id': node.pk}, tag='model')
        qb.append(orm.CalcJobNode, with_incoming='model', tag='compile')
        qb.append(CompiledModelData, with_incoming='compile', project='*')
        compiled = qb.all(flat=True)
    elif isinstance(node, CompiledModelData):
        compiled = [node]
    else:
        raise TypeError(f'expected a sei.model or sei.compiled_model, got {type(node).__name__}')
    runs = []
    for model in compiled:
        qb = orm.QueryBuilder().append(CompiledModelData, filters={'id': model.pk}, tag='compiled')
        qb.append(orm.CalcFunctionNode, with_incoming='compiled', filters={'attributes.process_label': 'validate_model'}, project='*')
        runs.extend(qb.all(flat=True))
    return sorted(runs, key=lambda n: n.ctime, reverse=True)


def training_frames_processes(model) -> list[orm.ProcessNode]:
    """Which calculations labelled the frames that trained ``model`` (a `sei.model`, or a
    `sei.compiled_model`, which is traced back to its package)."""
    from aiida_sei.data import CompiledModelData

    if isinstance(model, CompiledModelData):
        model = model.creator.inputs.model
    return labelling_processes(model.creator.inputs.dataset)


# --- models, frames, compositions and ancestry (docs/queries.md) -----------------------------

#: Links from a process up to the work chain that called it (``with_ancestors`` does not follow them).
CALL_LINKS = [LinkType.CALL_CALC.value, LinkType.CALL_WORK.value]


def packaged_model(model):
    """The `sei.model` behind ``model``: itself, or the package a `sei.compiled_model` was compiled from."""
    from aiida_sei.data import CompiledModelData, ModelData

    model = _node(model)
    if isinstance(model, CompiledModelData):
        model = model.creator.inputs.model
    if not isinstance(model, ModelData):
        raise TypeError(f'expected a sei.model or sei.compiled_model, got {type(model).__name__}')
    return model


def model_datasets(model) -> dict:
    """``{'dataset': training set, 'validation': validation set}`` a model was trained with."""
    inputs = packaged_model(model).creator.inputs
    return {label: inputs[label] for label in ('dataset', 'validation') if label in inputs}


def model_frames(model, validation: bool = False) -> list:
    """The frames (`sei.frame`) ``model`` was trained on, in dataset order; with ``validation``
    the validation frames follow."""
    datasets = model_datasets(model)
    frames = list(datasets['dataset'].iter_frames())
    if validation and 'validation' in datasets:
        frames.extend(datasets['validation'].iter_frames())
    return frames


def model_frame_uuids(model, validation: bool = False) -> list[str]:
    """UUIDs of the frames behind ``model`` (as :func:`model_frames`, without loading 10^4 nodes)."""
    datasets = model_datasets(model)
    uuids = list(datasets['dataset'].frame_uuids)
    if validation and 'validation' in datasets:
        uuids.extend(datasets['validation'].frame_uuids)
    return uuids


def model_frame_table(model, validation: bool = False) -> list[dict]:
    """The frames behind ``model`` and what labelled them, in dataset order: ``[{'uuid', 'pk',
    'labelled_by'}]``, ``labelled_by`` being the pk of the process that created the frame (the
    DFT CalcJob, or the calcfunction that imported or converted it). Three numbers a frame in
    one query per 5000 frames: at 10^4 frames a fraction of the time loading the frame nodes
    (:func:`model_frames`) takes; load the few you need with ``orm.load_node(pk)``."""
    from aiida_sei.data import FrameData

    uuids = model_frame_uuids(model, validation)
    rows = {}
    for chunk in _chunks(uuids, UUID_CHUNK):
        qb = orm.QueryBuilder().append(FrameData, filters={'uuid': {'in': chunk}}, project=['uuid', 'id'], tag='frame')
        qb.append(orm.ProcessNode, with_outgoing='frame', edge_filters={'type': LinkType.CREATE.value}, project='id')
        rows.update((uuid, {'uuid': uuid, 'pk': pk, 'labelled_by': creator}) for uuid, pk, creator in qb.iterall())
    return [rows[uuid] for uuid in uuids]


def model_labelling_processes(model, validation: bool = False) -> list[orm.ProcessNode]:
    """The calculations (DFT CalcJobs, import calcfunctions) that labelled a model's frames."""
    datasets = model_datasets(model)
    labels = ('dataset', 'validation') if validation else ('dataset',)
    found = {p.pk: p for label in labels if label in datasets for p in labelling_processes(datasets[label])}
    return [found[pk] for pk in sorted(found)]


def datasets_with_frame(frame) -> list:
    """Every `sei.dataset` that holds ``frame`` (one query on the stored frame UUIDs)."""
    from aiida_sei.data import DatasetData

    uuid = _node(frame).uuid
    qb = orm.QueryBuilder().append(DatasetData, filters={'attributes.frame_uuids': {'contains': [uuid]}}, project='*')
    return sorted(qb.all(flat=True), key=lambda node: node.pk)


def models_trained_on(frame, validation: bool = False, compiled: bool = True) -> list:
    """The models whose training set held ``frame`` (with ``validation``, also those that only
    validated on it): packaged `sei.model` nodes first, then (``compiled``) the models compiled from them."""
    from aiida_sei.data import CompiledModelData, DatasetData, ModelData

    uuid = _node(frame).uuid
    labels = ['dataset', 'validation'] if validation else ['dataset']
    qb = orm.QueryBuilder().append(DatasetData, filters={'attributes.frame_uuids': {'contains': [uuid]}}, tag='dataset')
    qb.append(orm.ProcessNode, with_incoming='dataset', edge_filters={'label': {'in': labels}}, tag='train')
    qb.append(ModelData, with_incoming='train', edge_filters={'type': LinkType.CREATE.value}, project='*', tag='model')
    models = {node.pk: node for node in qb.all(flat=True)}
    found = [models[pk] for pk in sorted(models)]
    if compiled and models:
        qb = orm.QueryBuilder().append(ModelData, filters={'id': {'in': list(models)}}, tag='model')
        qb.append(orm.ProcessNode, with_incoming='model', tag='compile')
        qb.append(CompiledModelData, with_incoming='compile', project='*')
        found.extend(sorted(qb.all(flat=True), key=lambda node: node.pk))
    return found


def _classification_of(trajectory: orm.TrajectoryData):
    """The newest `classify_trajectory` output of ``trajectory`` (None if never classified)."""
    qb = orm.QueryBuilder().append(orm.TrajectoryData, filters={'id': trajectory.pk}, tag='trajectory')
    qb.append(orm.CalcFunctionNode, with_incoming='trajectory', filters={'attributes.process_label': 'classify_trajectory'}, tag='classify')
    qb.append(orm.ArrayData, with_incoming='classify', project='*')
    qb.order_by({orm.ArrayData: {'id': 'desc'}})
    return qb.first(flat=True)


def _trajectory_and_series(node):
    """(trajectory, composition series) of a `sei.interface` work chain, a trajectory, or a series."""
    node = _node(node)
    if isinstance(node, orm.WorkflowNode):
        if 'composition' in node.outputs:
            series = node.outputs.composition
            return series.creator.inputs.trajectory, series
        calls = [c for c in node.called_descendants if getattr(c, 'process_label', None) == 'classify_trajectory' and c.is_finished_ok]
        if not calls:
            raise ValueError(f'{node.process_label}<{node.pk}> has not classified a trajectory yet')
        node = max(calls, key=lambda c: c.pk).inputs.trajectory
    if isinstance(node, orm.TrajectoryData):
        series = _classification_of(node)
        if series is None:
            raise ValueError(f'trajectory<{node.pk}> was never classified (classify_trajectory)')
        return node, series
    if isinstance(node, orm.ArrayData) and node.creator is not None and node.creator.process_label == 'classify_trajectory':
        return node.creator.inputs.trajectory, node
    raise TypeError(f'expected a sei.interface work chain, a trajectory or its composition, got {type(node).__name__}')


def composition_over_time(node) -> list[dict]:
    """Phase fractions of every frame of a run, in time order: ``[{'step', 'time', 'fractions':
    {label: {'core', 'non_core'}}}]``. ``node``: a `sei.interface` work chain, its production
    trajectory, or the trajectory's composition; times come from the trajectory (step numbers
    when it has none)."""
    from aiida_sei.calculations.functions.classification import composition_from_series

    trajectory, series = _trajectory_and_series(node)
    times = trajectory.get_times() if 'times' in trajectory.get_arraynames() else None
    times = series.get_array('time') if times is None else times
    fractions = composition_from_series(series)
    return [
        {
            'step': step,
            'time': float(times[step]),
            'fractions': {label: {part: float(values[step]) for part, values in parts.items()} for label, parts in fractions.items()},
        }
        for step in range(len(times))
    ]


#: Links along which a node depends on what came before it (AiiDA's data provenance: what
#: ``with_descendants`` follows): a calculation's inputs, and the calculation that created a data node.
PROVENANCE_LINKS = [LinkType.CREATE.value, LinkType.INPUT_CALC.value]


def upstream_pks(node) -> set[int]:
    """Pks of every node ``node`` depends on along :data:`PROVENANCE_LINKS`, breadth first: one
    query per generation, each node visited once. (AiiDA's recursive ``with_descendants`` query
    walks every path instead, and a growing dataset is a chain of diamonds: on the demo's 1,300
    nodes it ran for minutes without an answer.)"""
    seen = frontier = {_node(node).pk}
    while frontier:
        parents = set()
        for chunk in _chunks(sorted(frontier), UUID_CHUNK):
            qb = orm.QueryBuilder().append(orm.Node, filters={'id': {'in': chunk}}, tag='child')
            qb.append(orm.Node, with_outgoing='child', edge_filters={'type': {'in': PROVENANCE_LINKS}}, project='id')
            parents.update(qb.all(flat=True))
        frontier = parents - seen
        seen = seen | frontier
    return seen


def ancestor_process_pks(node) -> set[int]:
    """Pks of every process ``node`` depends on (see :func:`ancestor_processes`): the processes
    upstream along CREATE/INPUT links (:func:`upstream_pks`), then the work chains that called any
    of them, caller after caller."""
    node = _node(node)
    upstream = sorted(upstream_pks(node) - {node.pk})
    found = set()
    for chunk in _chunks(upstream, UUID_CHUNK):
        found.update(orm.QueryBuilder().append(orm.ProcessNode, filters={'id': {'in': chunk}}, project='id').all(flat=True))
    called = set(found)
    while called:
        qb = orm.QueryBuilder().append(orm.ProcessNode, filters={'id': {'in': sorted(called)}}, tag='called')
        qb.append(orm.WorkflowNode, with_outgoing='called', edge_filters={'type': {'in': CALL_LINKS}}, project='id')
        called = set(qb.all(flat=True)) - found
        found |= called
    found.discard(node.pk)
    return found


def ancestor_processes(node) -> list[orm.ProcessNode]:
    """Every process a node (a figure, a model, a composition) depends on, in pk order: the
    calculations that created it and its inputs, all the way up, and the work chains that called
    any of them (``with_ancestors`` does not follow CALL links, this does)."""
    return _load_sorted(orm.ProcessNode, ancestor_process_pks(node))


def _uuid_references(node) -> list[str]:
    """UUIDs ``node`` refers to in its attributes: a dataset's frames, a model's training set,
    a compiled model's package."""
    attributes = node.base.attributes
    return [*attributes.get('frame_uuids', []), *(attributes.get(key) for key in ('dataset_uuid', 'package_uuid') if attributes.get(key, None))]


def archive_entities(node) -> list[orm.Node]:
    """``node`` and every node its provenance refers to by UUID only, for ``create_archive``.

    Datasets name their frames, and models their training set, by UUID. A step that AiiDA's
    cache replays gets copies of the original outputs, which name the original run's frames: the
    links of the replay reach frames equal to them, not them. Without those an imported archive
    fails at the first ``iter_frames``.
    """
    from aiida_sei.data import DatasetData, ModelData

    node = _node(node)
    processes = [node.pk, *(process.pk for process in getattr(node, 'called_descendants', []))]
    pending = {}
    for chunk in _chunks(processes, UUID_CHUNK):
        for relation in ('with_incoming', 'with_outgoing'):
            query = orm.QueryBuilder().append(orm.ProcessNode, filters={'id': {'in': chunk}}, tag='process')
            query.append((DatasetData, ModelData), **{relation: 'process'}, project=['uuid', '*'])
            pending.update(query.all())
    entities, seen = {node.uuid: node}, set(pending)
    while pending:
        wanted = sorted({uuid for holder in pending.values() for uuid in _uuid_references(holder)} - seen)
        seen.update(wanted)
        pending = {}
        for chunk in _chunks(wanted, UUID_CHUNK):
            for uuid, found in orm.QueryBuilder().append(orm.Node, filters={'uuid': {'in': chunk}}, project=['uuid', '*']).all():
                entities[uuid] = found
                if isinstance(found, (DatasetData, ModelData)):
                    pending[uuid] = found
        if missing := [uuid for uuid in wanted if uuid not in entities]:
            raise ValueError(f'{len(missing)} node(s) the run refers to are not in this profile (deleted?), e.g. {missing[0]}: '
                             'its archive could not be read back')
    return list(entities.values())


def export_run(node, filename) -> None:
    """The AiiDA archive of a run: its provenance and the nodes it refers to by UUID only
    (:func:`archive_entities`). The calculations that made those come along, not the workflows
    that called them: they belong to the run that was replayed (one stopped half-way cannot be
    exported at all)."""
    from aiida.tools.archive import create_archive

    create_archive(archive_entities(node), filename=filename, overwrite=True, call_calc_backward=False, call_work_backward=False)
