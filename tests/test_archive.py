"""The demo's whole run survives `verdi archive create` and `verdi archive import` into a fresh
profile: same nodes, links and repository files, same answers to the provenance queries, and
the import unpickles nothing. The run is the test run's shared `demo_run` (the README's main job)."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys
import textwrap

from aiida import orm

ROOT = pathlib.Path(__file__).resolve().parents[1]

#: Refuses every unpickling in the process it starts (the archive import must not need any).
PICKLE_GUARD = textwrap.dedent('''
    import pickle

    def refuse(*args, **kwargs):
        raise RuntimeError('pickle used during archive import')

    class RefusingUnpickler:
        def __init__(self, *args, **kwargs):
            refuse()

    pickle.load = pickle.loads = refuse
    pickle.Unpickler = RefusingUnpickler
''')

#: In a fresh AiiDA configuration: a bare SQLite profile, the archive imported with
#: `verdi archive import`, then the imported graph described as JSON.
IMPORT_SCRIPT = PICKLE_GUARD + textwrap.dedent('''
    import json, sys
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
    print('DESCRIPTION', json.dumps(describe()))
''')

#: The original: the demo's own profile, described the same way.
DESCRIBE_SCRIPT = textwrap.dedent('''
    import json
    from aiida import load_profile
    load_profile('sei')
    from tests.test_archive import describe
    print('DESCRIPTION', json.dumps(describe()))
''')


def roles() -> dict:
    """The nodes of the run the queries start from, found from its one sei.interface node."""
    (interface,) = orm.QueryBuilder().append(orm.WorkChainNode, filters={'attributes.process_label': 'InterfaceWorkChain'}).all(flat=True)
    outputs = interface.outputs
    compiled = outputs.trajectory.creator.inputs.model
    return {'interface': interface, 'compiled': compiled, 'dataset': outputs.dataset, 'trajectory': outputs.trajectory,
            'composition': outputs.composition, 'frame': orm.load_node(outputs.model.creator.inputs.dataset.frame_uuids[0])}


def describe() -> dict:
    """Nodes, links, repository hashes and query answers of the loaded profile, by UUID."""
    from aiida_sei import queries

    nodes = orm.QueryBuilder().append(orm.Node, project=['uuid', 'node_type']).all()
    links = orm.QueryBuilder().append(orm.Node, project='uuid', tag='in').append(
        orm.Node, with_incoming='in', project='uuid', edge_project=['type', 'label']).all()
    hashes = {uuid: orm.load_node(uuid).base.repository.hash() for uuid, _ in nodes}
    run = roles()
    uuids = lambda found: [node.uuid for node in found]  # noqa: E731
    sorted_uuids = lambda found: sorted(uuids(found))  # pks, hence pk order, differ between profiles  # noqa: E731
    return {
        'nodes': sorted(map(list, nodes)),
        'links': sorted(map(list, links)),
        'repository': hashes,
        'model_bytes_sha256': run['compiled'].base.repository.hash(),
        'dataset_frames': [frame.get_frame().positions.tolist() for frame in run['dataset'].iter_frames()],
        'model_frames': uuids(queries.model_frames(run['compiled'])),
        'labelled_by': sorted_uuids(queries.model_labelling_processes(run['compiled'], validation=True)),
        'models_trained_on': sorted_uuids(queries.models_trained_on(run['frame'])),
        'composition': queries.composition_over_time(run['trajectory']),
        'ancestry': [sorted_uuids(queries.ancestor_processes(run[role])) for role in ('composition', 'compiled')],
    }


def description(script: str, *args, config: pathlib.Path, cwd: pathlib.Path) -> dict:
    env = {**os.environ, 'AIIDA_PATH': str(config), 'PYTHONPATH': str(ROOT)}
    env.pop('AIIDA_PROFILE', None)
    result = subprocess.run([sys.executable, '-c', script, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith('DESCRIPTION '))
    return json.loads(line.removeprefix('DESCRIPTION '))


def test_archive_round_trip_into_a_fresh_profile_without_pickle(demo_run, tmp_path):
    original = description(DESCRIBE_SCRIPT, config=demo_run.directory / 'config', cwd=tmp_path)
    imported = description(IMPORT_SCRIPT, demo_run.archive, config=tmp_path, cwd=tmp_path)
    assert len(imported['nodes']) == len(original['nodes']) > 100
    for key in ('nodes', 'links', 'repository', 'model_bytes_sha256', 'dataset_frames'):
        assert imported[key] == original[key], key
    for key in ('model_frames', 'labelled_by', 'models_trained_on', 'composition', 'ancestry'):
        assert imported[key] == original[key] and original[key], key


def test_the_pickle_guard_would_catch_an_unpickling(tmp_path):
    """The guard of the import script is live: an unpickling under it fails."""
    probe = PICKLE_GUARD + 'pickle.loads(pickle.dumps(1))\n'
    result = subprocess.run([sys.executable, '-c', probe], capture_output=True, text=True)
    assert result.returncode != 0 and 'pickle used during archive import' in result.stderr
