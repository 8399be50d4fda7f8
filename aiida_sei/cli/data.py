"""`verdi data sei ...`: the plugin's nodes from verdi (entry point group aiida.cmdline.data)."""

from __future__ import annotations

import json
import pathlib

import click
from aiida.cmdline.params import types
from aiida.cmdline.utils import decorators

STRUCTURE = types.DataParamType(sub_classes=('aiida.data:core.structure',))


@click.group('sei')
def data_sei():
    """aiida-sei nodes: structures of the paper (datasets, models and trajectories follow)."""


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
        'created_by': None if creator is None else f'{creator.process_label}<{creator.pk}>',
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
@click.option('--format', 'fmt', help='ASE format (default: from the file name; vasprun.xml, OUTCAR, extxyz, ...).')
@click.option('--system', help='System of every frame (default: guessed from each composition).')
@click.option('--origin', default='imported', show_default=True, help='Origin recorded on every frame.')
@click.option('--backend', help='What labelled the frames (vasp, gpaw, ...).')
@click.option('--dft/--not-dft', 'is_dft', default=True, show_default=True, help='Whether the labels are DFT.')
@decorators.with_dbenv()
def dataset_import(path, fmt, system, origin, backend, is_dft):
    """Import frames labelled outside AiiDA (extxyz, FLARE _dft.xyz, vasprun.xml, OUTCAR)."""
    from aiida_sei.calculations.functions.dataset import import_frames_file
    from aiida_sei.science.frames import FrameError

    metadata = {'origin': origin, 'is_dft': is_dft}
    metadata.update({k: v for k, v in {'format': fmt, 'system': system, 'backend': backend}.items() if v})
    try:
        result = import_frames_file(path, **metadata)
    except (FrameError, ValueError) as exception:
        raise click.ClickException(str(exception)) from None
    node = result['dataset']
    click.echo(f'dataset<{node.pk}>: {len(node)} frames from {path} {node.base.attributes.get("systems")}')


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
        'created_by': None if node.creator is None else f'{node.creator.process_label}<{node.creator.pk}>',
    }
    click.echo(json.dumps(report, indent=2))


@dataset.command('export')
@click.argument('node', type=DATASET)
@click.option('-o', '--output', required=True, type=click.Path(dir_okay=False, path_type=pathlib.Path), help='extxyz file to write.')
@decorators.with_dbenv()
def dataset_export(node, output):
    """Write a dataset as extxyz (energy, forces, stress), the format nequip reads."""
    from aiida_sei.science.frames import write_extxyz

    write_extxyz([frame.get_frame() for frame in node.iter_frames()], output)
    click.echo(f'written: {output} ({len(node)} frames)')
