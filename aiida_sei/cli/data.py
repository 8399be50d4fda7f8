"""`verdi data sei ...`: the plugin's nodes from verdi (entry point group aiida.cmdline.data)."""

from __future__ import annotations

import json
import pathlib

import click
from aiida.cmdline.params import types
from aiida.cmdline.utils import decorators

from aiida_sei.data.frame import IMPORT_DEFAULTS

STRUCTURE = types.DataParamType(sub_classes=('aiida.data:core.structure',))


def process_tag(process) -> str | None:
    """``Label<pk>`` of a process, as `verdi process list` names it (None without one)."""
    return None if process is None else f'{process.process_label}<{process.pk}>'


@click.group('sei')
def data_sei():
    """aiida-sei nodes: structures, datasets, models, trajectories and SEI compositions."""


@data_sei.command('check')
@decorators.with_dbenv()
def check():
    """Check every frame and dataset of the profile (after `verdi archive import` of an archive
    you did not make): values, shapes, species, array hashes, frames a dataset names."""
    from aiida_sei.integrity import problems

    found = list(problems())
    for line in found:
        click.echo(line)
    if found:
        raise click.ClickException(f'{len(found)} problem(s): do not train on or export these nodes')
    click.echo('every sei frame and dataset is what it claims')


@data_sei.group('structure')
def structure():
    """Structures built or imported by aiida-sei."""


@structure.command('list')
@decorators.with_dbenv()
def structure_list():
    """List the structures aiida-sei built or imported."""
    from aiida_sei.queries import built_structures

    rows = built_structures()
    click.echo(f'{"PK":>6}  {"kind":12s} {"formula":26s} {"atoms":>7}  created')
    for row in rows:
        click.echo(f'{row["pk"]:>6}  {row["kind"]:12s} {row["formula"]:26s} {row["n_atoms"]:>7}  {row["ctime"]:%Y-%m-%d %H:%M}')
    if not rows:
        click.echo('no structures yet: `aiida-sei structure --help`')


@structure.command('show')
@click.argument('node', type=STRUCTURE)
@decorators.with_dbenv()
def structure_show(node):
    """Show what aiida-sei recorded about a structure (builder, parameters, mismatch)."""
    from aiida_sei.queries import structure_info

    creator = node.creator
    report = {
        'pk': node.pk,
        'formula': node.get_formula(mode='hill'),
        'cell_lengths': list(node.cell_lengths),
        'created_by': process_tag(creator),
        'parameters': creator.inputs.parameters.get_dict() if creator is not None and 'parameters' in creator.inputs else None,
        'info': structure_info(node),
    }
    click.echo(json.dumps(report, indent=2, default=str))


@structure.command('export')
@click.argument('node', type=STRUCTURE)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='.extxyz/.xyz, .cif, ...')
@decorators.with_dbenv()
def structure_export(node, output):
    """Write a structure to a file."""
    from aiida_sei.science.catalogue import write

    write(node.get_ase(), output)
    click.echo(f'written: {output}')


DATASET = types.DataParamType(sub_classes=('aiida.data:sei.dataset',))


@data_sei.group('dataset')
def dataset():
    """Datasets of labelled frames."""


@dataset.command('import')
@click.argument('path', type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.option('--format', 'fmt', help='ASE format (default: vasprun.xml and OUTCAR by content, others by name; vasp-xml, vasp-out, extxyz, ...).')
@click.option('--system', help='System of every frame (default: guessed from each composition).')
@click.option('--origin', default=IMPORT_DEFAULTS['origin'], show_default=True, help='Origin recorded on every frame.')
@click.option('--backend', help='What labelled the frames (vasp, gpaw, ...).')
@click.option('--dft/--not-dft', 'is_dft', default=IMPORT_DEFAULTS['is_dft'], show_default=True, help='Whether the labels are DFT.')
@click.option('--allow-truncated', is_flag=True, help='Import the complete ionic steps of a VASP file that was cut off (marked source_complete=false).')
@click.option('--allow-unconverged', is_flag=True, help='Import VASP steps whose SCF stopped at NELM (marked converged=false; their forces are wrong).')
@click.option('--settings-label', help='Your name for the level of theory of a file that does not record it (extxyz), e.g. "PBE 500 eV, Smith 2024"; part of the frames\' settings hash.')
@decorators.with_dbenv()
def dataset_import(path, fmt, system, origin, backend, is_dft, allow_truncated, allow_unconverged, settings_label):
    """Import frames labelled outside AiiDA (extxyz, FLARE _dft.xyz, vasprun.xml, OUTCAR)."""
    from aiida_sei.calculations.functions.dataset import import_frames_file
    from aiida_sei.science.frames import FrameError

    metadata = {'origin': origin, 'is_dft': is_dft}
    options = {'format': fmt, 'system': system, 'backend': backend, 'allow_truncated': allow_truncated,
               'allow_unconverged': allow_unconverged, 'settings_label': settings_label}
    metadata.update({k: v for k, v in options.items() if v})
    try:
        result = import_frames_file(path, **metadata)
    except (FrameError, ValueError) as exception:
        raise click.ClickException(str(exception)) from None
    node = result['dataset']
    flagged = {key: node.base.attributes.get(key) for key in ('unconverged_frames', 'from_truncated_files', 'frames_without_stress')
               if node.base.attributes.get(key)}
    click.echo(f'dataset<{node.pk}>: {len(node)} frames from {path} {node.base.attributes.get("systems")}' + (f'; flagged: {flagged}' if flagged else ''))


def labellers(dataset) -> dict[str, int]:
    """Frames per labeller (backend, and whether DFT) of ``dataset``."""
    from collections import Counter

    from aiida import orm

    from aiida_sei.data import FrameData

    rows = orm.QueryBuilder().append(FrameData, filters={'uuid': {'in': dataset.frame_uuids}},
                                     project=['attributes.backend', 'attributes.is_dft']).all()
    return dict(Counter(f'{backend or "unknown"} ({"DFT" if is_dft else "not DFT"})' for backend, is_dft in rows))


@dataset.command('show')
@click.argument('node', type=DATASET)
@decorators.with_dbenv()
def dataset_show(node):
    """Frames, systems and elements of a dataset, and what made it."""
    attributes = node.base.attributes
    report = {
        'pk': node.pk,
        'frames': len(node),
        'atoms': attributes.get('n_atoms_total'),
        'systems': attributes.get('systems'),
        'elements': node.elements,
        'all_dft': attributes.get('all_dft'),
        'labelled_by': labellers(node),
        'unconverged_frames': attributes.get('unconverged_frames', None),
        'levels_of_theory': len(set(attributes.get('theories', None) or {}) - {'unknown'}),
        'created_by': process_tag(node.creator),
    }
    click.echo(json.dumps(report, indent=2))


@dataset.command('export')
@click.argument('node', type=DATASET)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='extxyz file to write.')
@decorators.with_dbenv()
def dataset_export(node, output):
    """Write a dataset as extxyz (energy, forces, stress), the format nequip reads."""
    from aiida_sei.science.frames import FrameError, write_extxyz

    try:
        frames = [frame.get_frame() for frame in node.iter_frames()]
    except FrameError as exception:
        raise click.ClickException(f'{exception}; nothing written (`verdi data sei check` lists every such node)') from None
    write_extxyz(frames, output)
    click.echo(f'written: {output} ({len(node)} frames)')


@dataset.command('list')
@decorators.with_dbenv()
def dataset_list():
    """List the datasets: frames, atoms, systems and what made each."""
    from aiida import orm

    from aiida_sei.data import DatasetData

    qb = orm.QueryBuilder().append(DatasetData, project=['id', 'attributes.n_frames', 'attributes.n_atoms_total', 'attributes.systems', 'ctime'], tag='dataset')
    # the creator only: a dataset a work chain returns has a RETURN link too, and would be listed twice
    qb.append(orm.ProcessNode, with_outgoing='dataset', edge_filters={'type': 'create'}, project='attributes.process_label', outerjoin=True)
    qb.order_by({DatasetData: {'id': 'asc'}})
    click.echo(f'{"PK":>6} {"frames":>7} {"atoms":>8}  {"created":16s}  {"created by":24s} systems')
    for pk, frames, atoms, systems, ctime, creator in qb.all():
        creator = creator or '-'
        creator = creator if len(creator) <= 24 else creator[:23] + '…'  # long names would shift the columns
        click.echo(f'{pk:>6} {frames:>7} {atoms:>8}  {ctime:%Y-%m-%d %H:%M}  {creator:24s} {json.dumps(systems)}')


MODEL = types.DataParamType(sub_classes=('aiida.data:sei.model', 'aiida.data:sei.compiled_model'))


@data_sei.group('model')
def model():
    """Packaged (sei.model) and compiled (sei.compiled_model) potentials."""


@model.command('list')
@decorators.with_dbenv()
def model_list():
    """List packaged and compiled models with their species and training set size."""
    from aiida import orm

    from aiida_sei.data import CompiledModelData, ModelData

    qb = orm.QueryBuilder().append((ModelData, CompiledModelData), project=['*'])
    click.echo(f'{"PK":>6}  {"type":9s} {"target":13s} {"species":18s} created')
    for node in sorted(qb.all(flat=True), key=lambda n: n.pk):
        kind = 'compiled' if isinstance(node, CompiledModelData) else 'package'
        target = node.base.attributes.get('target', '-') or '-'
        species = ','.join(node.base.attributes.get('species', []) or [])
        click.echo(f'{node.pk:>6}  {kind:9s} {target:13s} {species:18s} {node.ctime:%Y-%m-%d %H:%M}')


@model.command('show')
@click.argument('node', type=MODEL)
@decorators.with_dbenv()
def model_show(node):
    """A model's metadata, its package and training data, and the calculations that labelled them."""
    from aiida_sei import queries

    package = queries.packaged_model(node)
    datasets = queries.model_datasets(package) if package.creator is not None else {}
    report = {
        'pk': node.pk,
        'type': node.__class__.__name__,
        'file': node.filename,
        'attributes': {k: v for k, v in node.base.attributes.all.items() if k not in ('filename',)},
        'package': package.pk,
        'trained_by': process_tag(package.creator),
        'training_set': datasets['dataset'].pk if 'dataset' in datasets else None,
        'training_frames': len(datasets['dataset']) if 'dataset' in datasets else None,
        'validation_frames': len(datasets['validation']) if 'validation' in datasets else None,
        'labelled_by': [process_tag(p) for p in queries.model_labelling_processes(package)] if datasets else [],
    }
    click.echo(json.dumps(report, indent=2, default=str))


@model.command('export')
@click.argument('node', type=MODEL)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='File to write (.nequip.zip, .nequip.pt2).')
@decorators.with_dbenv()
def model_export(node, output):
    """Write the model file (the package, or the compiled model) byte for byte."""
    output.write_bytes(node.get_content(mode='rb'))
    click.echo(f'written: {output} ({output.stat().st_size} bytes)')


TRAJECTORY = types.DataParamType(sub_classes=('aiida.data:core.array.trajectory',))


@data_sei.group('trajectory')
def trajectory():
    """MD trajectories (production LAMMPS runs, refinement MD)."""


@trajectory.command('list')
@decorators.with_dbenv()
def trajectory_list():
    """List trajectories: frames, atoms and the process that made each."""
    from aiida import orm

    qb = orm.QueryBuilder().append(orm.TrajectoryData, project='*').order_by({orm.TrajectoryData: {'id': 'asc'}})
    click.echo(f'{"PK":>6} {"frames":>7} {"atoms":>7}  {"created":16s}  created by')
    for node in qb.all(flat=True):
        creator = process_tag(node.creator) or '-'
        click.echo(f'{node.pk:>6} {node.numsteps:>7} {len(node.symbols):>7}  {node.ctime:%Y-%m-%d %H:%M}  {creator}')


def _compositions_of(node) -> list[int]:
    from aiida import orm

    qb = orm.QueryBuilder().append(orm.TrajectoryData, filters={'id': node.pk}, tag='trajectory')
    qb.append(orm.CalcFunctionNode, with_incoming='trajectory', filters={'attributes.process_label': 'classify_trajectory'}, tag='classify')
    qb.append(orm.ArrayData, with_incoming='classify', project='id')
    return sorted(qb.all(flat=True))


@trajectory.command('show')
@click.argument('node', type=TRAJECTORY)
@decorators.with_dbenv()
def trajectory_show(node):
    """Frames, atoms, time span, creator and the compositions classified from a trajectory."""
    times = node.get_times() if 'times' in node.get_arraynames() else None
    report = {
        'pk': node.pk,
        'frames': node.numsteps,
        'atoms': len(node.symbols),
        'formula': node.get_step_structure(0).get_formula(mode='hill') if node.numsteps else None,
        'time': None if times is None else [float(times[0]), float(times[-1])],
        'created_by': process_tag(node.creator),
        'compositions': _compositions_of(node),
    }
    click.echo(json.dumps(report, indent=2))


@trajectory.command('export')
@click.argument('node', type=TRAJECTORY)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='extxyz file to write.')
@decorators.with_dbenv()
def trajectory_export(node, output):
    """Write every frame of a trajectory as extxyz (with its time when known)."""
    import ase.io

    times = node.get_times() if 'times' in node.get_arraynames() else None
    frames = []
    for step in range(node.numsteps):
        atoms = node.get_step_structure(step).get_ase()
        if times is not None:
            atoms.info['time'] = float(times[step])
        frames.append(atoms)
    ase.io.write(output, frames, format='extxyz')
    click.echo(f'written: {output} ({len(frames)} frames)')


COMPOSITION = types.DataParamType(sub_classes=('aiida.data:core.array',))


def _composition(node):
    if node.creator is None or node.creator.process_label != 'classify_trajectory':
        raise click.BadParameter(f'{node.__class__.__name__}<{node.pk}> is not a composition (an output of classify_trajectory)')
    return node


@data_sei.group('composition')
def composition():
    """Phase fractions of every frame of a trajectory (classify_trajectory outputs, Fig. 4c)."""


@composition.command('list')
@decorators.with_dbenv()
def composition_list():
    """List the composition series and their trajectories."""
    from aiida import orm

    qb = orm.QueryBuilder().append(orm.TrajectoryData, project='id', tag='trajectory')
    qb.append(orm.CalcFunctionNode, with_incoming='trajectory', filters={'attributes.process_label': 'classify_trajectory'}, tag='classify')
    qb.append(orm.ArrayData, with_incoming='classify', project=['id', 'attributes.labels', 'ctime'])
    qb.order_by({orm.ArrayData: {'id': 'asc'}})
    click.echo(f'{"PK":>6} {"trajectory":>10}  {"created":16s}  labels')
    for trajectory_pk, pk, labels, ctime in qb.all():
        click.echo(f'{pk:>6} {trajectory_pk:>10}  {ctime:%Y-%m-%d %H:%M}  {",".join(labels or [])}')


@composition.command('show')
@click.argument('node', type=COMPOSITION)
@decorators.with_dbenv()
def composition_show(node):
    """The trajectory, labels and the first and last frames' phase fractions."""
    from aiida_sei.queries import composition_over_time

    rows = composition_over_time(_composition(node))
    report = {
        'pk': node.pk,
        'trajectory': node.creator.inputs.trajectory.pk,
        'frames': len(rows),
        'labels': node.base.attributes.get('labels'),
        'first': rows[0] if rows else None,
        'last': rows[-1] if rows else None,
    }
    click.echo(json.dumps(report, indent=2))


@composition.command('export')
@click.argument('node', type=COMPOSITION)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='JSON file: one row per frame.')
@click.option('--plot', type=click.Path(dir_okay=False, path_type=pathlib.Path), help='Also plot the series (PNG).')
@decorators.with_dbenv()
def composition_export(node, output, plot):
    """Write the phase fractions per frame as JSON (step, time, fractions), and optionally a plot."""
    from aiida_sei.calculations.functions.classification import composition_from_series
    from aiida_sei.queries import composition_over_time

    rows = composition_over_time(_composition(node))
    output.write_text(json.dumps(rows, indent=1))
    click.echo(f'written: {output} ({len(rows)} frames)')
    if plot:
        from aiida_sei.science.plots import composition_series

        composition_series([row['time'] for row in rows], composition_from_series(node), plot)
        click.echo(f'written: {plot}')
