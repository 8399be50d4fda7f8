"""`aiida-sei launch`: any sei.* work chain with a protocol, from the command line.

Each launchable work chain has a :class:`Recipe`: which codes it takes (role -> default label of
the codes `aiida-sei setup` creates on localhost), which nodes it needs (a structure, datasets,
a model) and how its ``get_builder_from_protocol`` is called. Everything is resolved and the
builder validated before anything is stored: a bad workflow, protocol, override key, node or code
is one click error and leaves the profile as it was.
"""

from __future__ import annotations

import dataclasses
import logging
import pathlib
import re
from collections.abc import Callable, Mapping

import click
import yaml

from aiida_sei.protocols import ProtocolError

#: Labelling backend -> label of the `aiida-sei setup` code that runs it (VASP: bring your own).
LABEL_CODES = {'gpaw': 'gpaw', 'ase': 'python'}


@dataclasses.dataclass(frozen=True)
class Recipe:
    """How `launch` builds one work chain: its codes (role -> default code label, None: no
    default), its node inputs, and ``build(cls, codes, nodes, protocol, overrides, backend)``."""

    codes: dict[str, str | None]
    nodes: tuple[str, ...]
    build: Callable
    help: str


def _structures(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(protocol, overrides)


def _label(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes['label'], nodes['structure'], backend, protocol, overrides)


def _single_point(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes['label'], nodes['structure'], protocol, overrides)


def _active_learning(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes['md'], codes['label'], nodes['structure'], protocol, overrides)


def _sweep(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes['md'], codes['label'], nodes['structures'], protocol, overrides)


def _allegro(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes['train'], codes['package'], nodes['dataset'], nodes['validation'], protocol, overrides)


def _refinement(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes, nodes['dataset'], nodes['model'], nodes['interface'], nodes['products'], protocol, overrides)


def _interface(cls, codes, nodes, protocol, overrides, backend):
    return cls.get_builder_from_protocol(codes, protocol, overrides)


#: The default label code follows the labelling backend of the resolved protocol ('label' here).
_MD_AND_LABEL = {'md': 'python', 'label': 'label'}
RECIPES = {
    'sei.structures': Recipe({}, (), _structures, 'the paper\'s structures (no codes)'),
    'sei.label': Recipe({'label': 'label'}, ('structure',), _label, 'one label of --structure with --backend'),
    'sei.gpaw.base': Recipe({'label': 'gpaw'}, ('structure',), _single_point, 'a GPAW single point of --structure'),
    'sei.ase.base': Recipe({'label': 'python'}, ('structure',), _single_point, 'a stand-in single point of --structure'),
    'sei.active_learning': Recipe(_MD_AND_LABEL, ('structure',), _active_learning, 'FLARE active learning from --structure'),
    'sei.active_learning.sweep': Recipe(_MD_AND_LABEL, ('structures',), _sweep, 'active learning of each --structure LABEL=PK|FILE over the conditions'),
    'sei.allegro.train': Recipe({'train': 'nequip-train', 'package': 'nequip-package'}, ('dataset', 'validation'), _allegro,
                                'Allegro training on --input dataset=PK --input validation=PK'),
    'sei.refinement': Recipe({**_MD_AND_LABEL, 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile'},
                             ('dataset', 'model', 'interface', 'products'), _refinement,
                             'refinement: --input dataset=PK model=PK interface=PK products.LABEL=PK'),
    'sei.interface': Recipe({**_MD_AND_LABEL, 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile', 'lammps': 'lmp'},
                            (), _interface, 'the whole study (structures to SEI composition)'),
}


def workflow_class(name: str):
    from aiida.plugins import WorkflowFactory

    if name not in RECIPES:
        raise click.UsageError(f'unknown workflow `{name}`; launchable: {", ".join(RECIPES)}')
    return WorkflowFactory(name)


def protocol_class(name: str, backend: str):
    """The class whose protocol file `name` reads (sei.label: its backend's)."""
    if name != 'sei.label':
        return workflow_class(name)
    from aiida_sei.workchains.label import BACKENDS

    if backend not in BACKENDS:
        raise click.UsageError(f'unknown --backend `{backend}`; available: {", ".join(BACKENDS)}')
    return BACKENDS[backend][0]


#: Floats that YAML 1.1 (PyYAML) leaves as strings: an exponent without a decimal point.
EXPONENT_FLOAT = re.compile(r'[-+]?(\d+\.?\d*|\.\d+)[eE][-+]?\d+')


def parse_overrides(items: tuple[str, ...]) -> dict:
    """``a.b.c=value`` items as one nested dict; values are YAML scalars or flow collections."""
    overrides: dict = {}
    for item in items:
        path, separator, text = item.partition('=')
        keys = path.split('.')
        if not separator or not all(keys):
            raise click.BadParameter(f'expected key.path=value, got {item!r}', param_hint='--override')
        try:
            value = yaml.safe_load(text)
        except yaml.YAMLError as exception:
            raise click.BadParameter(f'{item!r}: value is not YAML ({exception.problem})', param_hint='--override') from None
        if isinstance(value, str) and EXPONENT_FLOAT.fullmatch(value):  # YAML 1.1 reads 1e-8 as a string
            value = float(value)
        target = overrides
        for key in keys[:-1]:
            target = target.setdefault(key, {})
            if not isinstance(target, dict):
                raise click.BadParameter(f'{item!r}: `{key}` is also given a value', param_hint='--override')
        target[keys[-1]] = value
    return overrides


def resolve_protocol(name: str, protocol: str | None, overrides: dict, backend: str) -> tuple[str, dict]:
    """(protocol name, resolved inputs); a bad protocol or override key is a click error.
    sei.label's overrides name its own ports (``vasp.vasp.…``): its builder checks them."""
    source = protocol_class(name, backend)
    protocol = protocol or source.get_default_protocol()
    if name == 'sei.label':
        return protocol, {}
    try:
        resolved = source.get_protocol_inputs(protocol, overrides)
        if name == 'sei.interface':
            check_interface_steps(resolved)
    except ProtocolError as exception:
        raise click.UsageError(f'{name}: {exception}') from None
    return protocol, resolved


def with_backend(name: str, overrides: dict, backend: str | None) -> dict:
    """``overrides`` with ``label.backend`` set from --backend, for work chains that label frames."""
    from aiida_sei.protocols import recursive_merge

    if backend is None or name == 'sei.label':
        return overrides
    if 'label' not in workflow_class(name).get_protocol_inputs():
        raise click.UsageError(f'--backend: {name} labels nothing')
    return recursive_merge(overrides, {'label': {'backend': backend}})


#: Steps of sei.interface whose `overrides` their own work chain checks (only when it starts).
INTERFACE_STEPS = {'active_learning': 'sei.active_learning.sweep', 'allegro': 'sei.allegro.train', 'refinement': 'sei.refinement'}


def check_interface_steps(resolved: dict) -> None:
    """Check each step's protocol and overrides now, rather than hours into the run."""
    from aiida.plugins import WorkflowFactory

    for step, entry_point in INTERFACE_STEPS.items():
        try:
            WorkflowFactory(entry_point).get_protocol_inputs(resolved[step]['protocol'], resolved[step].get('overrides'))
        except ProtocolError as exception:
            raise ProtocolError(f'{step} step ({entry_point}): {exception}') from None


def _label_backend(inputs: Mapping) -> str | None:
    """The labelling backend named anywhere in resolved protocol inputs (``label.backend``)."""
    for key, value in inputs.items():
        if key == 'label' and isinstance(value, Mapping) and 'backend' in value:
            return value['backend']
        if isinstance(value, Mapping) and (found := _label_backend(value)):
            return found
    return None


def load_codes(recipe: Recipe, given: tuple[str, ...], backend: str | None) -> dict:
    """Codes by role: `--code role=LABEL` items over the recipe's defaults."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    labels = {role: (LABEL_CODES.get(backend) if default == 'label' else default) for role, default in recipe.codes.items()}
    for item in given:
        role, separator, label = item.partition('=')
        if not separator or role not in recipe.codes:
            raise click.BadParameter(f'{item!r}: expected ROLE=LABEL with ROLE one of {", ".join(recipe.codes) or "(none: this workflow takes no codes)"}', param_hint='--code')
        labels[role] = label
    codes = {}
    for role, label in labels.items():
        if label is None:
            raise click.UsageError(f'no default code for `{role}` (labelling backend {backend}): give --code {role}=LABEL')
        try:
            codes[role] = orm.load_code(label if '@' in label else f'{label}@localhost')
        except (NotExistent, MultipleObjectsError, ValueError):
            raise click.UsageError(f'code `{label}` for `{role}` not found (run `aiida-sei setup`, or see `verdi code list`)') from None
    return codes


def read_structure(source: str):
    """A StructureData from a node PK (stored) or a structure file (not stored yet)."""
    from aiida import orm

    from aiida_sei.science.catalogue import check_atoms
    from aiida_sei.science.validation import StructureInputError

    if source.isdigit():
        return load_node_of(source, orm.StructureData, '--structure')
    path = pathlib.Path(source)
    if not path.is_file():
        raise click.BadParameter(f'{source}: no such file or node PK', param_hint='--structure')
    import ase.io

    try:
        atoms = ase.io.read(path)
        check_atoms(atoms)
    except StructureInputError as exception:
        raise click.BadParameter(f'{source}: {exception}', param_hint='--structure') from None
    except Exception as exception:  # ASE raises many types for unreadable files
        raise click.BadParameter(f'{source}: cannot read a structure ({exception})', param_hint='--structure') from None
    return orm.StructureData(ase=atoms, label=path.name)


def load_node_of(pk: str, node_type, hint: str):
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        node = orm.load_node(int(pk))
    except (NotExistent, ValueError):
        raise click.BadParameter(f'no node with PK {pk}', param_hint=hint) from None
    if not isinstance(node, node_type):
        raise click.BadParameter(f'node {pk} is a {type(node).__name__}, not a {node_type.__name__}', param_hint=hint)
    return node


def collect_nodes(recipe: Recipe, structures: tuple[str, ...], inputs: tuple[str, ...]) -> dict:
    """The recipe's node inputs from --structure and --input NAME=PK items."""
    from aiida import orm

    nodes: dict = {}
    if 'structure' in recipe.nodes:
        if len(structures) != 1:
            raise click.UsageError('give exactly one --structure PK|FILE')
        nodes['structure'] = read_structure(structures[0])
    elif 'structures' in recipe.nodes:
        if not structures:
            raise click.UsageError('give at least one --structure LABEL=PK|FILE')
        nodes['structures'] = {}
        for item in structures:
            label, separator, source = item.rpartition('=')
            label = label if separator else pathlib.Path(source).stem if not source.isdigit() else f'structure_{source}'
            nodes['structures'][label] = read_structure(source)
    elif structures:
        raise click.UsageError('this workflow takes no --structure')
    for item in inputs:
        name, separator, pk = item.partition('=')
        base, _, key = name.partition('.')
        if not separator or base not in recipe.nodes or base in ('structure', 'structures'):
            raise click.BadParameter(f'{item!r}: expected NAME=PK with NAME one of {", ".join(n for n in recipe.nodes if "structure" not in n) or "(none)"}', param_hint='--input')
        node = load_node_of(pk, orm.Node, '--input')
        if key:
            nodes.setdefault(base, {})[key] = node
        else:
            nodes[base] = node
    missing = [name for name in recipe.nodes if name not in nodes and name != 'products']
    if missing:
        raise click.UsageError(f'missing --input {", ".join(f"{m}=PK" for m in missing)}')
    if 'products' in recipe.nodes:
        nodes.setdefault('products', {})
    return nodes


def build(name: str, protocol: str | None, override_items, structures, inputs, code_items, backend: str):
    """(the validated builder, the resolved protocol name): nothing is stored."""
    from aiida.common.exceptions import InputValidationError

    cls, recipe = workflow_class(name), RECIPES[name]
    overrides = with_backend(name, parse_overrides(override_items), backend)
    backend = backend or 'gpaw'
    protocol, resolved = resolve_protocol(name, protocol, overrides, backend)
    codes = load_codes(recipe, code_items, backend if name == 'sei.label' else _label_backend(resolved) or 'gpaw')
    nodes = collect_nodes(recipe, structures, inputs)
    try:
        builder = recipe.build(cls, codes, nodes, protocol, overrides, backend)
    except (ProtocolError, ValueError, TypeError, KeyError, InputValidationError) as exception:
        raise click.UsageError(f'{name}: {exception}') from None
    try:  # some plugins' validators raise instead of returning (aiida-vasp: an unknown POTCAR family)
        error = cls.spec().inputs.validate(builder._inputs(prune=True))
    except InputValidationError as exception:
        error = exception
    if error is not None:
        raise click.UsageError(f'{name}: invalid inputs: {error}')
    return builder, protocol


def describe(value):
    """Builder inputs as plain data for printing: node values, codes and structures by label/PK."""
    from aiida import orm

    if isinstance(value, Mapping):
        return {key: describe(item) for key, item in value.items()}
    if isinstance(value, orm.Dict):
        return value.get_dict()
    if isinstance(value, orm.List):
        return value.get_list()
    if isinstance(value, orm.BaseType):
        return value.value
    where = f'<{value.pk}>' if isinstance(value, orm.Node) and value.is_stored else ' (not stored yet)'
    if isinstance(value, orm.AbstractCode):
        return f'{value.full_label} code{where}'
    if isinstance(value, orm.StructureData):
        return f'{value.get_formula()} ({len(value.sites)} atoms) structure{where}'
    if isinstance(value, orm.KpointsData):
        return f'mesh {value.get_kpoints_mesh()[0]}'
    if isinstance(value, orm.Node):
        return f'{type(value).__name__}{where}'
    return value


class EchoReports(logging.Handler):
    """Echoes the report lines of processes running in this interpreter as they are logged."""

    def emit(self, record):
        pk = getattr(record, 'dbnode_id', None)
        if pk is not None:  # a process's report, not AiiDA's own messages
            click.echo(f'[{pk}] {record.getMessage()}')


def _not_a_report(record) -> bool:
    return getattr(record, 'dbnode_id', None) is None


def run_in_process(builder):
    """Run ``builder`` here; its processes' report lines are echoed as ``[pk] message`` (AiiDA's
    own console handlers skip them meanwhile, so each line shows once). Returns the node."""
    from aiida.common.log import LOG_LEVEL_REPORT
    from aiida.engine import run_get_node

    logger = logging.getLogger('aiida')  # process nodes log here, with their pk as dbnode_id
    consoles = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    handler = EchoReports(level=LOG_LEVEL_REPORT)
    for console in consoles:
        console.addFilter(_not_a_report)
    logger.addHandler(handler)
    try:
        return run_get_node(builder)[1]
    finally:
        logger.removeHandler(handler)
        for console in consoles:
            console.removeFilter(_not_a_report)


def daemon_is_running(profile) -> bool:
    from aiida.engine.daemon.client import DaemonClient

    try:
        return DaemonClient(profile).is_daemon_running
    except Exception:  # e.g. a profile without a broker has no daemon at all
        return False


LAUNCH_HELP = (
    'Launch WORKFLOW with a protocol, --override of its keys and the local codes of `aiida-sei setup`; '
    'everything is checked before anything is stored.\n\n\b\nWorkflows:\n'
    + '\n'.join(f'  {name:26s} {recipe.help}' for name, recipe in RECIPES.items())
)


def launch_command(load_profile):
    """The click command; ``load_profile(ctx)`` loads the profile chosen on the group."""

    @click.command('launch', context_settings={'help_option_names': ['-h', '--help']}, help=LAUNCH_HELP, short_help='Launch a sei.* work chain from a protocol, with overrides and codes.')
    @click.argument('workflow', metavar='WORKFLOW')
    @click.option('-p', '--protocol', help='Protocol name (default: the work chain\'s default protocol).')
    @click.option('--override', 'overrides', multiple=True, metavar='KEY.PATH=VALUE', help='Override a protocol key; VALUE is YAML (3, 0.5, true, [1, 2], null). Repeatable.')
    @click.option('--structure', 'structures', multiple=True, metavar='PK|FILE', help='Starting structure: node PK or file (sweep: LABEL=PK|FILE, repeatable).')
    @click.option('--input', 'inputs', multiple=True, metavar='NAME=PK', help='Other node inputs (dataset, validation, model, interface, products.LABEL). Repeatable.')
    @click.option('--code', 'codes', multiple=True, metavar='ROLE=LABEL', help='Code for a role instead of the `aiida-sei setup` one (LABEL or LABEL@COMPUTER). Repeatable.')
    @click.option('--backend', help='Labelling backend: gpaw (sei.label\'s default), vasp or ase (stand-in labels); for work chains that label frames, '
                                    'the same as --override label.backend=BACKEND.')
    @click.option('--resources', 'resources', metavar='PROFILE', help='Hardware per step from a resource profile (laptop, cluster: aiida_sei/workchains/protocols/resources.yaml).')
    @click.option('--daemon/--run', 'use_daemon', default=True, show_default=True, help='Submit to the daemon, or run here and print report lines as they come.')
    @click.option('--dry-run', is_flag=True, help='Print the resolved inputs and exit; nothing is stored.')
    @click.pass_context
    def launch(ctx, workflow, protocol, overrides, structures, inputs, codes, backend, resources, use_daemon, dry_run):
        profile = load_profile(ctx)
        builder, protocol = build(workflow, protocol, overrides, structures, inputs, codes, backend)
        if resources:
            from aiida_sei.resources import apply_resources

            try:
                apply_resources(builder, resources)
            except ValueError as exception:
                raise click.UsageError(f'--resources: {exception}') from None
        if dry_run:
            click.echo(f'# {workflow}, protocol {protocol}: resolved inputs (nothing stored)')
            click.echo(yaml.safe_dump(describe(builder._inputs(prune=True)), sort_keys=False, default_flow_style=None).rstrip())
            return
        if not use_daemon:
            node = run_in_process(builder)
            state = 'finished ok' if node.is_finished_ok else f'failed [{node.exit_status}] {node.exit_message or ""}'
            click.echo(f'{workflow}<{node.pk}> {state}; summary: aiida-sei --profile {profile.name} report {node.pk}')
            if not node.is_finished_ok:
                ctx.exit(1)
            return
        submit_to_daemon(builder, workflow, profile)

    return launch


def submit_to_daemon(builder, workflow: str, profile):
    from aiida.engine import submit

    if not daemon_is_running(profile):
        if profile.process_control_backend != 'core.rabbitmq':  # RabbitMQ queues the task; ZeroMQ runs in the daemon
            raise click.UsageError(f'the daemon of profile `{profile.name}` is not running (its broker, {profile.process_control_backend}, runs with it): '
                                   f'start it with `verdi -p {profile.name} daemon start`, or use --run')
        click.echo(f'warning: the daemon is not running; the process waits until `verdi -p {profile.name} daemon start`', err=True)
    node = submit(builder)
    click.echo(f'submitted {workflow}<{node.pk}>')
    click.echo(f'  follow it: verdi -p {profile.name} process status {node.pk}')
    click.echo(f'             verdi -p {profile.name} process report {node.pk}')
    click.echo(f'  when done: aiida-sei --profile {profile.name} report {node.pk}')
