"""Provenance queries a scientist asks of an aiida-sei profile."""

from __future__ import annotations

from aiida import orm
from aiida.common.links import LinkType

STRUCTURE_FUNCTIONS = ('build_structure', 'import_structure')


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


def _labelling_process(creator: orm.ProcessNode) -> orm.ProcessNode:
    """The calculation behind a frame's creator: a calcfunction that converted a CalcJob's
    outputs (VASP) is replaced by that CalcJob; an import calcfunction stays itself."""
    if isinstance(creator, orm.CalcFunctionNode):
        for node in creator.base.links.get_incoming(link_type=LinkType.INPUT_CALC).all_nodes():
            if isinstance(node.creator, orm.CalcJobNode):
                return node.creator
    return creator


def labelling_processes(dataset) -> list[orm.ProcessNode]:
    """The processes that labelled the frames of ``dataset``: the DFT CalcJobs (GPAW, VASP, ...)
    and, for imported frames, the import calcfunction. Answers "which DFT runs made this data"."""
    from aiida_sei.data import FrameData
    from aiida_sei.data.dataset import CHUNK

    uuids, found = dataset.frame_uuids, {}
    for start in range(0, len(uuids), CHUNK):
        qb = orm.QueryBuilder()
        qb.append(FrameData, filters={'uuid': {'in': uuids[start : start + CHUNK]}}, tag='frame')
        qb.append(orm.ProcessNode, with_outgoing='frame', edge_filters={'type': 'create'}, project='*')
        for (creator,) in qb.iterall():
            process = _labelling_process(creator)
            found.setdefault(process.pk, process)
    return [found[pk] for pk in sorted(found)]


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
