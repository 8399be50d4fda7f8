"""Structure kinds by name, parameter resolution and the checks on every structure."""

import ase
import pytest

from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError


def test_every_kind_builds_with_defaults_or_a_ratio():
    for kind in catalogue.BUILDERS:
        parameters = {'li_layers': 4} if kind == 'interface' else {}
        atoms = catalogue.build(kind, parameters)
        assert set(atoms.get_chemical_symbols()) <= set(catalogue.SPECIES)


def test_resolved_parameters_hold_every_default():
    resolved = catalogue.resolve_parameters('argyrodite', {'seed': 4})
    assert resolved == {'a': 9.912, 'supercell': [1, 1, 1], 'cl_on_4a': 0.5, 'seed': 4}


@pytest.mark.parametrize(
    ('call', 'message'),
    [
        (lambda: catalogue.build('fcc-li'), 'unknown structure kind'),
        (lambda: catalogue.build('bcc-li', {'lattice': 3.5}), 'unknown parameter'),
        (lambda: catalogue.check_atoms(ase.Atoms('Li2Fe', positions=[[0, 0, 0], [3, 0, 0], [0, 3, 0]])), 'Fe'),
        (lambda: catalogue.check_atoms(ase.Atoms('Li2', positions=[[0, 0, 0], [0.3, 0, 0]])), 'overlapping'),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises(StructureInputError, match=message):
        call()
