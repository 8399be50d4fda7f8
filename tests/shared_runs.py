"""Expensive runs made once per test run and shared by every test and pytest-xdist worker, each
under a file lock in the run's shared temporary directory. Plain Python, no pytest: a worker
starts the demo here in a background process (``python tests/shared_runs.py DIRECTORY``) as soon
as its collection holds a test that reads it, so the demo runs while the workers run other
tests (tests/conftest.py).
"""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys
import traceback

BIN = pathlib.Path(sys.executable).parent


def made_once(directory: pathlib.Path, make) -> pathlib.Path:
    """``make(directory)`` run once per test run into ``directory``; its path. A failure is
    recorded and raised to every later caller instead of being retried."""
    from filelock import FileLock

    with FileLock(str(directory) + '.lock'):
        if (directory / 'failed').exists():
            raise AssertionError(f'{directory.name} failed earlier in this test run:\n{(directory / "failed").read_text()}')
        if not (directory / 'done').exists():
            directory.mkdir(exist_ok=True)
            try:
                make(directory)
            except BaseException:
                (directory / 'failed').write_text(traceback.format_exc())
                raise
            (directory / 'done').touch()
    return directory


def command_runner(config: pathlib.Path, cwd: pathlib.Path):
    """Runs a command of this environment with AIIDA_PATH=``config`` in ``cwd``; returns the
    CompletedProcess and, with ``check`` (default), fails on a non-zero exit."""
    env = {**os.environ, 'AIIDA_PATH': str(config)}
    env.pop('AIIDA_PROFILE', None)

    def run(*args, check=True):
        result = subprocess.run([str(BIN / args[0]), *map(str, args[1:])], env=env, capture_output=True, text=True, cwd=cwd)
        if check and result.returncode != 0:
            raise AssertionError(f'{args} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}')
        return result

    return run


def run_demo(directory: pathlib.Path) -> None:
    """`aiida-sei demo --output out` in its own AiiDA configuration, and an archive of it."""
    run = command_runner(directory / 'config', directory)
    result = run('aiida-sei', 'demo', '--output', 'out')
    (directory / 'stdout.txt').write_text(result.stdout)
    run('verdi', '-p', 'sei', 'archive', 'create', '--all', 'demo.aiida')


def start_in_background(directory: pathlib.Path) -> None:
    """The demo into ``directory`` in a process of its own, started by the first caller only
    (its pid in ``directory``.pid, for the end of the test run)."""
    try:
        marker = os.open(str(directory) + '.pid', os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except FileExistsError:
        return
    process = subprocess.Popen([sys.executable, __file__, str(directory)], start_new_session=True,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.write(marker, str(process.pid).encode())
    os.close(marker)


def stop_background(directory: pathlib.Path) -> None:
    """End a background demo still running (a test run stopped early): it is no one's to wait for."""
    pid_file = pathlib.Path(str(directory) + '.pid')
    if pid_file.exists() and pid_file.read_text() and not (directory / 'done').exists():
        try:
            os.killpg(int(pid_file.read_text()), 15)
        except ProcessLookupError:
            pass


if __name__ == '__main__':
    made_once(pathlib.Path(sys.argv[1]), run_demo)
