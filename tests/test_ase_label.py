"""Stand-in labels from registered ASE calculators (sei.ase jobs and sei.ase.inline in-process):
real calculators, marked not-DFT."""

import sys

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase.calculators.lj import LennardJones

from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.calculators import chgnet
from aiida_sei.protocols import ProtocolError
from aiida_sei.workchains.label import LabelWorkChain


@pytest.fixture
def float32_torch():
    """CHGNet needs torch's default float32; nequip (imported by other tests in this process)
    switches the default to float64."""
    import torch

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(previous)


@pytest.fixture
def python_code(aiida_profile_clean, aiida_code_installed):
    return aiida_code_installed(label='python', filepath_executable=sys.executable, prepend_text='export OMP_NUM_THREADS=1')


def rattled(kind):
    atoms = build_structure_node(kind)['structure'].get_ase()
    atoms.rattle(0.05, seed=3)
    return atoms


@pytest.mark.parametrize(('protocol', 'make_calculator'), [
    ('fast', lambda: LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)),
    ('universal', chgnet),
])
@pytest.mark.parametrize('backend', ['ase', 'ase_inline'])
def test_ase_label_matches_the_calculator_and_is_not_dft(python_code, float32_torch, protocol, make_calculator, backend):
    atoms = rattled('li2s')
    builder = LabelWorkChain.get_builder_from_protocol(python_code, protocol, {'backend': backend}, structure=orm.StructureData(ase=atoms))
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    frame = results['frame']
    atoms.calc = make_calculator()
    assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
    assert np.allclose(frame.get_array('forces'), atoms.get_forces(), atol=1e-4)
    assert np.allclose(frame.get_array('stress'), atoms.get_stress(voigt=False), atol=1e-6)
    assert frame.base.attributes.get('is_dft') is False
    assert frame.base.attributes.get('backend') == f'ase:{"chgnet" if protocol == "universal" else "lennard-jones"}'
    assert frame.base.attributes.get('system') == 'Li2S'
    version = node.called[0].outputs.misc['calculator_version']
    assert version.split()[0] == ('chgnet' if protocol == 'universal' else 'ase')


def test_inline_chgnet_label_under_float64_default_is_the_float32_one(python_code, float32_torch):
    """nequip sets torch's default dtype to float64 in the processes it is imported in; an
    in-process CHGNet label must not change with it."""
    import torch

    atoms = rattled('li2s')
    builder = LabelWorkChain.get_builder_from_protocol(python_code, 'universal', {'backend': 'ase_inline'}, structure=orm.StructureData(ase=atoms))
    torch.set_default_dtype(torch.float64)
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    torch.set_default_dtype(torch.float32)
    atoms.calc = chgnet()
    assert results['frame'].energy == pytest.approx(atoms.get_potential_energy(), abs=1e-5)


def test_inline_calculator_failure_is_an_exit_code(python_code):
    """A calculator that raises (LJ given an unknown keyword) ends sei.label in exit 400 naming the
    error, with no frame."""
    builder = LabelWorkChain.get_builder_from_protocol(
        python_code, overrides={'backend': 'ase_inline', 'ase_inline': {'parameters': {'cutoff': 3.0}}},
        structure=orm.StructureData(ase=rattled('licl')))
    results, node = run_get_node(builder)
    assert node.exit_status == 400
    assert 'ase_inline' in node.exit_message and 'cutoff' in node.exit_message
    assert 'frame' not in results


def test_paper_protocol_refuses_stand_in_labels(python_code):
    structure = orm.StructureData(ase=rattled('licl'))
    with pytest.raises(ProtocolError, match='DFT backends only'):
        LabelWorkChain.get_builder_from_protocol(python_code, 'paper', {'backend': 'ase'}, structure=structure)


def test_unknown_calculator_is_refused_before_submission(python_code):
    structure = orm.StructureData(ase=rattled('licl'))
    with pytest.raises(ValueError, match='unknown ASE calculator `mace`'):
        LabelWorkChain.get_builder_from_protocol(python_code, overrides={'backend': 'ase', 'ase': {'ase': {'calculator': 'mace'}}}, structure=structure)
