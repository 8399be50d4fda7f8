"""LAMMPS production MD with an Allegro model: settings and input script (pure: dicts in, text out).

The paper's production runs: NPT, Nosé-Hoover thermostat and barostat with time constants 0.1 ps
and 1 ps, 300 K, 1 fs steps (`fix npt`/`fix nvt` are Nosé-Hoover chains in LAMMPS). Units in the
settings: K, GPa, fs, ps; LAMMPS itself runs in `metal` units (bar, ps, eV, Å).

A run that a walltime cuts goes on from its last restart file: the script writes one every
`restart_interval` steps, a continuation reads it instead of the data file and runs `upto` the
requested step, so the steps of all segments count from the same origin and their frames and
thermo rows join into one run (:func:`last_restart`, :func:`segment_masks`).
"""

from __future__ import annotations

from aiida_sei.science.lammps_plugin import PLUGIN_ENVIRONMENT_VARIABLE

#: Files of a run, relative to its working directory.
DATA_FILE = 'structure.data'
MODEL_FILE = 'model.nequip.pt2'
INPUT_FILE = 'in.lammps'
LOG_FILE = 'log.lammps'
DUMP_FILE = 'trajectory.dump'
#: Restart files the run writes in turn. Two, not one: a job killed while LAMMPS writes one
#: leaves the other, one interval older, intact (a single file would be the only one, half
#: written); and unlike `restart N file.*` (one file per write) the disk use stays bounded.
RESTART_FILES = ('restart.a', 'restart.b')
#: The parent's restart file, copied into a continuation's folder under a name of its own, so
#: that the continuation's own restart files never overwrite it.
PARENT_RESTART_FILE = 'restart.parent'

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
    'restart_interval': None,      # steps between restart files; None: every dump_interval and thermo_interval (their lcm); 0: none
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
    settings['restart_interval'] = _restart_interval(settings)
    return settings


def _restart_interval(settings: dict) -> int:
    """A multiple of thermo_interval: a thermo row at each restart step, printed after LAMMPS has
    written the file, is how :func:`last_restart` knows that the file is complete."""
    import math

    interval, thermo = settings['restart_interval'], settings['thermo_interval']
    if interval is None:
        return math.lcm(settings['dump_interval'], thermo)  # also a frame at each restart step
    if not _is_number(interval) or not isinstance(interval, int) or interval < 0 or interval % thermo:
        raise MdSettingsError(f'restart_interval must be 0 (no restart files) or a positive multiple of thermo_interval ({thermo}), got {interval!r}')
    return interval


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


def input_script(types: list[str], settings: dict, load_plugin: bool = True, restart: bool = False) -> str:
    """The LAMMPS input of an MD run with `pair_style allegro` on the files named above.

    With ``load_plugin`` the script loads the project's plugin from the path in the environment
    variable ``SEI_PAIR_ALLEGRO`` (set by the code); without it, the LAMMPS must have
    `pair_style allegro` built in (mir-group/pair_nequip_allegro on a cluster).

    With ``restart`` it continues a cut run from ``PARENT_RESTART_FILE``: atoms, velocities, box,
    step and the thermostat/barostat variables of `fix md` come from that file, so there is no
    data file and no `velocity create`. Every run goes `upto` step ``steps``: a continuation
    does only the steps left and keeps the step numbers of the first segment.
    """
    plugin = [f'variable sei_plugin getenv {PLUGIN_ENVIRONMENT_VARIABLE}', 'plugin load ${sei_plugin}'] if load_plugin else []
    start = [f'read_restart {PARENT_RESTART_FILE}'] if restart else ['atom_style atomic', 'boundary p p p', f'read_data {DATA_FILE}']
    velocities = [] if restart else [f'velocity all create {settings["temperature"]} {settings["seed"]} mom yes rot no dist gaussian']
    interval = settings['restart_interval']
    restarts = [f'restart {interval} {" ".join(RESTART_FILES)}'] if interval else []
    lines = [
        f'# aiida-sei: {settings["ensemble"].upper()} MD with pair_style allegro' + (', continued from a restart file' if restart else ''),
        *plugin,
        'units metal',
        *start,
        'pair_style allegro',
        f'pair_coeff * * {MODEL_FILE} {" ".join(types)}',
        f'timestep {settings["timestep"] / 1000.0}',
        *velocities,
        _integrator(settings),  # same fix ID as the parent's: LAMMPS restores its state from the file
        f'thermo_style custom {" ".join(THERMO_KEYWORDS)}',
        'thermo_modify format float %.10g flush yes',
        f'thermo {settings["thermo_interval"]}',
        # image flags: how many times each atom crossed each boundary, to unwrap its path (MSD)
        f'dump trajectory all custom {settings["dump_interval"]} {DUMP_FILE} id type x y z ix iy iz',
        'dump_modify trajectory sort id format float %.8g',
        *restarts,
        f'run {settings["steps"]} upto',
    ]
    return '\n'.join(lines) + '\n'


def last_restart(settings: dict, first_step: int, last_step: int) -> tuple[int, str] | None:
    """(step, file) of the newest complete restart file of a run segment that began at
    ``first_step`` and printed its last thermo row at ``last_step``; None if it wrote none.

    LAMMPS writes a restart file at every multiple of the interval after the first step of a run,
    alternating between the two ``RESTART_FILES`` (the first write goes to the first file), and
    prints that step's thermo row only once the file is written. So the newest multiple of the
    interval up to the last thermo row is complete, and the one after it, which a walltime may have
    cut half-way, went to the other file.
    """
    interval = settings['restart_interval']
    if not interval:
        return None
    step = last_step // interval * interval
    if step <= first_step:
        return None
    writes = step // interval - first_step // interval  # this is the segment's n-th restart write
    return step, RESTART_FILES[(writes - 1) % 2]


class SegmentGapError(ValueError):
    """Segments of a run that do not join: steps between them were never run."""


def check_spans(spans: list[tuple[int, int]]) -> None:
    """Raises :class:`SegmentGapError` unless every segment of a run (its (first, last) steps, in
    the order the segments ran) starts at or before the last step that those before it reached."""
    for k in range(1, len(spans)):
        reached = max(last for _, last in spans[:k])
        if spans[k][0] > reached:
            raise SegmentGapError(f'segment {k} starts at step {spans[k][0]}, but the segments before it stopped at step {reached}')


def segment_masks(spans: list[tuple[int, int]], steps: list) -> list:
    """Which rows each segment of a run keeps when the segments are joined into one run.

    ``spans`` are the (first, last) steps each segment ran, in the order they ran; ``steps`` the
    step of each row (thermo row or frame) of each segment. A continuation starts from a restart
    file at or before the step its parent stopped at and runs those steps again, so a segment keeps
    only the rows before every later segment's first step: the joined steps strictly increase.
    Raises :class:`SegmentGapError` for segments that leave steps out (:func:`check_spans`).
    """
    import numpy as np

    check_spans(spans)
    masks = []
    for k, rows in enumerate(steps):
        later = min((first for first, _ in spans[k + 1:]), default=None)
        rows = np.asarray(rows)
        masks.append(np.ones(len(rows), bool) if later is None else rows < later)
    return masks
