"""``sei-gpaw-setups``: generate the GPAW PAW setups aiida-sei's protocols use beyond gpaw-data.

gpaw-data ships Li with one valence electron (``Li.PBE``, 1s in the frozen core); the paper's
VASP labels use Li_sv (1s2 2s1 in valence). GPAW's own generator makes the equivalent setup,
``Li.sv.PBE``, in seconds. It is written under ``<python prefix>/share/sei-gpaw-setups``, where
the GPAW runner of `sei.gpaw` looks (so the Python of a code finds the setups installed with it),
or into ``--directory`` (then add that directory to ``$GPAW_SETUP_PATH``).
"""

from __future__ import annotations

import argparse
import pathlib
import subprocess
import sys

#: Setup name -> (symbol, arguments of `gpaw dataset`): Li with 3 valence electrons, as VASP's Li_sv.
SETUPS = {'sv': ('Li', ['-f', 'PBE', '-e', '3', '-t', 'sv'])}


def default_directory() -> pathlib.Path:
    """Where the runner of the same Python environment looks for the project's setups."""
    return pathlib.Path(sys.prefix) / 'share' / 'sei-gpaw-setups'


def generate(directory: pathlib.Path) -> list[pathlib.Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, (symbol, arguments) in SETUPS.items():
        subprocess.run([sys.executable, '-m', 'gpaw', 'dataset', symbol, *arguments, '-w'], cwd=directory, check=True,
                       stdout=subprocess.DEVNULL)
        written.append(directory / f'{symbol}.{name}.PBE')
    return written


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--directory', type=pathlib.Path, default=default_directory(), help='where to write (default: %(default)s)')
    for path in generate(parser.parse_args(argv).directory):
        print(f'wrote {path}')


if __name__ == '__main__':
    main()
