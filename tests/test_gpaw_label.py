"""Labelling with GPAW for real through sei.label, the restart handlers of sei.gpaw.base, the
project's Li setup (1s in valence) and relaxations with sei.gpaw.relax."""

import hashlib
import json
import pathlib

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from aiida.engine.utils import instantiate_process
from aiida.manage import get_manager

from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.calculations.gpaw import GpawCalculation
from aiida_sei.data import FrameData
from aiida_sei.runners.gpaw_singlepoint import SEI_SETUPS, make_calculator
from aiida_sei.science.frames import FrameError, read_frames
from aiida_sei.workchains.gpaw import GpawBaseWorkChain, GpawRelaxWorkChain
from aiida_sei.workchains.label import LabelWorkChain


@pytest.fixture
def gpaw_code(aiida_code_installed):
    import sys

    return aiida_code_installed(label='gpaw', filepath_executable=sys.executable, default_calc_job_plugin='sei.gpaw', prepend_text='export OMP_NUM_THREADS=1')


def frames_in_profile():
    return orm.QueryBuilder().append(FrameData).count()


def direct_gpaw(atoms, calculation):
    """The same single point computed by GPAW in this process."""
    atoms = atoms.copy()
    atoms.calc = make_calculator(calculation.inputs.parameters.get_dict(), calculation.inputs.kpoints.get_kpoints_mesh()[0], txt=None)
    return atoms.get_potential_energy(force_consistent=True), atoms.get_forces(), atoms.get_stress(voigt=False)


@pytest.mark.parametrize(('kind', 'parameters', 'system', 'mesh'), [('li2s', {}, 'Li2S', [1, 1, 1]), ('bcc-li', {'supercell': [1, 1, 1]}, 'Li', [2, 2, 2])])
def test_label_agrees_with_a_direct_gpaw_call(aiida_profile_clean, gpaw_code, kind, parameters, system, mesh):
    rattled = build_structure_node(kind, parameters)['structure'].get_ase()
    rattled.rattle(0.05, seed=1)
    structure = orm.StructureData(ase=rattled)
    # a coarse k-mesh: the same numbers either way is the point, not converged ones (the fast
    # protocol's mesh took 2 min of GPAW per case, twice over)
    builder = LabelWorkChain.get_builder_from_protocol(gpaw_code, 'fast', structure=structure, frame_metadata={'origin': 'test'},
                                                       overrides={'gpaw': {'kpoints_distance': 1.5}})
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    frame = results['frame']
    calculation = frame.creator
    assert calculation.inputs.kpoints.get_kpoints_mesh()[0] == mesh
    assert isinstance(calculation, orm.CalcJobNode) and calculation.process_type.endswith('sei.gpaw')
    assert frame.base.attributes.get('system') == system and frame.base.attributes.get('is_dft') is True
    assert frame.base.attributes.get('converged') is True  # what a dataset of DFT frames needs to know
    assert frame.base.attributes.get('settings')['parameters'] == calculation.inputs.parameters.get_dict()
    energy, forces, stress = direct_gpaw(rattled, calculation)
    assert frame.energy == pytest.approx(energy, abs=1e-6)
    assert np.allclose(frame.get_array('forces'), forces, atol=1e-5)
    assert np.allclose(frame.get_array('stress'), stress, atol=1e-6)
    assert np.abs(forces).max() > 1e-3  # rattled: the forces are not trivially zero
    # Li labelled with the project's setup: 1s2 2s1 in valence (the paper's VASP Li_sv), the very file installed
    li = frame.base.attributes.get('settings')['setups']['Li']
    assert (li['type'], li['valence']) == ('sv', 3)
    assert li['fingerprint'] == hashlib.md5((SEI_SETUPS / 'Li.sv.PBE').read_bytes()).hexdigest()
    iterations = json.loads(calculation.outputs.retrieved.get_object_content('results.json'))['scf_iterations']
    workdir = pathlib.Path(calculation.get_remote_workdir())
    assert GpawCalculation.progress(workdir) == f'SCF iteration {iterations}'  # what a run shows while GPAW runs
    with pytest.raises(FrameError, match='a GPAW text log, which ASE cannot read'):  # rather than ASE's UnboundLocalError
        read_frames(workdir / 'gpaw.txt')


def test_scf_not_converged_is_restarted_with_more_steps_and_less_mixing(aiida_profile_clean, gpaw_code):
    structure = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    overrides = {'gpaw': {'parameters': {'maxiter': 4}}}
    builder = GpawBaseWorkChain.get_builder_from_protocol(gpaw_code, 'fast', overrides, structure=structure)
    _, node = run_get_node(builder)
    calculations = sorted((c for c in node.called if isinstance(c, orm.CalcJobNode)), key=lambda n: n.ctime)
    assert calculations[0].exit_status == GpawCalculation.exit_codes.ERROR_SCF_NOT_CONVERGED.status
    assert node.is_finished_ok and calculations[-1].is_finished_ok
    steps = [c.inputs.parameters['maxiter'] for c in calculations]
    betas = [c.inputs.parameters['mixer']['beta'] for c in calculations]
    assert steps == [4 * 2**k for k in range(len(calculations))]
    assert betas == [0.05 / 2**k for k in range(len(calculations))]
    assert len(node.outputs.frame.get_array('forces')) == 2


def test_a_code_that_keeps_crashing_gives_a_clear_exit_and_no_frame(aiida_profile_clean, aiida_code_installed):
    crashing = aiida_code_installed(label='broken', filepath_executable='/bin/false')
    structure = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    builder = LabelWorkChain.get_builder_from_protocol(crashing, 'fast', structure=structure)
    _, node = run_get_node(builder)
    assert node.exit_status == LabelWorkChain.exit_codes.ERROR_BACKEND_FAILED.status
    assert 'crashed twice' in node.exit_message
    base = node.called[0]
    jobs = [c for c in base.called if isinstance(c, orm.CalcJobNode)]
    assert [c.exit_status for c in jobs] == [GpawCalculation.exit_codes.ERROR_OUTPUT_MISSING.status] * 2
    assert frames_in_profile() == 0


def test_walltime_handler_doubles_the_walltime(aiida_profile_clean, gpaw_code):
    """The handler acts on a real GpawCalculation node that ended with exit status 400."""
    structure = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    builder = GpawBaseWorkChain.get_builder_from_protocol(gpaw_code, 'fast', options={'max_wallclock_seconds': 600}, structure=structure)
    process = instantiate_process(get_manager().get_runner(), builder)
    process.setup()
    failed = orm.CalcJobNode(computer=gpaw_code.computer, process_type='aiida.calculations:sei.gpaw')
    failed.set_process_state('finished')
    failed.set_exit_status(GpawCalculation.exit_codes.ERROR_OUT_OF_WALLTIME.status)
    report = process.handle_out_of_walltime(failed)
    assert report.do_break and report.exit_code.status == 0
    assert process.ctx.inputs.metadata.options['max_wallclock_seconds'] == 1200


@pytest.mark.parametrize(('symbols', 'message'), [('LiFe', 'Fe'), ('Li2', 'overlapping')])
def test_bad_structures_are_refused_before_submission(aiida_profile_clean, gpaw_code, symbols, message):
    from ase import Atoms

    positions = [[0, 0, 0], [0.2, 0, 0]] if symbols == 'Li2' else [[0, 0, 0], [1.5, 1.5, 1.5]]
    structure = orm.StructureData(ase=Atoms(symbols, positions=positions, cell=[4, 4, 4], pbc=True))
    before = orm.QueryBuilder().append(orm.Node).count()
    with pytest.raises(ValueError, match=message):
        builder = LabelWorkChain.get_builder_from_protocol(gpaw_code, 'fast', structure=structure)
        run_get_node(builder)
    assert orm.QueryBuilder().append(orm.Node).count() == before


def test_a_setup_that_is_not_installed_is_a_clear_exit_and_no_frame(aiida_profile_clean, gpaw_code):
    structure = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure']
    overrides = {'gpaw': {'parameters': {'setups': {'Li': 'nosuch'}}}}
    _, node = run_get_node(GpawBaseWorkChain.get_builder_from_protocol(gpaw_code, 'fast', overrides, structure=structure))
    calculation = node.called[-1]
    assert calculation.exit_status == GpawCalculation.exit_codes.ERROR_SETUP_MISSING.status
    assert 'Li.nosuch.PBE is not installed' in calculation.exit_message and 'sei-gpaw-setups' in calculation.exit_message
    assert not node.is_finished_ok and frames_in_profile() == 0


def test_bcc_li_relaxes_to_the_paper_lattice_constant_across_restarts(aiida_profile_clean, gpaw_code):
    """From 3.30 Å, the fast protocol's relaxation with the Li setup of 3 valence electrons ends
    within 1 % of the paper's 3.420 Å (VASP, Li_sv); two BFGS steps per job force a restart from
    the last structure (3.437 Å at 300 eV, 3.420 Å at 500 eV and a 12^3 mesh: measured)."""
    atoms = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure'].get_ase()
    atoms.set_cell(atoms.cell * 3.30 / atoms.cell.lengths()[0], scale_atoms=True)
    overrides = {'gpaw': {'relax': {'steps': 2}}, 'max_iterations': 6}
    results, node = run_get_node(GpawRelaxWorkChain.get_builder_from_protocol(gpaw_code, 'fast', overrides, structure=orm.StructureData(ase=atoms)))
    assert node.is_finished_ok, node.exit_message
    jobs = sorted((c for c in node.called if isinstance(c, orm.CalcJobNode)), key=lambda n: n.ctime)
    assert jobs[0].exit_status == GpawCalculation.exit_codes.ERROR_RELAX_NOT_CONVERGED.status
    assert jobs[1].inputs.structure.uuid == jobs[0].outputs.structure.uuid  # continued, not started over
    lattice = results['structure'].get_ase().cell.lengths()
    assert np.allclose(lattice, lattice[0]) and lattice[0] == pytest.approx(3.42, rel=0.01)
    frame = results['frame']
    assert np.abs(frame.get_array('forces')).max() < 0.01 and np.abs(frame.get_array('stress')).max() * 160.2 < 0.2  # GPa
    assert np.allclose(frame.get_array('cell'), results['structure'].cell)  # the frame is the relaxed cell's


@pytest.mark.parametrize('damage, key', [('dos', 'dos'), ('relax', 'positions')])
def test_truncated_results_are_refused_with_no_frame_structure_or_dos(aiida_profile_clean, generate_calc_job_node, damage, key):
    """results.json as the runner writes it, with one part cut short (a DOS without its values, a
    relaxation without its positions): exit 302 and none of the outputs made from it."""
    from aiida.plugins import ParserFactory

    structure = orm.StructureData(ase=build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure'].get_ase())
    kpoints = orm.KpointsData()
    kpoints.set_kpoints_mesh([2, 2, 2])
    atoms = structure.get_ase()
    results = {'status': 'ok', 'energy': -3.8, 'forces': np.zeros((len(atoms), 3)).tolist(), 'stress': np.zeros((3, 3)).tolist(),
               'dos': {'energies': [-1.0, 0.0, 1.0], 'dos': [0.0, 1.0, 0.0], 'width': 0.1},
               'relax': {'converged': True, 'steps': 2, 'energies': [-3.7, -3.8], 'cell': atoms.cell.array.tolist(), 'positions': atoms.positions.tolist()}}
    del results[damage][key]
    inputs = {'structure': structure.store(), 'kpoints': kpoints.store(), 'parameters': orm.Dict({'ecut': 300}).store()}
    node = generate_calc_job_node('sei.gpaw', inputs=inputs,
                                  files={'results.json': json.dumps(results)})
    outputs, calcfunction = ParserFactory('sei.gpaw').parse_from_node(node, store_provenance=False)
    assert calcfunction.exit_status == GpawCalculation.exit_codes.ERROR_OUTPUT_CORRUPT.status
    assert f"'{key}'" in calcfunction.exit_message
    assert not {'frame', 'structure', 'dos'} & set(outputs)
