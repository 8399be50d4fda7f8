"""Shared fixtures: AiiDA's own pytest fixtures give every test session a temporary profile.

Expensive results are made once per test run and shared by every test (and every pytest-xdist
worker) that needs them, under a file lock in the run's shared temporary directory:
:func:`demo_run` (the README's main job) here, ``tiny_allegro`` in ``tests/allegro_fixtures.py``.
"""

from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

import pytest

from tests.shared_runs import command_runner, made_once, run_demo, start_in_background, stop_background

pytest_plugins = ['aiida.tools.pytest_fixtures']

DEMO = 'demo-run'
#: Retrieved files of real engine runs, recorded by tests/fixtures/record.py: <entry point>/<case>/
FIXTURES = pathlib.Path(__file__).parent / 'fixtures'


def shared_directory(tmp_path_factory) -> pathlib.Path:
    """A directory every xdist worker of this test run sees (the run's own basetemp otherwise)."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get('PYTEST_XDIST_WORKER') else base


def once(tmp_path_factory, name: str, make) -> pathlib.Path:
    """``make(directory)`` run once per test run into the shared ``name`` directory; its path."""
    return made_once(shared_directory(tmp_path_factory) / name, make)


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist the demo starts now, in a background process, when a collected test
    reads it: it runs while the workers run the modules before it."""
    if os.environ.get('PYTEST_XDIST_WORKER') and any('demo_run' in item.fixturenames for item in items):
        start_in_background(shared_directory(config._tmp_path_factory) / DEMO)  # as xdist itself reads it


def pytest_sessionfinish(session):
    """The controller, last: a background demo still running (the run stopped early) is ended."""
    if not os.environ.get('PYTEST_XDIST_WORKER'):
        stop_background(session.config._tmp_path_factory.getbasetemp() / DEMO)


@dataclass
class DemoRun:
    """`aiida-sei demo --output out` in its own AiiDA configuration."""

    directory: pathlib.Path
    stdout: str
    pk: int

    @property
    def output(self) -> pathlib.Path:
        return self.directory / 'out'

    @property
    def archive(self) -> pathlib.Path:
        """`verdi archive create --all` of the demo's profile, written right after the run."""
        return self.directory / 'demo.aiida'

    def run(self, *args, check=True):
        """A command on the demo's profile, run in its directory."""
        return command_runner(self.directory / 'config', self.directory)(*args, check=check)


@pytest.fixture(scope='session')
def demo_run(tmp_path_factory) -> DemoRun:
    """The README's main job (CHGNet stand-in labels, every step, refinement included) run once for
    the whole test run: the pipeline tests, the demo command's test and the report read it (in its
    profile, or imported from its archive)."""
    directory = once(tmp_path_factory, DEMO, run_demo)
    stdout = (directory / 'stdout.txt').read_text()
    return DemoRun(directory, stdout, int(stdout.split('sei.interface<')[1].split('>')[0]))


@pytest.fixture(scope='module')
def demo_imported(aiida_profile, demo_run):
    """The demo's run imported into this module's emptied test storage: its sei.interface node."""
    from aiida import orm
    from aiida.tools.archive import import_archive

    aiida_profile.reset_storage()
    import_archive(demo_run.archive)
    query = orm.QueryBuilder().append(orm.WorkChainNode, filters={'attributes.process_label': 'InterfaceWorkChain'})
    return query.one()[0]


@pytest.fixture
def generate_calc_job_node(aiida_localhost):
    """Factory of finished CalcJobNodes for parser and handler tests (as aiida-quantumespresso's
    conftest): ``entry_point`` (e.g. ``sei.nequip_train``), its ``inputs`` linked, and a retrieved
    folder holding the recorded real output ``FIXTURES/<entry_point>/<case>/`` and/or ``files``
    ({name: text}). Parse it with ``Parser.parse_from_node(node, store_provenance=False)``."""
    import io

    from aiida import orm
    from aiida.common.links import LinkType

    def factory(entry_point: str, case: str | None = None, inputs: dict | None = None, files: dict | None = None, computer=None):
        node = orm.CalcJobNode(computer=computer or aiida_localhost, process_type=f'aiida.calculations:{entry_point}')
        node.set_option('resources', {'num_machines': 1})
        node.set_option('output_filename', 'aiida.out')
        for label, value in (inputs or {}).items():
            node.base.links.add_incoming(value, LinkType.INPUT_CALC, label)
        node.set_process_state('finished')
        node.store()
        retrieved = orm.FolderData(tree=FIXTURES / entry_point / case) if case else orm.FolderData()
        for name, text in (files or {}).items():
            retrieved.base.repository.put_object_from_filelike(io.StringIO(text), name)
        retrieved.base.links.add_incoming(node, LinkType.CREATE, 'retrieved')
        retrieved.store()
        return node

    return factory


@pytest.fixture(scope='session', autouse=True)
def compile_cache_of_the_test_run(tmp_path_factory):
    """Every AOTInductor compile of the test run (nequip-compile jobs, the tiny model) shares one
    kernel cache inside the run: repeated kernels compile once (~30 instead of ~45 s a model),
    and no run reads a cache an earlier run left in /tmp (CI starts cold; so do the tests)."""
    os.environ['TORCHINDUCTOR_CACHE_DIR'] = str(shared_directory(tmp_path_factory) / 'torchinductor')
