"""The `aiida-sei` command line: setup, versions, structures, launch/status/report, plots, the demo and the reproduction."""

from __future__ import annotations

import inspect
import json
import os
import pathlib
import re

import click

from aiida_sei.cli.launch import launch_command
from aiida_sei.cli.report import (
    echo_interface_summary, plot_composition_command, plot_new_phase_command, plot_uncertainty_command, report_command, run_folder,
    status_command, write_interface_outputs,
)
from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError

PROFILE_ENV = 'AIIDA_SEI_PROFILE'


def load_profile(ctx: click.Context):
    """Load (creating if needed) the profile chosen with --profile; report what was created."""
    from aiida_sei.profile import ensure_profile

    return ensure_profile(ctx.find_root().params['profile'], echo=lambda line: click.echo(f'[setup] {line}', err=True))


class OneLineErrors(click.Group):
    """A usage error is one line, the message and where help is, instead of click's usage block."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            if error.ctx is None:
                raise
            raise click.UsageError(f'{error.format_message()} (see `{error.ctx.command_path} --help`)') from None


@click.group(cls=OneLineErrors)
@click.option(
    '--profile',
    default=lambda: os.environ.get(PROFILE_ENV, 'sei'),
    show_default=f'${PROFILE_ENV} or sei',
    help='AiiDA profile to use; created as an embedded SQLite + ZeroMQ profile if absent.',
)
def cli(profile):
    """aiida-sei: the Li | Li6PS5Cl | Li SEI workflow of Ding et al. (arXiv:2506.10944) on AiiDA."""


@cli.command()
@click.option('--postgres', is_flag=True, help='Create a PostgreSQL + RabbitMQ profile (services from tools/services.sh) instead of the embedded one.')
@click.option('--db-host', default='localhost', show_default=True, help='PostgreSQL host (with --postgres).')
@click.option('--db-port', default=5432, show_default=True, help='PostgreSQL port (with --postgres).')
@click.option('--db-name', default='sei', show_default=True, help='Existing, empty database (with --postgres).')
@click.option('--db-user', default='sei', show_default=True, help='Database role (with --postgres).')
@click.option('--db-password', envvar='SEI_DB_PASSWORD', show_envvar=True, help='Password of the role (with --postgres).')
@click.option('--broker-host', default='127.0.0.1', show_default=True, help='RabbitMQ host, user guest (with --postgres).')
@click.option('--broker-port', default=5672, show_default=True, help='RabbitMQ port (with --postgres).')
@click.pass_context
def setup(ctx, postgres, db_host, db_port, db_name, db_user, db_password, broker_host, broker_port):
    """Create (if absent) the profile, the localhost computer and the local codes.

    The profile is the embedded one (SQLite + ZeroMQ, no services) unless --postgres is given.
    """
    from aiida import orm
    from aiida.common.exceptions import StorageMigrationError

    from aiida_sei.profile import ProfileMismatch, ensure_profile, hide_imported_codes, postgres_backends

    backends = None
    if postgres:
        if db_password is None:
            raise click.UsageError('--postgres needs --db-password (or SEI_DB_PASSWORD)')
        backends = postgres_backends(db_name, db_user, db_password, db_host, db_port, broker_host, broker_port)
    try:
        profile = ensure_profile(ctx.find_root().params['profile'], echo=lambda line: click.echo(f'[setup] {line}', err=True), backends=backends)
    except ProfileMismatch as exception:
        raise click.ClickException(str(exception)) from None
    except StorageMigrationError as exception:
        raise click.ClickException(f'{exception}\n(is PostgreSQL running with that database and role? see tools/services.sh)') from None
    hide_imported_codes(echo=lambda line: click.echo(f'[setup] {line}', err=True))
    codes = orm.QueryBuilder().append(orm.Computer, filters={'label': 'localhost'}, tag='computer').append(
        orm.InstalledCode, with_computer='computer', project=['label']).all(flat=True)
    click.echo(f'profile `{profile.name}` ready: storage {profile.storage_backend}, broker {profile.process_control_backend}')
    click.echo(f'codes on localhost: {", ".join(sorted(codes)) or "none"}')


@cli.command()
@click.option('--json', 'as_json', is_flag=True, help='Print a JSON object instead of a table.')
def versions(as_json):
    """Versions of every engine and library of the pipeline."""
    from aiida_sei.versions import engine_versions

    found = engine_versions()
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for name, version in found.items():
        click.echo(f'{name:16s} {version or "not installed"}')


@cli.group()
def structure():
    """Build a structure of the paper, store it as a node and optionally write it to a file."""


def _option_type(parameter: inspect.Parameter) -> dict:
    """click option settings derived from a builder parameter's default and annotation."""
    default = parameter.default
    if isinstance(default, tuple):
        return {'type': type(default[0]), 'nargs': len(default), 'default': default, 'show_default': True}
    if default is None:
        annotation = str(parameter.annotation)
        return {'type': int if annotation.startswith('int') else float, 'default': None}
    return {'type': type(default), 'default': default, 'show_default': True}


def _doc_summary(function) -> str:
    return inspect.getdoc(function).split('\n\n')[0].replace('\n', ' ')


def _structure_command(kind: str, function) -> click.Command:
    @click.pass_context
    def callback(ctx, output, label, **parameters):
        load_profile(ctx)
        _build_and_report(kind, {k: v for k, v in parameters.items() if v is not None}, output, label)

    options = [
        click.Option(['-o', '--output'], type=click.Path(dir_okay=False, path_type=pathlib.Path), help='Also write the structure (.extxyz/.xyz, .cif, ...).'),
        click.Option(['--label'], help='Label of the calcfunction node.'),
    ]
    for name, parameter in inspect.signature(function).parameters.items():
        options.append(click.Option([f'--{name.replace("_", "-")}'], **_option_type(parameter)))
    return click.Command(kind, callback=callback, params=options, help=inspect.getdoc(function), short_help=_doc_summary(function))


for _kind, _function in catalogue.BUILDERS.items():
    structure.add_command(_structure_command(_kind, _function))


@structure.command('import')
@click.argument('path', type=click.Path(exists=True, dir_okay=False, path_type=pathlib.Path))
@click.pass_context
def structure_import(ctx, path):
    """Import a structure file (any ASE format) as a node, checking species and overlaps."""
    from aiida_sei.calculations.functions.structures import import_structure_file

    load_profile(ctx)
    try:
        outputs = import_structure_file(path)
    except StructureInputError as exception:
        raise click.ClickException(f'{path}: {exception}') from None
    except Exception as exception:  # ASE raises many types for unreadable files
        raise click.ClickException(f'{path}: cannot read a structure ({exception})') from None
    _echo_structure(outputs)


def _build_and_report(kind: str, parameters: dict, output: pathlib.Path | None, label: str | None):
    from aiida_sei.calculations.functions.structures import build_structure_node

    try:
        outputs = build_structure_node(kind, parameters, label=label)
    except StructureInputError as exception:
        raise click.ClickException(str(exception)) from None
    _echo_structure(outputs)
    if output is not None:
        catalogue.write(outputs['structure'].get_ase(), output)
        click.echo(f'written: {output}')


def _echo_structure(outputs: dict):
    node, info = outputs['structure'], outputs['info'].get_dict()
    lengths = ' x '.join(f'{x:.3f}' for x in node.cell_lengths)
    click.echo(f'structure<{node.pk}> {info["formula"]} ({info["n_atoms"]} atoms), cell {lengths} Å')
    for direction, value in info.get('mismatch', {}).items():
        click.echo(f'  mismatch along {direction}: {value:+.2%}')


@cli.group()
def plot():
    """Figures from stored nodes."""


@plot.command('parity')
@click.argument('pk', type=int)
@click.option('-o', '--output', type=click.Path(dir_okay=False, path_type=pathlib.Path), default='parity.png', show_default=True)
@click.pass_context
def plot_parity(ctx, pk, output):
    """Parity plot of a model's latest validation (PK of a sei.model or sei.compiled_model)."""
    from aiida import orm

    from aiida_sei.queries import model_validations
    from aiida_sei.science.model_errors import parity_plot

    from aiida_sei.cli.report import load_any

    load_profile(ctx)
    try:
        runs = model_validations(load_any(pk, orm.Data))
    except TypeError as exception:
        raise click.ClickException(str(exception)) from None
    if not runs:
        raise click.ClickException(f'node {pk} has no validate_model run yet: sei.interface runs one of its final model; for another, '
                                   'validate_model(compiled, dataset) of aiida_sei.calculations.functions.validation with the model compiled for `ase`')
    parity, errors = runs[0].outputs.parity, runs[0].outputs.errors.get_dict()
    parity_plot(parity.base.attributes.get('systems'), parity.get_array('energy_per_atom_reference'),
                parity.get_array('energy_per_atom_predicted'), parity.get_array('force_reference'),
                parity.get_array('force_predicted'), output, title=f'validate_model<{runs[0].pk}>')
    for system, row in errors.items():
        click.echo(f'{system:10s} {row["frames"]:5d} frames  E {1000 * row["energy_per_atom_mae"]:8.2f} meV/atom  F {row["forces_mae"]:.4f} eV/Å  (MAE)')
    click.echo(f'written: {output}')


def _frames_of(source: str, fmt: str | None) -> list:
    """StructureData nodes of a file (every frame; extxyz, LAMMPS dump, ...) or of a node PK
    (a StructureData or a TrajectoryData)."""
    from aiida import orm

    from aiida_sei.science.catalogue import check_atoms

    if source.isdigit():
        node = orm.load_node(int(source))
        if isinstance(node, orm.TrajectoryData):
            return [node.get_step_structure(i) for i in range(node.numsteps)]
        if isinstance(node, orm.StructureData):
            return [node]
        raise click.ClickException(f'node {source} is a {type(node).__name__}, not a structure or trajectory')
    import ase.io

    path = pathlib.Path(source)
    if not path.exists():
        raise click.ClickException(f'{source}: no such file or node PK')
    if fmt is None and path.suffix in ('.lammpstrj', '.dump'):
        fmt = 'lammps-dump-text'  # LAMMPS dumps with an `element` column
    try:
        images = ase.io.read(path, index=':', format=fmt)
    except Exception as exception:  # ASE raises many types for unreadable files
        raise click.ClickException(f'{source}: cannot read frames ({exception})') from None
    nodes = []
    for number, atoms in enumerate(images):
        try:
            check_atoms(atoms)
        except StructureInputError as exception:
            raise click.ClickException(f'{source}, frame {number}: {exception}') from None
        nodes.append(orm.StructureData(ase=atoms, label=f'{path.name}:{number}'))
    return nodes


@cli.command()
@click.option('--frames', 'frames', multiple=True, required=True, help='Frames to classify: a file (extxyz, LAMMPS dump, ...) or a node PK; repeatable.')
@click.option('--reference', 'references', multiple=True, required=True, help='LABEL=FILE: reference frames of a phase; repeatable.')
@click.option('--format', 'fmt', help='ASE format of the files (default: from the name; *.lammpstrj and *.dump are LAMMPS dumps with an element column).')
@click.option('--n-components', default=20, show_default=True, help='Principal components kept.')
@click.option('--z', 'z', default=3.0, show_default=True, help='DPA merging parameter Z.')
@click.option('--json', 'json_path', type=click.Path(dir_okay=False, path_type=pathlib.Path), required=True, help='Where to write the composition.')
@click.pass_context
def classify(ctx, frames, references, fmt, n_components, z, json_path):
    """Cluster the Li environments of the frames, label clusters by reference phases (their cores,
    then the non-core regions of clusters still unknown), and write each frame's composition
    (core and non-core fractions per label) as JSON."""
    from aiida import orm

    from aiida_sei.calculations.functions.classification import (
        classify_structure, cluster_environments, label_clustering, label_non_core_regions, reference_inputs,
    )

    load_profile(ctx)
    if not json_path.parent.is_dir():  # checked first: nothing is computed or stored for a path that cannot be written
        raise click.ClickException(f'--json {json_path}: the folder {json_path.parent} does not exist')
    parsed = {}
    for item in references:
        label, _, source = item.partition('=')
        if not re.fullmatch(r'[A-Za-z][A-Za-z0-9]*(_[A-Za-z0-9]+)*', label) or not source:
            raise click.ClickException(f'--reference must be LABEL=FILE with LABEL letters and digits (a link label), got {item!r}')
        parsed.setdefault(label, []).extend(_frames_of(source, fmt))
        if not any('Li' in node.get_symbols_set() for node in parsed[label]):
            raise click.ClickException(f'--reference {item}: no Li in its frames; the environments are Li-centred, so it would label nothing')
    structures = [node for source in frames for node in _frames_of(source, fmt)]
    lithium = sum(node.get_ase().get_chemical_symbols().count('Li') for node in structures)
    if lithium < 10:
        raise click.ClickException(f'--frames hold {lithium} Li environments; the clustering needs at least 10')
    settings = orm.Dict({'n_components': n_components, 'Z': z})
    clustering = cluster_environments(settings, **{f'frame_{i:05d}': s for i, s in enumerate(structures)})
    phases = reference_inputs(parsed)
    labelled = label_non_core_regions(label_clustering(clustering, **phases), **phases)
    results = []
    for structure in structures:
        composition = classify_structure(labelled, structure)
        results.append({'structure': structure.pk, 'label': structure.label, 'composition': composition.pk, 'fractions': composition['fractions']})
    report = {'clustering': labelled.pk, 'clusters': labelled.labels, 'frames': results}
    json_path.write_text(json.dumps(report, indent=2))
    click.echo(f'clustering<{labelled.pk}>: {len(labelled.labels)} clusters {sorted(set(labelled.labels))}; {len(results)} frames -> {json_path}')


#: `aiida-sei demo --labels`: the protocol of sei.interface that each labeller's demo runs, and
#: the label settings `--labels chgnet` puts over any other protocol (the paper protocol refuses them).
DEMO_PROTOCOLS = {'chgnet': 'demo', 'gpaw': 'demo_gpaw'}
#: Protocols whose own labels are CHGNet's.
STAND_IN_PROTOCOLS = ('demo', 'reduced')
STAND_IN_LABELS = {'label': {'backend': 'ase_inline', 'protocol': 'universal'}}


@cli.command()
@click.option('--output', type=click.Path(file_okay=False, path_type=pathlib.Path), default=None, help='Directory for the figures, dataset and summary [default: demo-output/sei-interface-<PK>].')
@click.option('--protocol', default='demo', show_default=True, help='Protocol of sei.interface (demo, demo_gpaw, reduced or paper).')
@click.option('--labels', type=click.Choice(['chgnet', 'gpaw']), default=None,
              help='CHGNet stand-in labels (a universal potential trained on PBE, not DFT: the whole study in about 15 minutes; '
                   'the default of the demo protocol), or GPAW DFT labels (the demo protocol becomes demo_gpaw: Li and product '
                   'cells only, 5 minutes; the default of the others).')
@click.pass_context
def demo(ctx, output, protocol, labels):
    """The whole study (sei.interface) on the embedded profile: structures, active learning,
    an Allegro model, refinement, LAMMPS production, classification and the paper's time
    series; then a summary read from the stored nodes. By default CHGNet labels the frames (not
    DFT, and every frame says so): GPAW labels of the electrolyte and the interface cost more
    than a demo's budget on a laptop (`--labels gpaw` shows the DFT path on the cheap cells)."""
    if protocol == 'demo_gpaw' and labels == 'chgnet':
        raise click.BadParameter('the demo_gpaw protocol labels with GPAW; for CHGNet labels run the demo protocol', param_hint='--labels')
    labels = labels or ('chgnet' if protocol in STAND_IN_PROTOCOLS else 'gpaw')
    overrides = STAND_IN_LABELS if labels == 'chgnet' and protocol not in STAND_IN_PROTOCOLS else None
    protocol = DEMO_PROTOCOLS[labels] if protocol == 'demo' else protocol
    run_interface(ctx, protocol, labels, overrides, output, pathlib.Path('demo-output'))


@cli.command()
@click.option('--output', type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
              help='Directory for the figures, dataset, summary and archive [default: reproduction-output/sei-interface-<PK>].')
@click.pass_context
def reproduce(ctx, output):
    """The paper's central result at reduced scale (sei.interface, `reduced` protocol; about two
    hours on 2 cores; docs/reproduction.md): an SEI at Li | Li6PS5Cl | Li at 300 and 600 K,
    classified with MD references and the second pass, with CHGNet stand-in labels checked
    against GPAW on clusters of the production. Writes the figures, the summary and the run's
    AiiDA archive (`reproduction.aiida`: `verdi archive import` it and `aiida-sei report` gives
    the same numbers)."""
    from aiida_sei.queries import export_run

    node, output = run_interface(ctx, 'reduced', 'chgnet', None, output, pathlib.Path('reproduction-output'))
    export_run(node, output / 'reproduction.aiida')
    click.echo(f'  the run as an AiiDA archive: {output / "reproduction.aiida"} (verdi archive import; aiida-sei report {node.pk})')


def run_interface(ctx, protocol: str, labels: str, overrides, output, parent: pathlib.Path):
    """Run sei.interface in this process with the localhost codes, write its files and print its
    summary; returns the node and the folder written."""
    from aiida import orm

    from aiida_sei.cli.launch import run_in_process
    from aiida_sei.workchains.interface import InterfaceWorkChain

    profile = load_profile(ctx)
    defaults = {**InterfaceWorkChain.CODES, 'label': 'python' if labels == 'chgnet' else 'gpaw'}
    codes = {role: orm.load_code(f'{label}@localhost') for role, label in defaults.items()}
    builder = InterfaceWorkChain.get_builder_from_protocol(codes, protocol, overrides)

    def announce(node):
        click.echo(f'running sei.interface<{node.pk}> ({protocol} protocol, {labels} labels) in profile `{profile.name}`; '
                   f'progress: verdi -p {profile.name} process report {node.pk}')

    node = run_in_process(builder, announce)  # report lines as `[pk] message`
    if not node.is_finished_ok:
        raise click.ClickException(f'sei.interface<{node.pk}> failed: {node.exit_message} (verdi -p {profile.name} process report {node.pk})')
    output = output or run_folder(node, parent)
    write_interface_outputs(node.outputs, output)
    echo_interface_summary(node, node.outputs.summary.get_dict(), output, profile.name)
    return node, output


cli.add_command(launch_command(load_profile))
cli.add_command(status_command(load_profile))
cli.add_command(report_command(load_profile))
plot.add_command(plot_composition_command(load_profile))
plot.add_command(plot_uncertainty_command(load_profile))
for figure in ('hull', 'dos', 'xrd', 'arrhenius'):
    plot.add_command(plot_new_phase_command(load_profile, figure))
