"""Stand-in labels from registered ASE calculators (sei.ase): real calculators, marked not-DFT."""

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
def test_ase_label_matches_the_calculator_and_is_not_dft(python_code, float32_torch, protocol, make_calculator):
    atoms = rattled('li2s')
    builder = LabelWorkChain.get_builder_from_protocol(python_code, protocol, {'backend': 'ase'}, structure=orm.StructureData(ase=atoms))
    results, node = run_get_node(builder)
    assert node.is_finished_ok, node.exit_message
    frame = results['frame']
    atoms.calc = make_calculator()
    assert frame.energy == pytest.approx(atoms.get_potential_energy(), abs=1e-5)
    assert np.allclose(frame.get_array('forces'), atoms.get_forces(), atol=1e-4)
    assert np.allclose(frame.get_array('stress'), atoms.get_stress(voigt=False), atol=1e-6)
    assert frame.base.attributes.get('is_dft') is False
    assert frame.base.attributes.get('backend').startswith('ase:')


def test_paper_protocol_refuses_stand_in_labels(python_code):
    structure = orm.StructureData(ase=rattled('licl'))
    with pytest.raises(ProtocolError, match='DFT backends only'):
        LabelWorkChain.get_builder_from_protocol(python_code, 'paper', {'backend': 'ase'}, structure=structure)


def test_unknown_calculator_is_refused_before_submission(python_code):
    structure = orm.StructureData(ase=rattled('licl'))
    with pytest.raises(ValueError, match='unknown ASE calculator `mace`'):
        LabelWorkChain.get_builder_from_protocol(python_code, overrides={'backend': 'ase', 'ase': {'ase': {'calculator': 'mace'}}}, structure=structure)
