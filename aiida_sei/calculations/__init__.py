"""CalcJobs of aiida-sei, and calcfunctions in ``calculations.functions``.

A CalcJob may define ``progress(workdir) -> str``: what its engine's files say while it runs
(SCF iteration, epoch, MD step), shown by runs in the terminal (aiida_sei.cli.progress).
"""

import pathlib


def read_head(path: pathlib.Path) -> str:
    """The first line of a text file ('' while it does not exist)."""
    try:
        with path.open(errors='replace') as handle:
            return handle.readline().rstrip('\n')
    except OSError:
        return ''


def read_tail(path: pathlib.Path, size: int = 8192) -> str:
    """The last ``size`` bytes of a text file ('' while it does not exist)."""
    try:
        with path.open('rb') as handle:
            handle.seek(0, 2)
            handle.seek(max(0, handle.tell() - size))
            return handle.read().decode(errors='replace')
    except OSError:
        return ''


def set_serial_defaults(spec, parser_name: str | None = None) -> None:
    """Defaults of a single-process job (one rank, no MPI) with stdout in ``aiida.out``."""
    options = spec.inputs['metadata']['options']
    if parser_name:
        options['parser_name'].default = parser_name
    options['resources'].default = {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    options['withmpi'].default = False
    options['output_filename'].default = 'aiida.out'
