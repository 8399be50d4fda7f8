"""LAMMPS production MD with an Allegro model: settings and input script (pure: dicts in, text out).

The paper's production runs: NPT, Nosé-Hoover thermostat and barostat with time constants 0.1 ps
and 1 ps, 300 K, 1 fs steps (`fix npt`/`fix nvt` are Nosé-Hoover chains in LAMMPS). Units in the
settings: K, GPa, fs, ps; LAMMPS itself runs in `metal` units (bar, ps, eV, Å).
"""

from __future__ import annotations

from aiida_sei.science.lammps_plugin import PLUGIN_ENVIRONMENT_VARIABLE

#: Files of a run, relative to its working directory.
DATA_FILE = 'structure.data'
MODEL_FILE = 'model.nequip.pt2'
INPUT_FILE = 'in.lammps'
LOG_FILE = 'log.lammps'
DUMP_FILE = 'trajectory.dump'

#: Thermo columns written every `thermo_interval` steps, in this order.
THERMO_KEYWORDS = ('step', 'temp', 'press', 'vol', 'pe', 'etotal')

BAR_PER_GPA = 1.0e4

DEFAULTS = {
    'ensemble': 'npt',
    'temperature': 300.0,          # K
    'pressure': 0.0,               # GPa (NPT only)
    'barostat_coupling': 'aniso',  # iso, aniso (x, y, z each on its own) or tri (also the tilts)
    'timestep': 1.0,               # fs
    'steps': 1000,
    'thermostat_damping': 0.1,     # ps
    'barostat_damping': 1.0,       # ps
    'seed': 12345,                 # initial velocities
    'dump_interval': 100,          # steps between trajectory frames
    'thermo_interval': 10,         # steps between thermo rows
}
ENSEMBLES = ('npt', 'nvt')
COUPLINGS = ('iso', 'aniso', 'tri')


class MdSettingsError(ValueError):
    """MD parameters that are unknown or out of range."""


def md_settings(parameters: dict | None = None) -> dict:
    """The defaults updated with ``parameters``; unknown keys and bad values raise."""
    parameters = dict(parameters or {})
    unknown = set(parameters) - set(DEFAULTS)
    if unknown:
        raise MdSettingsError(f'unknown MD parameters {sorted(unknown)}; known: {", ".join(DEFAULTS)}')
    settings = {**DEFAULTS, **parameters}
    if settings['ensemble'] not in ENSEMBLES:
        raise MdSettingsError(f'ensemble must be one of {ENSEMBLES}, got {settings["ensemble"]!r}')
    if settings['barostat_coupling'] not in COUPLINGS:
        raise MdSettingsError(f'barostat_coupling must be one of {COUPLINGS}, got {settings["barostat_coupling"]!r}')
    for key in ('temperature', 'timestep', 'thermostat_damping', 'barostat_damping', 'pressure'):
        if not _is_number(settings[key]) or (key != 'pressure' and not settings[key] > 0):
            raise MdSettingsError(f'{key} must be a {"" if key == "pressure" else "positive "}number, got {settings[key]!r}')
    for key in ('steps', 'dump_interval', 'thermo_interval', 'seed'):
        if not _is_number(settings[key]) or not isinstance(settings[key], int) or settings[key] < (0 if key == 'steps' else 1):
            raise MdSettingsError(f'{key} must be a positive integer, got {settings[key]!r}')
    return settings


def _is_number(value) -> bool:
    """A real number that is finite (True is an int to Python, not a temperature to LAMMPS)."""
    import math

    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def lammps_types(structure_species, model_species) -> list[str]:
    """Species of the LAMMPS atom types 1..n: those of the structure, in the model's order."""
    missing = set(structure_species) - set(model_species)
    if missing:
        raise MdSettingsError(f'the structure holds {", ".join(sorted(missing))}, which the model lacks (model species: {" ".join(model_species)})')
    return [s for s in model_species if s in set(structure_species)]


def _integrator(settings: dict) -> str:
    temperature, tdamp = settings['temperature'], settings['thermostat_damping']
    fix = f'fix md all {settings["ensemble"]} temp {temperature} {temperature} {tdamp}'
    if settings['ensemble'] == 'npt':
        pressure = settings['pressure'] * BAR_PER_GPA
        fix += f' {settings["barostat_coupling"]} {pressure} {pressure} {settings["barostat_damping"]}'
    return fix


def input_script(types: list[str], settings: dict, load_plugin: bool = True) -> str:
    """The LAMMPS input of an MD run with `pair_style allegro` on the files named above.

    With ``load_plugin`` the script loads the project's plugin from the path in the environment
    variable ``SEI_PAIR_ALLEGRO`` (set by the code); without it, the LAMMPS must have
    `pair_style allegro` built in (mir-group/pair_nequip_allegro on a cluster).
    """
    plugin = [f'variable sei_plugin getenv {PLUGIN_ENVIRONMENT_VARIABLE}', 'plugin load ${sei_plugin}'] if load_plugin else []
    lines = [
        f'# aiida-sei: {settings["ensemble"].upper()} MD with pair_style allegro',
        *plugin,
        'units metal',
        'atom_style atomic',
        'boundary p p p',
        f'read_data {DATA_FILE}',
        'pair_style allegro',
        f'pair_coeff * * {MODEL_FILE} {" ".join(types)}',
        f'timestep {settings["timestep"] / 1000.0}',
        f'velocity all create {settings["temperature"]} {settings["seed"]} mom yes rot no dist gaussian',
        _integrator(settings),
        f'thermo_style custom {" ".join(THERMO_KEYWORDS)}',
        'thermo_modify format float %.10g flush yes',
        f'thermo {settings["thermo_interval"]}',
        # image flags: how many times each atom crossed each boundary, to unwrap its path (MSD)
        f'dump trajectory all custom {settings["dump_interval"]} {DUMP_FILE} id type x y z ix iy iz',
        'dump_modify trajectory sort id format float %.8g',
        f'run {settings["steps"]}',
    ]
    return '\n'.join(lines) + '\n'
