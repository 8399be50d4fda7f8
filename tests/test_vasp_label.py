"""VASP labels through aiida-vasp's real VaspCalculation, parser and restart work chain.

VASP cannot run here, so the code is a stand-in executable (``tests/stand_ins/vasp_standin.py``)
that reads the INCAR/POSCAR/KPOINTS aiida-vasp wrote, computes with a real ASE calculator
(Lennard-Jones here, exact and fast) and writes vasprun.xml, OUTCAR, CONTCAR and stdout in
VASP's formats. The POTCARs are fakes with every number replaced (no licensed data). Pointing
the code at a real ``vasp_std`` and the family at your own POTCARs is the only change for a
real run.
"""

import pathlib
import sys

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.lj import LennardJones

from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.data import FrameData
from aiida_sei.protocols import ProtocolError
from aiida_sei.queries import labelling_processes
from aiida_sei.workchains.label import LabelWorkChain
from tests.stand_ins.make_fake_potcars import upload_fake_potcar_family

STANDIN = pathlib.Path(__file__).parent / 'stand_ins' / 'vasp_standin.py'


@pytest.fixture
def vasp_code(aiida_profile_clean, aiida_code_installed):
    bindir = pathlib.Path(sys.executable).parent
    return aiida_code_installed(
        label='vasp-standin',
        filepath_executable=str(STANDIN),
        default_calc_job_plugin='vasp.vasp',
        prepend_text=f'export PATH={bindir}:$PATH OMP_NUM_THREADS=1 SEI_STANDIN_CALCULATOR=lj',
    )


@pytest.fixture
def potcar_family(vasp_code):
    family, _ = upload_fake_potcar_family('SEI_FAKE_PBE')
    return family


def li_cell():
    atoms = build_structure_node('bcc-li', {'supercell': [1, 1, 1]})['structure'].get_ase()
    atoms.rattle(0.03, seed=2)
    return orm.StructureData(ase=atoms)


def family_override(family: str) -> dict:
    """sei.label overrides naming the POTCAR family (the one setting VASP labels cannot default)."""
    return {'backend': 'vasp', 'vasp': {'vasp': {'potential_family': family}}}


def label(code, structure, family, environment=None, protocol='fast'):
    builder = LabelWorkChain.get_builder_from_protocol(
        code, protocol, family_override(family), {'environment_variables': environment or {}}, structure=structure, frame_metadata={'origin': 'test'})
    builder.vasp.vasp.clean_workdir = orm.Bool(False)
    return run_get_node(builder)


def test_vasp_label_through_aiida_vasp_matches_the_calculator(vasp_code, potcar_family):
    structure = li_cell()
    results, node = label(vasp_code, structure, potcar_family)
    assert node.is_finished_ok, node.exit_message
    frame = results['frame']
    atoms = structure.get_ase()
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    assert np.allclose(frame.get_array('forces'), atoms.get_forces(), atol=1e-6)
    assert np.allclose(frame.get_array('stress'), atoms.get_stress(voigt=False), atol=1e-7)
    assert frame.base.attributes.get('backend') == 'vasp' and frame.base.attributes.get('system') == 'Li'
    assert frame.base.attributes.get('converged') is True and frame.base.attributes.get('settings')['incar']['encut'] == 400
    # the provenance query walks from the frame back to aiida-vasp's VaspCalculation
    from aiida_sei.calculations.functions.dataset import create_dataset

    (calculation,) = labelling_processes(create_dataset(frame_00000=frame))
    assert calculation.process_type == 'aiida.calculations:vasp.vasp'
    assert calculation.inputs.parameters['encut'] == 400


def test_unconverged_scf_is_restarted_by_aiida_vasp(vasp_code, potcar_family):
    environment = {'SEI_STANDIN_FAIL': 'scf', 'SEI_STANDIN_FAIL_UNLESS_NELM_GE': '120'}
    results, node = label(vasp_code, li_cell(), potcar_family, environment)
    assert node.is_finished_ok, node.exit_message
    (vasp_workchain,) = [c for c in node.called[0].called if c.process_label == 'VaspWorkChain']
    calculations = sorted(vasp_workchain.called, key=lambda n: n.ctime)
    assert [c.exit_status for c in calculations] == [701, 0]  # 701: electronic structure not converged
    # aiida-vasp's handler: with ALGO Normal and NELM 100 it lowers AMIX and adds 20 steps
    assert calculations[1].inputs.parameters['nelm'] == 120 and calculations[1].inputs.parameters['amix'] == 0.2
    assert isinstance(results['frame'], FrameData)


def test_a_crashing_vasp_fails_the_label_without_a_frame(vasp_code, potcar_family):
    _, node = label(vasp_code, li_cell(), potcar_family, {'SEI_STANDIN_FAIL': 'crash'})
    assert node.exit_status == LabelWorkChain.exit_codes.ERROR_BACKEND_FAILED.status
    assert 'VaspWorkChain' in node.exit_message
    assert orm.QueryBuilder().append(FrameData).count() == 0


@pytest.mark.parametrize(('kind', 'parameters', 'mesh'), [
    ('bcc-li', {'supercell': [3, 3, 3]}, [3, 3, 3]),
    ('argyrodite', {}, [4, 4, 4]),
    ('interface', {'li_layers': 14}, [1, 1, 1]),
])
def test_paper_protocol_reproduces_the_papers_vasp_settings(vasp_code, potcar_family, kind, parameters, mesh):
    structure = build_structure_node(kind, parameters)['structure']
    from aiida_sei.calculations.functions.kpoints import create_kpoints

    builder = LabelWorkChain.get_builder_from_protocol(vasp_code, 'paper', family_override(potcar_family), structure=structure)
    vasp = builder.vasp.vasp
    kpoints = create_kpoints(structure, builder.vasp.kpoints_distance, builder.vasp.gamma_only_above_atoms)  # as the work chain does
    assert kpoints.get_kpoints_mesh() == (mesh, [0.0, 0.0, 0.0])
    incar = vasp.parameters['incar']
    assert incar['encut'] == 700 and incar['isif'] >= 1 and incar['nsw'] == 0
    assert vasp.potential_mapping.get_dict()['Li'] == 'Li_sv'


def test_vasp_needs_a_potential_family(vasp_code):
    with pytest.raises(ProtocolError, match='potential_family'):
        LabelWorkChain.get_builder_from_protocol(vasp_code, overrides={'backend': 'vasp'}, structure=li_cell())


def test_vasprun_from_outside_aiida_imports_with_the_free_energy(aiida_profile_clean, tmp_path):
    """A vasprun.xml written by the stand-in (VASP's format) imports as a DFT frame."""
    import os
    import subprocess

    from ase.io import write

    from aiida_sei.calculations.functions.dataset import import_frames_file
    from tests.stand_ins.make_fake_potcars import write_fake_potcar_family

    atoms = li_cell().get_ase()
    write(tmp_path / 'POSCAR', atoms, format='vasp')
    (tmp_path / 'INCAR').write_text('ENCUT = 400\nISMEAR = 0\nSIGMA = 0.1\nIBRION = -1\nNSW = 0\nISIF = 2\n')
    (tmp_path / 'KPOINTS').write_text('mesh\n0\nGamma\n2 2 2\n0 0 0\n')
    potcars = write_fake_potcar_family(tmp_path / 'potcars', elements=('Li',))
    (tmp_path / 'POTCAR').write_text((tmp_path / 'potcars' / potcars['Li'] / 'POTCAR').read_text())
    env = {**os.environ, 'SEI_STANDIN_CALCULATOR': 'lj', 'PATH': f'{pathlib.Path(sys.executable).parent}:{os.environ["PATH"]}'}
    subprocess.run([str(STANDIN)], cwd=tmp_path, env=env, check=True, capture_output=True)
    dataset = import_frames_file(tmp_path / 'vasprun.xml', backend='vasp', is_dft=True, origin='aimd')['dataset']
    (frame,) = dataset.iter_frames()
    atoms.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-6)
    assert np.allclose(frame.get_array('stress'), atoms.get_stress(voigt=False), atol=1e-7)
    assert frame.base.attributes.get('system') == 'Li' and frame.base.attributes.get('origin') == 'aimd'


def test_one_incar_override_reaches_every_label_of_active_learning(vasp_code, potcar_family, tmp_path):
    """VASP as the labeller of sei.active_learning, set through its `label` namespace: the EDIFF
    given once is in the INCAR that aiida-vasp wrote for every label of the loop (the first
    frame and each frame the uncertainty triggered), read back from each VaspCalculation."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost
    from aiida_sei.workchains.active_learning import ActiveLearningWorkChain

    python = ensure_local_codes(ensure_localhost(tmp_path, lambda _: None), lambda _: None)['python']
    vasp = {'potential_family': potcar_family, 'parameters': {'incar': {'ediff': 1e-7}}}
    overrides = {
        'label': {'backend': 'vasp', 'protocol': 'fast', 'vasp': {'vasp': vasp}},
        'sgp': {'cutoff': 4.0, 'n_max': 4, 'l_max': 2},
        'system_thresholds': {'Li': {'dft': 0.02, 'add_atom': 0.005}},
        'md': {'temperature_K': 900, 'pressure_GPa': None, 'total_steps': 80, 'segment_steps': 40, 'thin': 10, 'seed': 7},
        'max_dft_calls': 3,
    }
    structure = build_structure_node('bcc-li', {'supercell': [2, 2, 2]})['structure']
    results, node = run_get_node(ActiveLearningWorkChain.get_builder_from_protocol({'md': python, 'label': vasp_code}, 'fast', overrides, structure=structure))
    assert node.is_finished_ok, node.exit_message
    jobs = [d for d in node.called_descendants if d.process_type == 'aiida.calculations:vasp.vasp']
    assert len(jobs) == len(results['dataset']) >= 2
    for job in jobs:
        lines = job.base.repository.get_object_content('INCAR').splitlines()
        incar = {key.strip().upper(): value.strip() for key, value in (line.split('=', 1) for line in lines if '=' in line)}
        assert float(incar['EDIFF']) == 1e-7
        assert job.inputs.parameters['encut'] == 400  # the rest of the `fast` protocol is kept


def test_one_incar_override_of_the_interface_reaches_each_of_its_labelling_steps(vasp_code, potcar_family, tmp_path):
    """sei.interface with VASP labels, family and EDIFF given once (its top-level `label`): the
    exposed `label` inputs of the sweep's loops and of the refinement each run one real label
    through aiida-vasp's VaspWorkChain (the stand-in executable), and aiida-vasp writes that
    EDIFF into both INCARs; the rest of the pipeline is not run."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost
    from aiida_sei.workchains.interface import InterfaceWorkChain

    local = ensure_local_codes(ensure_localhost(tmp_path, lambda _: None), lambda _: None)
    codes = {role: local[default] for role, default in InterfaceWorkChain.CODES.items() if role != 'label'}
    overrides = {'label': {'backend': 'vasp', 'protocol': 'fast', 'vasp': {'vasp': {'potential_family': potcar_family, 'parameters': {'incar': {'ediff': 1e-7}}}}},
                 'refinement': {'enabled': True}}
    builder = InterfaceWorkChain.get_builder_from_protocol({**codes, 'label': vasp_code}, 'demo', overrides)
    steps = {'active learning': builder.active_learning.active_learning.label, 'refinement': builder.refinement.label}
    for step, label in steps.items():
        results, node = run_get_node(LabelWorkChain, **label._inputs(prune=True), structure=li_cell())
        assert node.is_finished_ok, f'{step}: {node.exit_message}'
        (job,) = [d for d in node.called_descendants if d.process_type == 'aiida.calculations:vasp.vasp']
        lines = job.base.repository.get_object_content('INCAR').splitlines()
        incar = {key.strip().upper(): value.strip() for key, value in (line.split('=', 1) for line in lines if '=' in line)}
        assert float(incar['EDIFF']) == 1e-7, step
        assert job.inputs.code.uuid == vasp_code.uuid


def test_vasp_relaxation_through_aiida_vasp_reaches_the_calculators_minimum(vasp_code, potcar_family):
    """sei.relax with backend vasp: aiida-vasp's relaxation work chain (its INCAR translation of
    relax_settings, convergence checks and final single point) drives the stand-in, which relaxes
    with BFGS on the cell as VASP's IBRION 2 / ISIF 3 would. Known answer: the minimum of the same
    Lennard-Jones potential found by ASE directly."""
    from ase.filters import FrechetCellFilter
    from ase.optimize import BFGS

    from aiida_sei.workchains.relax import RelaxWorkChain

    structure = li_cell()  # BCC Li at 3.42 Å: LJ(sigma 2.5) wants a smaller cell
    overrides = {'backend': 'vasp', 'vasp': {'vasp': {'potential_family': potcar_family}}}
    builder = RelaxWorkChain.get_builder_from_protocol(vasp_code, 'fast', overrides, structure=structure)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message

    reference = structure.get_ase()
    reference.calc = LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)
    BFGS(FrechetCellFilter(reference), logfile=None).run(fmax=1e-4)
    relaxed = results['structure']
    # EDIFFG -0.01 eV/Å also bounds stress x volume / atoms: on this soft potential (epsilon 0.01 eV) ~1 % in volume
    assert relaxed.get_cell_volume() == pytest.approx(reference.get_volume(), rel=0.02)
    assert relaxed.get_cell_volume() < 0.9 * structure.get_cell_volume()  # it did move
    frame = results['frame']
    assert np.allclose(frame.get_array('cell'), relaxed.cell) and frame.base.attributes.get('backend') == 'vasp'
    assert frame.energy / len(relaxed.sites) == pytest.approx(reference.get_potential_energy() / len(reference), abs=1e-4)
    assert np.abs(frame.get_array('forces')).max() < 0.015  # the fast protocol's force_cutoff, 0.01 eV/Å
    # aiida-vasp translated relax_settings into the INCAR: conjugate gradients on cell and positions
    calculations = [n for n in node.called_descendants if n.process_label == 'VaspCalculation']
    first = min(calculations, key=lambda n: n.ctime).inputs.parameters.get_dict()
    assert (first['ibrion'], first['isif'], first['nsw'], first['ediffg']) == (2, 3, 60, -0.01)
    last = max(calculations, key=lambda n: n.ctime).inputs.parameters.get_dict()
    assert last.get('nsw', 0) == 0 and last.get('ibrion', -1) == -1  # the final single point


def test_structures_and_new_phase_relax_with_vasp_when_the_protocol_says_so(vasp_code, potcar_family):
    """The relax backend is a protocol choice of sei.structures and sei.new_phase: with `backend:
    vasp` the crystals are relaxed by aiida-vasp (stand-in executable) and built on its lattice."""
    from aiida_sei.workchains.new_phase import NewPhaseWorkChain
    from aiida_sei.workchains.structures import StructuresWorkChain

    from aiida_sei.workchains.relax import relax_inputs

    relax = {'backend': 'vasp', 'protocol': 'fast', 'vasp': {'vasp': {'potential_family': potcar_family}}}
    builder = StructuresWorkChain.get_builder()  # the protocols' sets hold interfaces that LJ's Li lattice cannot match
    builder.structures = orm.Dict({'bcc_li': {'kind': 'bcc-li', 'parameters': {'supercell': [2, 2, 2]}}})
    builder.relax = relax_inputs(vasp_code, relax)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    (relaxation,) = [n for n in node.called if n.process_label == 'RelaxWorkChain']
    relaxed = relaxation.outputs.structure
    a = results['lattices']['Li']['a']
    assert a == pytest.approx((2 * relaxed.get_cell_volume() / len(relaxed.sites)) ** (1 / 3))  # 2 atoms per cubic BCC cell
    assert a < 3.3  # LJ(sigma 2.5) pulled it in from 3.42 Å
    assert results['structures']['bcc_li'].get_ase().cell.lengths() == pytest.approx([2 * a] * 3)

    builder = NewPhaseWorkChain.get_builder_from_protocol({'relax': vasp_code, 'lammps': vasp_code}, 'tiny', {'relax': relax})
    assert 'gpaw' not in builder._inputs(prune=True)['relax'] and builder.relax.vasp.relax_settings['force_cutoff'] == 0.01


def test_a_vasp_relaxation_takes_one_k_mesh_and_needs_a_potcar_family(vasp_code, potcar_family):
    from aiida_sei.workchains.vasp import VaspRelaxWorkChain

    with pytest.raises(ProtocolError, match='potential_family'):
        VaspRelaxWorkChain.get_builder_from_protocol(vasp_code, 'fast', structure=li_cell())
    builder = VaspRelaxWorkChain.get_builder_from_protocol(vasp_code, 'fast', {'vasp': {'potential_family': potcar_family}}, structure=li_cell())
    assert VaspRelaxWorkChain.spec().inputs.validate(builder._inputs(prune=True)) is None
    mesh = orm.KpointsData()
    mesh.set_kpoints_mesh([2, 2, 2])
    builder.vasp.kpoints = mesh
    error = VaspRelaxWorkChain.spec().inputs.validate(builder._inputs(prune=True))
    assert error is not None and 'give exactly one of vasp.kpoints and kpoints_distance' in str(error)


def test_a_crashing_vasp_fails_the_relaxation_without_a_structure_or_frame(vasp_code, potcar_family):
    from aiida_sei.workchains.relax import RelaxWorkChain

    overrides = {'backend': 'vasp', 'vasp': {'vasp': {'potential_family': potcar_family}}}
    builder = RelaxWorkChain.get_builder_from_protocol(vasp_code, 'fast', overrides, {'environment_variables': {'SEI_STANDIN_FAIL': 'crash'}},
                                                       structure=li_cell())
    results, node = run_get_node(builder)
    assert node.exit_status == RelaxWorkChain.exit_codes.ERROR_BACKEND_FAILED.status
    assert 'The vasp relaxation failed for good' in node.exit_message and 'VaspRelaxWorkChain' in node.exit_message
    assert not {'structure', 'frame', 'misc'} & set(results)
    assert orm.QueryBuilder().append(FrameData).count() == 0
