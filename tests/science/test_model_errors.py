"""Can a production run be trusted? Test-set errors against the paper's order and the validation's."""

import pytest

from aiida_sei.science.model_errors import production_check, volume_check


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


@pytest.mark.parametrize(('volumes', 'trusted', 'shown'), [
    ([4464.0, 4500.0, 4588.0], True, '+2.8%'),  # a demo run at 300 K
    ([4464.0, 6000.0, 7234.0], False, '+62%'),  # the same model at 600 K: no cohesion, the cell grows
    ([1000.0, 850.0], False, '-15%'),
])
def test_volume_check_flags_a_cell_that_did_not_keep_its_volume(volumes, trusted, shown):
    check = volume_check(volumes)
    assert check['trusted'] is trusted and shown in check['message']
    assert check['volume_change'] == pytest.approx(volumes[-1] / volumes[0] - 1)
