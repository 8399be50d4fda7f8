"""Stand-in executables that write the real formats of licensed or GPU-only engines."""

import os
import pathlib
import subprocess
import sys

VASP_STANDIN = pathlib.Path(__file__).parent / 'vasp_standin.py'


def run_vasp_standin(directory, atoms, incar: str, fail: str | None = None) -> pathlib.Path:
    """Run the stand-in VASP (Lennard-Jones, VASP's file formats) on ``atoms`` with ``incar`` in
    ``directory``, a 2x2x2 Gamma mesh and a fake Li/S/P/Cl POTCAR; ``fail``: its SEI_STANDIN_FAIL
    mode (``scf``: every SCF stops at NELM). Returns the directory."""
    from ase.io import write

    from tests.stand_ins.make_fake_potcars import write_fake_potcar_family

    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    write(directory / 'POSCAR', atoms, format='vasp')
    (directory / 'INCAR').write_text(incar)
    (directory / 'KPOINTS').write_text('mesh\n0\nGamma\n2 2 2\n0 0 0\n')
    potcars = write_fake_potcar_family(directory / 'potcars', elements=tuple(dict.fromkeys(atoms.get_chemical_symbols())))
    (directory / 'POTCAR').write_text(''.join((directory / 'potcars' / potcars[s] / 'POTCAR').read_text() for s in dict.fromkeys(atoms.get_chemical_symbols())))
    env = {**os.environ, 'SEI_STANDIN_CALCULATOR': 'lj', 'PATH': f'{pathlib.Path(sys.executable).parent}:{os.environ["PATH"]}'}
    if fail:
        env['SEI_STANDIN_FAIL'] = fail
    subprocess.run([sys.executable, str(VASP_STANDIN)], cwd=directory, env=env, check=True, capture_output=True)
    return directory
