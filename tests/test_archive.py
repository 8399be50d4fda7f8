"""A whole small run survives `verdi archive create` and `verdi archive import` into a fresh
profile: same nodes, links and repository files, same answers to the provenance queries, and
the import unpickles nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest
from aiida import orm

from tests.test_queries import build_run, python_code  # noqa: F401  (module-scoped fixture)

#: Runs in a fresh AiiDA configuration: pickle is disabled before anything is imported, then a
#: bare SQLite profile is created, the archive imported with `verdi archive import`, and the
#: imported graph described as JSON (the same description the test makes of the original).
IMPORT_SCRIPT = textwrap.dedent('''
    import json, pickle, sys

    def refuse(*args, **kwargs):
        raise RuntimeError('pickle used during archive import')

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    pickle.load = pickle.loads = refuse
    pickle.Unpickler = RefusingUnpickler

    from aiida.manage.configuration import create_profile, get_config, load_profile
    from aiida.cmdline.commands.cmd_verdi import verdi

    config = get_config(create=True)
    create_profile(config, name='imported', email='test@localhost', storage_backend='core.sqlite_dos', storage_config={})
    config.store()
    load_profile('imported')
    try:
        verdi.main(args=['-p', 'imported', 'archive', 'import', sys.argv[1]], standalone_mode=False)
    except SystemExit as exit:
        assert not exit.code, exit.code
    from tests.test_archive import describe
    print('DESCRIPTION', json.dumps(describe(json.loads(sys.argv[2]))))
''')


def describe(roles: dict) -> dict:
    """Nodes, links, repository hashes and query answers of the loaded profile, by UUID.
    ``roles``: the UUIDs of the run's nodes the queries start from."""
    from aiida_sei import queries

    nodes = orm.QueryBuilder().append(orm.Node, project=['uuid', 'node_type']).all()
    links = orm.QueryBuilder().append(orm.Node, project='uuid', tag='in').append(
        orm.Node, with_incoming='in', project='uuid', edge_project=['type', 'label']).all()
    hashes = {uuid: orm.load_node(uuid).base.repository.hash() for uuid, _ in nodes}
    uuids = lambda found: [node.uuid for node in found]  # noqa: E731
    sorted_uuids = lambda found: sorted(uuids(found))  # pks, hence pk order, differ between profiles  # noqa: E731
    return {
        'nodes': sorted(map(list, nodes)),
        'links': sorted(map(list, links)),
        'repository': hashes,
        'model_bytes': orm.load_node(roles['compiled']).get_content(mode='rb').hex(),
        'dataset_frames': [frame.get_frame().positions.tolist() for frame in orm.load_node(roles['dataset']).iter_frames()],
        'model_frames': uuids(queries.model_frames(roles['compiled'])),
        'labelled_by': sorted_uuids(queries.model_labelling_processes(roles['compiled'], validation=True)),
        'models_trained_on': sorted_uuids(queries.models_trained_on(roles['frame'])),
        'composition': queries.composition_over_time(roles['trajectory']),
        'ancestry': [sorted_uuids(queries.ancestor_processes(roles[role])) for role in ('figure', 'compiled')],
    }


@pytest.fixture(scope='module')
def exported(python_code, tmp_path_factory):  # noqa: F811
    """(archive path, UUIDs of the roles, description of the original profile)."""
    from click.testing import CliRunner
    from aiida.cmdline.commands.cmd_archive import create

    run = build_run(python_code, tmp_path_factory.mktemp('run'))
    roles = {role: run[role].uuid for role in ('compiled', 'dataset', 'trajectory', 'figure')}
    roles['frame'] = run['halves']['train'].frame_uuids[0]
    path = tmp_path_factory.mktemp('archive') / 'run.aiida'
    result = CliRunner().invoke(create, ['--all', str(path)], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return path, roles, describe(roles)


def test_archive_round_trip_into_a_fresh_profile_without_pickle(exported, tmp_path):
    import pathlib

    path, roles, original = exported
    root = pathlib.Path(__file__).parent.parent
    env = {**os.environ, 'AIIDA_PATH': str(tmp_path), 'PYTHONPATH': str(root)}
    result = subprocess.run([sys.executable, '-c', IMPORT_SCRIPT, str(path), json.dumps(roles)], env=env, cwd=tmp_path,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith('DESCRIPTION '))
    imported = json.loads(line.removeprefix('DESCRIPTION '))
    assert len(imported['nodes']) == len(original['nodes']) > 50
    for key in ('nodes', 'links', 'repository', 'model_bytes', 'dataset_frames'):
        assert imported[key] == original[key], key
    for key in ('model_frames', 'labelled_by', 'models_trained_on', 'composition', 'ancestry'):
        assert imported[key] == original[key] and original[key], key


def test_the_pickle_guard_would_catch_an_unpickling(tmp_path):
    """The guard of the import script is live: an unpickling under it fails."""
    guard = IMPORT_SCRIPT.split('from aiida')[0]
    probe = guard + 'pickle.loads(pickle.dumps(1))\n'
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)
    assert result.returncode != 0 and 'pickle used during archive import' in result.stderr
