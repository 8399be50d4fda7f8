"""`aiida-sei launch`: any sei.* work chain with a protocol, from the command line.

Every launchable work chain declares which codes it takes (``CODES``: role -> default label of the
codes `aiida-sei setup` creates on localhost) and which nodes it needs (``NODES``: a structure,
datasets, a model), and has one ``get_builder_from_protocol(codes, protocol, overrides, options,
**nodes)``. Everything is resolved and the builder validated before anything is stored: a bad workflow, protocol, override key, node or code
is one click error and leaves the profile as it was.
"""

from __future__ import annotations

import logging
import pathlib
import re
from collections.abc import Mapping

import click
import yaml

from aiida_sei.protocols import ProtocolError

#: Launchable work chains -> what `launch --help` says of them. Each class declares its code
#: roles (``CODES``, with the default codes of `aiida-sei setup`) and node inputs (``NODES``), and
#: takes them in ``get_builder_from_protocol(codes, protocol, overrides, options, **nodes)``.
WORKFLOWS = {
    'sei.structures': 'the paper\'s structures (`paper` relaxes the crystals with GPAW first)',
    'sei.label': 'one label of --structure with --backend',
    'sei.gpaw.base': 'a GPAW single point of --structure',
    'sei.relax': 'a DFT relaxation (cell and positions) of --structure with --backend (gpaw, vasp)',
    'sei.gpaw.relax': 'a GPAW relaxation (cell and positions) of --structure',
    'sei.vasp.relax': "a VASP relaxation of --structure (aiida-vasp's relaxation work chain)",
    'sei.ase.base': 'a stand-in single point of --structure',
    'sei.active_learning': 'FLARE active learning from --structure',
    'sei.active_learning.sweep': 'active learning of each --structure LABEL=PK|FILE over the conditions',
    'sei.allegro.train': 'Allegro training on --input dataset=PK --input validation=PK',
    'sei.refinement': 'refinement: --input dataset=PK model=PK interface=PK products.LABEL=PK',
    'sei.interface': 'the whole study (structures to SEI composition)',
    'sei.new_phase': 'the new phase: ordered Li2S(1-2x)PxClx relaxed, E above hull, gaps',
}


def workflow_class(name: str):
    from aiida.plugins import WorkflowFactory

    if name not in WORKFLOWS:
        raise click.UsageError(f'unknown workflow `{name}`; launchable: {", ".join(WORKFLOWS)}')
    return WorkflowFactory(name)


def dispatcher(cls):
    """The work chain whose backends --backend names: ``cls`` itself for sei.label and sei.relax,
    else sei.label (the labels of a work chain that labels frames)."""
    from aiida_sei.workchains.backends import BackendWorkChain
    from aiida_sei.workchains.label import LabelWorkChain

    return cls if isinstance(cls, type) and issubclass(cls, BackendWorkChain) else LabelWorkChain


def backend_class(backend: str, cls=None):
    """The work chain of ``backend`` of :func:`dispatcher` (``cls``); its CODES name the code that runs it."""
    backends = dispatcher(cls).BACKENDS
    if backend not in backends:
        raise click.UsageError(f'unknown --backend `{backend}`; available: {", ".join(backends)}')
    return backends[backend][0]


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


def labelling_settings(cls) -> tuple[str, ...] | None:
    """Where ``cls``'s overrides hold the backend settings (backend, protocol, ...): sei.label's and
    sei.relax's are their own; a work chain that labels frames keeps them under ``label``; None:
    it has no backend to choose."""
    if dispatcher(cls) is cls:
        return ()
    return ('label',) if hasattr(cls, 'get_protocol_inputs') and 'label' in cls.get_protocol_inputs() else None


def with_backend(cls, name: str, overrides: dict, backend: str | None) -> dict:
    """``overrides`` with the labelling backend set from --backend."""
    from aiida_sei.protocols import recursive_merge

    if backend is None:
        return overrides
    path = labelling_settings(cls)
    if path is None:
        raise click.UsageError(f'--backend: {name} labels nothing')
    update = {'backend': backend}
    for key in reversed(path):
        update = {key: update}
    return recursive_merge(overrides, update)


def chosen_backend(cls, protocol: str | None, overrides: dict) -> str | None:
    """The labelling backend the builder will use: from the overrides, else the protocol."""
    path = labelling_settings(cls)
    if path is None:
        return None
    settings = overrides
    for key in path:
        settings = settings.get(key, {})
    if 'backend' in settings or not path:
        return settings.get('backend', 'gpaw')
    try:
        return cls.get_protocol_inputs(protocol)[path[0]].get('backend', 'gpaw')
    except ProtocolError as exception:
        raise click.UsageError(f'{cls.__name__}: {exception}') from None


def load_codes(cls, given: tuple[str, ...], backend: str | None) -> dict:
    """Codes by role: `--code role=LABEL` items over the class's defaults (``label``: the code
    of the chosen backend)."""
    from aiida import orm
    from aiida.common.exceptions import MultipleObjectsError, NotExistent

    roles = getattr(cls, 'CODES', {})
    labels = {role: (next(iter(backend_class(backend, cls).CODES.values())) if default == 'label' else default) for role, default in roles.items()}
    for item in given:
        role, separator, label = item.partition('=')
        if not separator or role not in roles:
            raise click.BadParameter(f'{item!r}: expected ROLE=LABEL with ROLE one of {", ".join(roles) or "(none: this workflow takes no codes)"}', param_hint='--code')
        labels[role] = label
    codes = {}
    for role, label in labels.items():
        if label is None:
            raise click.UsageError(f'no default code for `{role}` (backend {backend}): give --code {role}=LABEL')
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


def collect_nodes(names: tuple[str, ...], structures: tuple[str, ...], inputs: tuple[str, ...], optional: tuple[str, ...] = ()) -> dict:
    """The node inputs ``names`` (a class's NODES) from --structure and --input NAME=PK items;
    those in ``optional`` (a class's OPTIONAL_NODES) may be left out."""
    from aiida import orm

    nodes: dict = {}
    if 'structure' in names:
        if len(structures) != 1:
            raise click.UsageError('give exactly one --structure PK|FILE')
        nodes['structure'] = read_structure(structures[0])
    elif 'structures' in names:
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
        if not separator or base not in names or base in ('structure', 'structures'):
            raise click.BadParameter(f'{item!r}: expected NAME=PK with NAME one of {", ".join(n for n in names if "structure" not in n) or "(none)"}', param_hint='--input')
        node = load_node_of(pk, orm.Node, '--input')
        if key:
            nodes.setdefault(base, {})[key] = node
        else:
            nodes[base] = node
    missing = [name for name in names if name not in nodes and name != 'products' and name not in optional]
    if missing:
        raise click.UsageError(f'missing --input {", ".join(f"{m}=PK" for m in missing)}')
    if 'products' in names:
        nodes.setdefault('products', {})
    return nodes


def build(name: str, protocol: str | None, override_items, structures, inputs, code_items, backend: str | None):
    """(the validated builder, the protocol name): nothing is stored."""
    from aiida.common.exceptions import InputValidationError

    cls = workflow_class(name)
    overrides = with_backend(cls, name, parse_overrides(override_items), backend)
    backend = chosen_backend(cls, protocol, overrides)
    codes = load_codes(cls, code_items, backend)
    nodes = collect_nodes(getattr(cls, 'NODES', ()), structures, inputs, getattr(cls, 'OPTIONAL_NODES', ()))
    try:
        builder = cls.get_builder_from_protocol(codes, protocol, overrides, **nodes)
    except (ProtocolError, ValueError, TypeError, KeyError, InputValidationError) as exception:
        raise click.UsageError(f'{name}: {exception}') from None
    try:  # some plugins' validators raise instead of returning (aiida-vasp: an unknown POTCAR family)
        error = cls.spec().inputs.validate(builder._inputs(prune=True))
    except InputValidationError as exception:
        error = exception
    if error is not None:
        raise click.UsageError(f'{name}: invalid inputs: {error}')
    source = backend_class(backend, cls) if labelling_settings(cls) == () else cls
    return builder, protocol or source.get_default_protocol()


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


def _not_a_report(record) -> bool:
    return getattr(record, 'dbnode_id', None) is None


def run_in_process(builder, announce=None):
    """Run ``builder`` here, showing progress (aiida_sei.cli.progress): report lines as
    ``elapsed Class<pk> message`` (AiiDA's own console handlers skip them meanwhile, so each line
    shows once) and the jobs in flight when the log is quiet. ``announce(node)`` is called once
    the process has its node, before it runs. Returns the node."""
    from aiida.engine.utils import instantiate_process

    from aiida_sei.cli.progress import ProgressLog
    from aiida_sei.profile import local_runner

    logger = logging.getLogger('aiida')  # process nodes log here, with their pk as dbnode_id
    consoles = [h for h in logger.handlers if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler)]
    runner = local_runner()
    process = instantiate_process(runner, builder)
    progress = ProgressLog(start=process.node.ctime.timestamp())

    pending = []

    def tick():
        progress.tick()
        pending[:] = [runner.loop.call_later(1.0 if progress.terminal else 5.0, tick)]

    for console in consoles:
        console.addFilter(_not_a_report)
    logger.addHandler(progress)
    try:
        if announce is not None:
            announce(process.node)
        pending.append(runner.loop.call_later(1.0, tick))
        return runner.run_get_node(process)[1]
    finally:
        for handle in pending:
            handle.cancel()
        logger.removeHandler(progress)
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
    + '\n'.join(f'  {name:26s} {text}' for name, text in WORKFLOWS.items())
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
                                    'the same as --override label.backend=BACKEND; for sei.relax, gpaw or vasp.')
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
