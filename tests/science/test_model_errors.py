"""Can a production run be trusted? Test-set errors against the paper's order and the validation's."""

import pytest

from aiida_sei.science.model_errors import production_check


def errors(energy_mae, forces_rmse):
    return {'energy_per_atom_mae': energy_mae, 'forces_rmse': forces_rmse}


@pytest.mark.parametrize(('validation', 'test', 'trusted', 'named'), [
    (errors(0.010, 0.15), errors(0.012, 0.16), True, []),                  # as good as validation, within the paper's order
    (errors(0.010, 0.15), errors(0.025, 0.16), True, []),                  # 2.5x validation: within the factor
    (errors(0.004, 0.10), errors(0.015, 0.12), True, []),                  # 3.8x, but under 20 meV/atom
    (errors(0.010, 0.22), errors(0.192, 0.34), False, ['energy MAE 192 meV/atom > 50', 'force RMSE 0.34 eV/Å > 0.20', 'energy MAE 19.2x validation']),
    (errors(0.063, 0.34), errors(0.122, 0.47), False, ['energy MAE 122 meV/atom > 50', 'force RMSE 0.47 eV/Å > 0.20']),  # bad everywhere: the ratios alone pass
    (errors(0.010, 0.10), errors(0.030, 0.19), False, ['force RMSE 1.9x validation']),
])
def test_production_check_names_every_reason_not_to_trust_the_run(validation, test, trusted, named):
    check = production_check(validation, test)
    assert check['trusted'] is trusted
    assert all(text in check['message'] for text in named), check['message']
    assert check['message'].startswith('trusted' if trusted else 'not to be trusted')
