"""The cluster examples and resource profiles, without a cluster.

The example computer and codes (examples/cluster/) are set up with verdi from their YAML files,
as a user would; then builders of the work chains, given the `cluster` resource profile, run
their CalcJobs with ``metadata.dry_run``: AiiDA writes the SLURM submit script into a local
folder (its LocalTransport, no ssh, no SLURM) and the #SBATCH lines and run lines are checked.
"""

import io
import pathlib
import re
import shlex

import pytest
import yaml
from aiida import orm
from aiida.cmdline.commands.cmd_code import code_create
from aiida.cmdline.commands.cmd_computer import computer_configure, computer_setup
from aiida.engine import run_get_node
from aiida.plugins import CalculationFactory
from click.testing import CliRunner

from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.calculations.nequip import NequipTrainCalculation
from aiida_sei.calculations.nequip_compile import NequipCompileCalculation
from aiida_sei.data import CompiledModelData, FrameData, ModelData
from aiida_sei.resources import apply_resources, available_profiles, available_roles, get_profile
from aiida_sei.science import lammps_md
from aiida_sei.science.allegro import training_config
from tests.science import fast_sgp_settings
from aiida_sei.science.frames import frame_from_atoms
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.label import LabelWorkChain

EXAMPLES = pathlib.Path(__file__).parent.parent / 'examples' / 'cluster'
CODES = {path.stem: path for path in (EXAMPLES / 'codes').glob('*.yaml')}
COMPUTER_LABEL = 'cluster'


def verdi(command, *args):
    """A verdi command as a user runs it, in the loaded test profile."""
    from aiida.common import AttributeDict
    from aiida.manage import get_config, get_manager

    context = AttributeDict({'config': get_config(), 'profile': get_manager().get_profile()})
    result = CliRunner().invoke(command, [*args, '--non-interactive'], obj=context, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.fixture(scope='module')
def cluster(aiida_profile):
    """The example SLURM computer (ssh configured, never connected) and its codes, by YAML stem."""
    verdi(computer_setup, '--config', str(EXAMPLES / 'computer.yaml'))
    verdi(computer_configure, 'core.ssh_async', COMPUTER_LABEL, '--config', str(EXAMPLES / 'ssh.yaml'))
    codes = {}
    for stem, path in CODES.items():
        verdi(code_create, 'core.code.installed', '--config', str(path))
        codes[stem] = orm.load_code(f"{yaml.safe_load(path.read_text())['label']}@{COMPUTER_LABEL}")
    return orm.load_computer(COMPUTER_LABEL), codes


@pytest.fixture(autouse=True)
def dry_runs_in_tmp(tmp_path, monkeypatch):
    """AiiDA writes dry-run folders under the working directory (submit_test/)."""
    monkeypatch.chdir(tmp_path)


def dry_run(process_class, inputs: dict, written: str | None = None):
    """The submit script AiiDA writes for ``inputs``, without submitting (and the text of the
    job file ``written``, when named)."""
    inputs = {**inputs, 'metadata': {**inputs.get('metadata', {}), 'dry_run': True, 'store_provenance': False}}
    _, node = run_get_node(process_class, **inputs)
    folder = pathlib.Path(node.dry_run_info['folder'])
    script = (folder / node.dry_run_info['script_filename']).read_text()
    return script if written is None else (script, (folder / written).read_text())


def sbatch(script: str) -> dict[str, str]:
    """#SBATCH option -> value (flags without a value map to '')."""
    lines = re.findall(r'^#SBATCH --([\w-]+)=?(.*)$', script, flags=re.MULTILINE)
    return {key: value.strip() for key, value in lines}


def run_line(script: str, executable: str) -> str:
    """The line of the script that runs ``executable``, unquoted, without its redirections."""
    line = next(line for line in script.splitlines() if executable in line and not line.startswith('#'))
    return ' '.join(shlex.split(line.split(' > ')[0]))


def small_structure():
    return build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']


# -- (1) the example files -----------------------------------------------------------------


def test_example_computer_is_a_slurm_computer_with_the_yaml_settings(cluster):
    computer, _ = cluster
    assert computer.scheduler_type == 'core.slurm' and computer.transport_type == 'core.ssh_async'
    assert computer.get_mpirun_command() == ['mpirun', '-np', '{tot_num_mpiprocs}']
    assert computer.get_default_mpiprocs_per_machine() == 128
    assert 'module purge' in computer.get_prepend_text()
    assert computer.get_authinfo(orm.User.collection.get_default()).get_auth_params()['host'] == 'cluster-login'


def test_example_codes_name_the_sei_plugins_and_their_mpi_mode(cluster):
    _, codes = cluster
    assert codes['vasp'].default_calc_job_plugin == 'vasp.vasp' and codes['vasp'].with_mpi is True
    assert codes['lammps-kokkos'].default_calc_job_plugin == 'sei.lammps' and codes['lammps-kokkos'].with_mpi is True
    assert codes['nequip-train'].default_calc_job_plugin == 'sei.nequip_train' and codes['nequip-train'].with_mpi is False
    assert codes['nequip-compile'].default_calc_job_plugin == 'sei.nequip_compile'
    assert codes['gpaw'].default_calc_job_plugin == 'sei.gpaw'
    assert codes['python'].with_mpi is None  # sei.ase, sei.flare_md, sei.ase_md decide per job
    # no machine paths or hosts of a real site in the examples
    for path in [EXAMPLES / 'computer.yaml', *CODES.values()]:
        assert '/path/to/' in path.read_text()


# -- (2) submit scripts per step -------------------------------------------------------------


def test_gpaw_labels_ask_for_4_nodes_of_128_mpi_ranks_on_the_cpu_partition(cluster):
    _, codes = cluster
    from aiida_sei.calculations.functions.kpoints import create_kpoints

    structure = small_structure()
    builder = LabelWorkChain.get_builder_from_protocol(codes['gpaw'], 'fast', structure=structure)
    apply_resources(builder, 'cluster')
    # what sei.label and sei.gpaw.base hand the job: the structure, and the mesh made for it
    kpoints = create_kpoints(structure, builder.gpaw.kpoints_distance, builder.gpaw.gamma_only_above_atoms)
    script = dry_run(GpawCalculation, {**builder.gpaw.gpaw._inputs(prune=True), 'structure': structure, 'kpoints': kpoints})
    options = sbatch(script)
    assert options['nodes'] == '4' and options['ntasks-per-node'] == '128'
    assert options['partition'] == 'cpu' and options['time'] == '12:00:00'
    assert 'gres' not in options
    assert run_line(script, 'python') == 'mpirun -np 512 /path/to/sei-env/bin/python gpaw_singlepoint.py'


def test_vasp_labels_run_vasp_std_on_512_ranks(cluster):
    from aiida_vasp.data.potcar import PotcarData

    from tests.stand_ins.make_fake_potcars import upload_fake_potcar_family

    _, codes = cluster
    family, _ = upload_fake_potcar_family('SEI_FAKE_PBE')
    structure = small_structure()
    from aiida_sei.calculations.functions.kpoints import create_kpoints

    overrides = {'vasp': {'vasp': {'potential_family': family}}}
    builder = LabelWorkChain.get_builder_from_protocol(codes['vasp'], 'fast', {'backend': 'vasp', **overrides}, structure=structure)
    apply_resources(builder, 'cluster')
    vasp = builder.vasp.vasp
    # what aiida-vasp's VaspWorkChain hands its VaspCalculation (the mesh: as sei.vasp.label makes it)
    kpoints = create_kpoints(structure, builder.vasp.kpoints_distance, builder.vasp.gamma_only_above_atoms)
    inputs = {
        'code': vasp.code, 'structure': structure, 'kpoints': kpoints, 'parameters': orm.Dict(vasp.parameters['incar']),
        'potential': PotcarData.get_potcars_from_structure(structure, family, mapping=vasp.potential_mapping.get_dict()),
        'metadata': {'options': dict(vasp.calc.metadata.options)},
    }
    script = dry_run(CalculationFactory('vasp.vasp'), inputs)
    options = sbatch(script)
    assert options['nodes'] == '4' and options['ntasks-per-node'] == '128' and options['partition'] == 'cpu'
    assert 'module load vasp/6' in script
    assert run_line(script, 'vasp_std') == 'mpirun -np 512 /path/to/vasp/bin/vasp_std'


@pytest.fixture(scope='module')
def datasets(aiida_profile):
    """Training (2 frames) and validation (1 frame) sets of rattled BCC Li with Lennard-Jones labels."""
    return tiny_dataset(2, seed=0), tiny_dataset(1, seed=2)


def tiny_dataset(count, seed):
    from aiida_sei.calculations.functions.dataset import create_dataset

    from ase.calculators.lj import LennardJones

    frames = {}
    for index in range(count):
        atoms = small_structure().get_ase()
        atoms.rattle(0.02, seed=seed + index)
        atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
        atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()
        frames[f'frame_{index:05d}'] = FrameData(frame_from_atoms(atoms)).store()
    return create_dataset(**frames)


def test_training_asks_for_one_gpu_and_runs_nequip_without_mpi(cluster, datasets):
    _, codes = cluster
    builder = AllegroTrainingWorkChain.get_builder_from_protocol({'train': codes['nequip-train'], 'package': codes['nequip-package']}, 'fast', dataset=datasets[0], validation=datasets[1])
    apply_resources(builder, 'cluster')
    species = sorted(set(datasets[0].elements) | set(datasets[1].elements))  # the work chain makes this config when it runs
    config = orm.Dict(training_config(species, AllegroTrainingWorkChain.get_protocol_inputs('fast')))
    script = dry_run(NequipTrainCalculation, {**builder.train._inputs(prune=True), 'config': config})
    options = sbatch(script)
    assert options['gres'] == 'gpu:1' and options['partition'] == 'gpu'
    assert options['nodes'] == '1' and options['ntasks-per-node'] == '1' and options['cpus-per-task'] == '8'
    assert options['time'] == '2-00:00:00'
    assert run_line(script, 'nequip-train').startswith('/path/to/sei-env/bin/nequip-train --config-dir')
    assert run_line(script, 'nequip-package').startswith('/path/to/sei-env/bin/nequip-package build')


def compiled_stand_in() -> CompiledModelData:
    """A compiled-model node (its bytes only travel to the job folder, never run here)."""
    model = CompiledModelData(io.BytesIO(b'stand-in'), filename='model.nequip.pt2')
    model.base.attributes.set_many({'target': 'pair_allegro', 'device': 'cuda', 'species': ['Li'], 'r_max': 4.0})
    return model.store()


def test_production_runs_lammps_with_kokkos_on_4_gpus_and_the_built_in_pair_style(cluster):
    _, codes = cluster
    builder = LammpsMdCalculation.get_builder()
    builder.code, builder.structure, builder.model = codes['lammps-kokkos'], small_structure(), compiled_stand_in()
    apply_resources(builder, 'cluster')
    script, lammps_input = dry_run(LammpsMdCalculation, builder._inputs(prune=True), written=lammps_md.INPUT_FILE)
    options = sbatch(script)
    assert options['gres'] == 'gpu:4' and options['partition'] == 'gpu'
    assert options['nodes'] == '1' and options['ntasks-per-node'] == '4'
    assert run_line(script, 'lmp').startswith(
        'mpirun -np 4 /path/to/lammps-allegro/bin/lmp -k on g 4 -sf kk -pk kokkos newton on neigh half -in in.lammps')
    assert 'plugin load' not in lammps_input and 'pair_style allegro' in lammps_input


def test_compilation_for_production_runs_on_a_gpu_for_cuda(cluster):
    _, codes = cluster
    builder = NequipCompileCalculation.get_builder()
    builder.code = codes['nequip-compile']
    builder.model = ModelData(io.BytesIO(b'stand-in'), filename='model.nequip.zip').store()
    builder.target = orm.Str('pair_allegro')
    apply_resources(builder, 'cluster')
    script = dry_run(NequipCompileCalculation, builder._inputs(prune=True))
    assert sbatch(script)['gres'] == 'gpu:1'
    assert '--device cuda --target pair_allegro' in run_line(script, 'nequip-compile')


# -- profiles, roles and nested work chains -------------------------------------------------


def test_laptop_profile_keeps_one_process_and_the_protocol_walltime(cluster):
    _, codes = cluster
    builder = LabelWorkChain.get_builder_from_protocol(codes['gpaw'], 'fast', structure=small_structure())
    walltime = builder.gpaw.gpaw.metadata.options['max_wallclock_seconds']
    apply_resources(builder, 'laptop')
    options = builder.gpaw.gpaw.metadata.options
    assert options['resources'] == {'num_machines': 1, 'num_mpiprocs_per_machine': 1}
    assert options['max_wallclock_seconds'] == walltime and 'queue_name' not in options


def test_overrides_change_one_role_and_leave_the_others(cluster):
    profile = get_profile('cluster', {'train': {'options': {'queue_name': 'a100', 'max_wallclock_seconds': 600}}})
    assert profile['train']['options']['queue_name'] == 'a100'
    assert profile['train']['options']['custom_scheduler_commands'] == '#SBATCH --gres=gpu:1'
    assert profile['production']['options']['queue_name'] == 'gpu'


def test_active_learning_runs_flare_threaded_on_8_cores_and_labels_on_512_ranks(cluster, datasets):
    from aiida_sei.calculations.flare_md import FlareMdCalculation
    from aiida_sei.calculations.functions.active_learning import create_sgp
    from aiida_sei.workchains.active_learning import ActiveLearningWorkChain

    _, codes = cluster
    structure = small_structure()
    builder = ActiveLearningWorkChain.get_builder_from_protocol({'md': codes['python'], 'label': codes['gpaw']}, 'fast', structure=structure)
    apply_resources(builder, 'cluster')
    assert builder.label.gpaw.gpaw.metadata.options['resources'] == {'num_machines': 4, 'num_mpiprocs_per_machine': 128}
    frame = next(datasets[1].iter_frames())
    sgp = create_sgp(frame, orm.Dict(fast_sgp_settings(n_max=2, l_max=1)))
    parameters = {'max_steps': 10, 'threshold': 0.1, 'temperature_K': 300.0, 'timestep_fs': 1.0, 'seed': 0, 'thin': 5}
    script = dry_run(FlareMdCalculation, {
        'code': builder.md_job.code, 'sgp': sgp, 'structure': structure, 'parameters': orm.Dict(parameters),
        'metadata': {'options': dict(builder.md_job.metadata.options)}})
    options = sbatch(script)
    assert options['ntasks-per-node'] == '1' and options['cpus-per-task'] == '8' and options['partition'] == 'cpu'
    assert "export OMP_NUM_THREADS='8'" in script
    assert run_line(script, 'flare_md.py') == '/path/to/sei-env/bin/python flare_md.py'


def test_refinement_gets_cpu_model_md_gpu_training_and_dft_label_options(cluster, datasets):
    from aiida_sei.workchains.refinement import RefinementWorkChain

    _, codes = cluster
    roles = {'md': 'python', 'label': 'gpaw', 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile'}
    model = ModelData(io.BytesIO(b'stand-in'), filename='model.nequip.zip').store()
    builder = RefinementWorkChain.get_builder_from_protocol(
        {role: codes[stem] for role, stem in roles.items()}, 'fast', dataset=datasets[0], model=model, interface=small_structure(), products={'li': small_structure()})
    apply_resources(builder, 'cluster')
    for job in (builder.md_job, builder.compile_job):  # the model runs in ASE on CPUs: both jobs play model_md
        assert job.metadata.options['resources']['num_cores_per_mpiproc'] == 16 and 'custom_scheduler_commands' not in job.metadata.options
    assert builder.training.train.metadata.options['custom_scheduler_commands'] == '#SBATCH --gres=gpu:1'
    assert builder.training.training['max_epochs'] == 5  # the `fast` training settings are kept
    assert builder.label.gpaw.gpaw.metadata.options['withmpi'] is True


def test_the_interface_chain_gives_each_step_the_resources_of_its_role(cluster):
    """`apply_resources` walks the exposed namespaces of sei.interface down to every job."""
    from aiida_sei.workchains.interface import InterfaceWorkChain

    _, codes = cluster
    roles = {'md': 'python', 'label': 'gpaw', 'relax': 'gpaw', 'train': 'nequip-train', 'package': 'nequip-package', 'compile': 'nequip-compile', 'lammps': 'lammps-kokkos',
             'dft': 'gpaw'}
    builder = InterfaceWorkChain.get_builder_from_protocol({role: codes[stem] for role, stem in roles.items()}, 'demo_gpaw', {'refinement': {'enabled': True}})
    overrides = {'production': {'options': {'max_wallclock_seconds': 7200}}}
    apply_resources(builder, 'cluster', overrides)
    profile = get_profile('cluster', overrides)
    production = builder.production
    assert production.metadata.options['max_wallclock_seconds'] == 7200
    assert production.metadata.options['resources'] == profile['production']['options']['resources']
    assert production.load_plugin.value is False and production.cmdline.get_list()[:4] == ['-k', 'on', 'g', '4']  # Kokkos on 4 GPUs
    assert builder.compile.device.value == 'cuda'
    assert builder.active_learning.active_learning.md_job.metadata.options['resources']['num_cores_per_mpiproc'] == 8
    assert builder.active_learning.active_learning.label.gpaw.gpaw.metadata.options['resources']['num_machines'] == 4
    assert builder.structures.relax.gpaw.gpaw.metadata.options['resources']['num_machines'] == 4  # the crystals' DFT relaxations
    assert builder.allegro.train.metadata.options['custom_scheduler_commands'] == '#SBATCH --gres=gpu:1'
    refinement = builder.refinement
    assert refinement.compile_job.metadata.options['queue_name'] == 'cpu' and 'device' not in refinement.compile_job  # compiled for ASE on CPUs
    assert refinement.training.train.metadata.options['queue_name'] == 'gpu'
    with pytest.raises(ValueError, match='no resource role for ArithmeticAddCalculation'):
        apply_resources(CalculationFactory('core.arithmetic.add').get_builder(), 'cluster')


@pytest.mark.parametrize(('profile', 'overrides', 'message'), [
    ('supercomputer', None, 'unknown resource profile `supercomputer`; available: laptop, cluster'),
    ('cluster', {'training': {}}, 'unknown resource role `training`; valid roles: label, md, model_md, train, compile, production'),
    ('cluster', {'train': {'queue_name': 'gpu'}}, 'role `train` may set options, inputs, not queue_name'),
])
def test_unknown_profiles_and_roles_are_refused_with_the_valid_names(profile, overrides, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        get_profile(profile, overrides)
    assert available_profiles() == ['laptop', 'cluster']
    assert 'production' in available_roles()
