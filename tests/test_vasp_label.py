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
    assert node.exit_status == LabelWorkChain.exit_codes.ERROR_LABEL_FAILED.status
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
