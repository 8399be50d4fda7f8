"""The active-learning loop through the daemon: stopping the daemon in the middle of the loop
and starting it again finishes the loop with no DFT call repeated and no frame lost, and the
resumed run matches an uninterrupted one frame for frame. On the embedded profile only: what is
tested is the loop's checkpoints; the daemon tests of test_daemon.py cover both brokers."""

import time

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node, submit

from aiida_sei.calculations.functions.structures import build_structure_node
from tests.daemon_fixtures import daemon_client, daemon_profile, repair_processes  # noqa: F401
from tests.test_active_learning import LJ_LABELS, build

#: Seconds for a whole loop on the shared 2-core CI machine.
LOOP_TIMEOUT = 900


def labels_of(node) -> list:
    return [c for c in node.called if c.process_label == 'LabelWorkChain']


def label_jobs_of(node) -> list:
    return [d for d in node.called_descendants if isinstance(d, orm.CalcJobNode) and d.process_label == 'AseCalculation']


def wait_until(condition, what: str, timeout: float = LOOP_TIMEOUT):
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout, f'timed out waiting for {what}'
        time.sleep(0.5)


def fingerprint(node) -> tuple:
    frames = list(node.outputs.dataset.iter_frames())
    return [f.base.attributes.get('structure_hash') for f in frames], [f.energy for f in frames]


@pytest.mark.parametrize('daemon_profile', ['embedded'], indirect=True)  # about the loop's checkpoints, not the broker
def test_loop_finishes_after_a_daemon_restart_with_nothing_repeated_or_lost(daemon_profile, submit_and_await, started_daemon_client):
    code = orm.load_code('python@localhost')
    structure = build_structure_node('bcc-li', {'supercell': [2, 2, 2]})['structure']
    _, reference = run_get_node(build(code, structure, LJ_LABELS))  # uninterrupted, in this process
    assert reference.is_finished_ok, reference.exit_message

    node = submit(build(code, structure, LJ_LABELS))
    wait_until(lambda: len(labels_of(node)) >= 2 or node.is_terminated, 'the second DFT call of the loop')
    started_daemon_client.stop_daemon(wait=True, timeout=60)
    assert not node.is_terminated, 'the loop finished before the daemon was stopped: nothing was tested'
    calls_before, pks = len(labels_of(node)), (node.pk, reference.pk)
    repair_processes(daemon_profile)
    started_daemon_client.start_daemon()
    node, reference = (orm.load_node(pk) for pk in pks)  # the repair closed the storage they were loaded from
    node = submit_and_await(node, timeout=LOOP_TIMEOUT)

    assert node.is_finished_ok, node.exit_message
    assert len(labels_of(node)) > calls_before  # the loop went on after the restart
    assert len(labels_of(node)) == len(label_jobs_of(node)) == len(node.outputs.dataset)  # no call repeated, none lost
    assert len(node.outputs.dataset) == len(reference.outputs.dataset)
    hashes, energies = fingerprint(node)
    reference_hashes, reference_energies = fingerprint(reference)
    assert hashes == reference_hashes
    assert np.allclose(energies, reference_energies, atol=1e-8)
    assert node.outputs.state.step == reference.outputs.state.step
    assert np.allclose(node.outputs.state.get_array('positions'), reference.outputs.state.get_array('positions'), atol=1e-8)
