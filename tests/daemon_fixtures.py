"""Fixtures for tests that submit work to a running AiiDA daemon.

Import them into the test module that needs them; there they replace aiida's session-wide
``daemon_client`` (whose profile has no broker), so aiida's own ``started_daemon_client`` and
``submit_and_await`` work on the daemon profile::

    from tests.daemon_fixtures import DAEMON_TIMEOUT, daemon_client, daemon_profile  # noqa: F401

    def test_something(daemon_profile, submit_and_await):
        code = orm.load_code('python@localhost')
        node = submit_and_await(builder, timeout=DAEMON_TIMEOUT)

``daemon_profile`` (module scope) is a fresh profile with a broker, the ``localhost`` computer
and the local codes of ``aiida-sei setup``, made with the same backends as ``aiida-sei setup``.
It is parametrised, so every test using it runs twice:

- ``embedded``: SQLite + the built-in ZeroMQ broker (the daemon runs the broker), always;
- ``services``: PostgreSQL + RabbitMQ in a throwaway database, run when ``SEI_TEST_SERVICES=1``
  (CI sets it after ``tools/services.sh``), skipped otherwise. It reads ``SEI_DB_PASSWORD``
  and optionally ``SEI_DB_USER`` (default sei, a role with CREATEDB) and ``SEI_DB_HOST``.

The daemon (one worker) starts on first use and stops at the end of the module. Do not combine
with ``aiida_profile_clean``: it would empty the daemon profile under the daemon's feet.
``postgres_database`` gives a throwaway database (a dict of its settings) on its own.
To stop and restart the daemon inside a test use :func:`stop_daemon` and :func:`start_daemon`;
:func:`repair_processes` runs `verdi process repair` in between (nodes loaded before it must be
loaded again after it).
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import secrets
import sys

import pytest

#: Seconds a test waits for a submitted process: generous, the 2-core CI machine is shared (with
#: the demo, whose load made 180 s time out once).
DAEMON_TIMEOUT = 300

SERVICES_SKIP = 'PostgreSQL + RabbitMQ variant: run tools/services.sh as root, then set SEI_TEST_SERVICES=1 and SEI_DB_PASSWORD'


def services_settings() -> dict:
    """Connection settings of tools/services.sh's role; skips unless SEI_TEST_SERVICES=1."""
    if os.environ.get('SEI_TEST_SERVICES') != '1':
        pytest.skip(SERVICES_SKIP)
    if 'SEI_DB_PASSWORD' not in os.environ:
        pytest.fail('SEI_TEST_SERVICES=1 needs SEI_DB_PASSWORD (the password tools/services.sh set)')
    return {'db_user': os.environ.get('SEI_DB_USER', 'sei'), 'db_password': os.environ['SEI_DB_PASSWORD'],
            'db_host': os.environ.get('SEI_DB_HOST', 'localhost')}


@contextlib.contextmanager
def throwaway_database(settings: dict):
    """An empty database (C.UTF-8, as tools/services.sh makes them) dropped on exit; yields its name."""
    import psycopg
    from psycopg import sql

    name = f'sei_test_{secrets.token_hex(6)}'
    connect = dict(host=settings['db_host'], user=settings['db_user'], password=settings['db_password'], dbname='postgres', autocommit=True)
    with psycopg.connect(**connect) as connection:
        connection.execute(sql.SQL("CREATE DATABASE {} ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        with psycopg.connect(**connect) as connection:  # FORCE: a daemon worker may still hold a connection
            connection.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(sql.Identifier(name)))


@pytest.fixture
def postgres_database():
    """A throwaway database on tools/services.sh's PostgreSQL: settings plus ``db_name``."""
    settings = services_settings()
    with throwaway_database(settings) as name:
        yield {**settings, 'db_name': name}


@contextlib.contextmanager
def _backends(variant: str):
    from aiida_sei.profile import embedded_backends, postgres_backends

    if variant == 'embedded':
        yield embedded_backends()
        return
    settings = services_settings()
    with throwaway_database(settings) as name:
        yield postgres_backends(name, settings['db_user'], settings['db_password'], settings['db_host'])


@pytest.fixture(scope='module', params=['embedded', 'services'])
def daemon_profile(request, aiida_config, aiida_profile_factory, tmp_path_factory):
    """A loaded profile with a broker, the localhost computer and the local codes (see module doc)."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost, profile_options

    with _backends(request.param) as backends:
        storage_config = dict(backends.storage_config)
        if backends.storage == 'core.psql_dos':
            storage_config['repository_uri'] = tmp_path_factory.mktemp('repository').as_uri()
        with aiida_profile_factory(aiida_config, storage_backend=backends.storage, storage_config=storage_config,
                                   broker_backend=backends.broker, broker_config=backends.broker_config) as profile:
            for option, value in profile_options(backends).items():
                aiida_config.set_option(option, value, scope=profile.name)
            aiida_config.store()  # before the daemon starts: it reads the options from the file
            ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), echo=lambda _: None), echo=lambda _: None)
            yield profile


def stop_daemon(client):
    """Stop the daemon and wait for it; a worker with live processes takes seconds to quit."""
    client.stop_daemon(wait=True, timeout=60)


def start_daemon(client):
    """Start the daemon again; this process then reconnects to the broker.

    Why: on the embedded profile the daemon runs the ZeroMQ broker, and this process's connection
    to the previous broker does not reach the new one: a later ``submit`` would stay CREATED
    forever (aiida-core 2.9.4). A new Python session is unaffected.
    """
    from aiida.manage import get_manager

    client.start_daemon()
    get_manager().reset_runner()  # the runner holds the communicator
    get_manager().reset_broker()


@pytest.fixture(scope='module')
def daemon_client(daemon_profile):
    """Replaces aiida's fixture of the same name: the daemon of ``daemon_profile``, stopped at the end."""
    from aiida.engine.daemon import client as daemon_module

    bindir = pathlib.Path(sys.executable).parent
    with pytest.MonkeyPatch.context() as patch:
        # `make test` runs .venv/bin/python without activating .venv: aiida looked for `verdi` on
        # PATH at import and the daemon needs this environment's.
        patch.setattr(daemon_module, 'VERDI_BIN', str(bindir / 'verdi'))
        patch.setenv('PATH', f'{bindir}{os.pathsep}{os.environ.get("PATH", "")}')
        client = daemon_module.get_daemon_client(daemon_profile.name)
        yield client
        if client.is_daemon_running:
            stop_daemon(client)


def repair_processes(profile) -> str:
    """`verdi process repair`, AiiDA's own recovery after an unclean stop: it re-queues active
    processes whose task did not survive (RabbitMQ loses some at a stop; with ZeroMQ a child
    submitted in the instant the worker stopped).

    On PostgreSQL it first terminates every other connection to the profile's database
    (aiida-core 2.9: "may be orphaned"), this test process's included: close ours first, so the
    next query opens a new one. Node objects loaded before are bound to the closed storage.
    """
    import subprocess

    from aiida.manage import get_manager

    get_manager().reset_profile_storage()
    verdi = pathlib.Path(sys.executable).parent / 'verdi'
    result = subprocess.run([str(verdi), '-p', profile.name, 'process', 'repair', '--force'], capture_output=True, text=True, env=os.environ.copy())
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
