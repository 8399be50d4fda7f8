"""What a run in this interpreter shows while it runs: its processes' report lines as a progress
log (elapsed time, process, message), and, whenever the log is quiet, the jobs in flight with
their elapsed time and what their engine says (SCF iteration, epoch, MD step)."""

from __future__ import annotations

import logging
import pathlib
import re
import shutil
import sys
import time

import click

#: `[pk|Class|step]: ` that AiiDA puts before every report message.
REPORT_PREFIX = re.compile(r'^\[(\d+)\|(\w+)\|\w+\]: ')
#: Report lines that say nothing new in a progress log (still in `verdi process report`).
ROUTINE = re.compile(r'^(remote folders will not be cleaned|work chain completed after 1 iterations|'
                     r'cleaned remote folders of calculations)')


def elapsed(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    return f'{minutes // 60}:{minutes % 60:02d}:{seconds:02d}' if minutes >= 60 else f'{minutes}:{seconds:02d}'


def progress_line(record, start: float) -> str | None:
    """A report record as ``elapsed Class<pk> message``; None for records that are not reports
    or say nothing new."""
    pk = getattr(record, 'dbnode_id', None)
    if pk is None:
        return None
    message = record.getMessage()
    match = REPORT_PREFIX.match(message)
    process = f'{match.group(2)}<{match.group(1)}>' if match else f'<{pk}>'
    message = message[match.end():] if match else message
    if ROUTINE.match(message):
        return None
    return f'{elapsed(record.created - start):>6s} {process} {message}'


def job_progress(node) -> str:
    """``Class<pk> m:ss`` of a job in flight, with what its CalcJob's ``progress(workdir)`` reads
    from the working directory (local computers only; elsewhere the time alone)."""
    text = f'{node.process_label}<{node.pk}> {elapsed(time.time() - node.ctime.timestamp())}'
    workdir = node.get_remote_workdir()
    reader = getattr(node.process_class, 'progress', None) if node.process_type else None
    if reader is None or workdir is None or node.computer.transport_type != 'core.local':
        return text
    detail = reader(pathlib.Path(workdir))
    return f'{text} {detail}' if detail else text


#: Jobs a progress line names; a sweep runs dozens at once, and the line would fill the screen.
SHOWN_JOBS = 4


def in_flight(jobs: list, shown: int = SHOWN_JOBS) -> str:
    """The first ``shown`` jobs with their progress, and how many more run."""
    text = '; '.join(job_progress(node) for node in jobs[:shown])
    return f'{text}; and {len(jobs) - shown} more' if len(jobs) > shown else text


def jobs_in_flight(since: float) -> list:
    from aiida import orm

    query = orm.QueryBuilder().append(orm.CalcJobNode, filters={
        'ctime': {'>': _datetime(since)}, 'attributes.process_state': {'in': ['created', 'waiting', 'running']}})
    return sorted(query.all(flat=True), key=lambda node: node.pk)


def _datetime(timestamp: float):
    from datetime import datetime, timezone

    return datetime.fromtimestamp(timestamp, tz=timezone.utc)


class ProgressLog(logging.Handler):
    """Echoes report lines as a progress log; ``tick`` shows the jobs in flight when the log has
    been quiet: on a terminal one line redrawn every second, otherwise a line after ``quiet`` s."""

    def __init__(self, start: float, quiet: float = 20.0, stream=None):
        from aiida.common.log import LOG_LEVEL_REPORT

        super().__init__(level=LOG_LEVEL_REPORT)
        self.start, self.quiet, self.stream = start, quiet, stream or sys.stdout
        self.terminal = self.stream.isatty()
        self.last_output, self.status_shown = time.time(), False

    def echo(self, line: str) -> None:
        if self.status_shown:
            click.echo('\r\033[K', nl=False, file=self.stream)
            self.status_shown = False
        click.echo(line, file=self.stream)
        self.last_output = time.time()

    def emit(self, record):
        line = progress_line(record, self.start)
        if line is not None:
            self.echo(line)

    def tick(self) -> None:
        now = time.time()
        if not self.terminal and now - self.last_output < self.quiet:
            return
        jobs = jobs_in_flight(self.start)
        if not jobs:
            return
        status = f'{elapsed(now - self.start):>6s} running: ' + in_flight(jobs)
        if self.terminal:
            width = shutil.get_terminal_size().columns
            click.echo(f'\r\033[K{status[:width - 1]}', nl=False, file=self.stream)
            self.status_shown = True
        else:
            self.echo(status)
