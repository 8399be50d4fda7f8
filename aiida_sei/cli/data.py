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
