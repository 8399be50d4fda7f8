"""Errors of a model against reference frames, per system, and the parity plot (pure numpy)."""

from __future__ import annotations

import numpy as np


def _mae_rmse(errors) -> tuple[float, float]:
    errors = np.asarray(errors, float).ravel()
    return float(np.mean(np.abs(errors))), float(np.sqrt(np.mean(errors**2)))


def _stress_mae_rmse(errors) -> tuple[float | None, float | None]:
    """Over the frames labelled with a stress (the others' errors are NaN); None if none was."""
    errors = np.asarray(errors, float).ravel()
    known = errors[~np.isnan(errors)]
    return _mae_rmse(known) if known.size else (None, None)


def errors_by_system(systems, n_atoms, energy_reference, energy_predicted, force_errors, stress_errors) -> dict:
    """MAE and RMSE of energy per atom (eV), forces (eV/Å) and stress (eV/Å^3) for each system
    and for all frames together (key ``all``).

    ``force_errors`` and ``stress_errors`` hold one array per frame (predicted - reference);
    a frame labelled without stress has NaN stress errors and counts for energy and forces only.
    """
    systems = np.asarray(systems)
    energy_errors = (np.asarray(energy_predicted) - np.asarray(energy_reference)) / np.asarray(n_atoms)
    table = {}
    for system in [*sorted(set(systems.tolist())), 'all']:
        mask = np.ones(len(systems), bool) if system == 'all' else systems == system
        picked = np.flatnonzero(mask)
        energy = _mae_rmse(energy_errors[mask])
        forces = _mae_rmse(np.concatenate([np.ravel(force_errors[i]) for i in picked]))
        stress = _stress_mae_rmse(np.concatenate([np.ravel(stress_errors[i]) for i in picked]))
        table[system] = {
            'frames': int(mask.sum()),
            'energy_per_atom_mae': energy[0],
            'energy_per_atom_rmse': energy[1],
            'forces_mae': forces[0],
            'forces_rmse': forces[1],
            'stress_mae': stress[0],
            'stress_rmse': stress[1],
        }
    return table


def parity_plot(systems, energy_reference, energy_predicted, force_reference, force_predicted, path, title='') -> None:
    """Energy-per-atom and force-component parity plots, coloured by system, written to ``path``."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    systems = np.asarray(systems)
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4.6))
    for system in sorted(set(systems.tolist())):
        mask = systems == system
        left.scatter(np.asarray(energy_reference)[mask], np.asarray(energy_predicted)[mask], s=10, label=system)
    force_reference, force_predicted = np.asarray(force_reference), np.asarray(force_predicted)
    right.scatter(force_reference, force_predicted, s=2, alpha=0.5)
    for axis, unit in ((left, 'energy per atom (eV)'), (right, 'force component (eV/Å)')):
        low, high = axis.get_xlim()
        axis.plot([low, high], [low, high], 'k--', lw=0.8)
        axis.set_xlabel(f'reference {unit}')
        axis.set_ylabel(f'model {unit}')
    left.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def production_check(validation: dict, test: dict, energy_bound: float = 0.05, force_bound: float = 0.2,
                     energy_factor: float = 3.0, force_factor: float = 1.5) -> dict:
    """Can the production run's numbers be trusted? The model's errors on labelled production frames
    (``test``, the paper's test set) against two yardsticks: the order the paper reports for its
    labeller (energy MAE at most ``energy_bound`` eV/atom, force RMSE at most ``force_bound`` eV/Å;
    the paper itself reached below 3 meV/atom), and the model's own validation errors (a test
    energy MAE above ``energy_factor`` x the validation's, or a force RMSE above ``force_factor`` x,
    means the production sampled states the training data did not cover). Either makes the run's
    later frames the model's, not the labeller's."""
    energy, forces = test['energy_per_atom_mae'], test['forces_rmse']
    energy_ratio = energy / max(validation['energy_per_atom_mae'], 1e-12)
    force_ratio = forces / max(validation['forces_rmse'], 1e-12)
    reasons = []
    if energy > energy_bound:
        reasons.append(f'energy MAE {1000 * energy:.0f} meV/atom > {1000 * energy_bound:.0f}')
    if forces > force_bound:
        reasons.append(f'force RMSE {forces:.2f} eV/Å > {force_bound:.2f}')
    if energy_ratio > energy_factor and energy > 0.02:
        reasons.append(f'energy MAE {energy_ratio:.1f}x validation: states the training data did not cover')
    if force_ratio > force_factor:
        reasons.append(f'force RMSE {force_ratio:.1f}x validation: states the training data did not cover')
    message = (f'not to be trusted: the model on labelled production frames has {"; ".join(reasons)}. Its MD shows the model, '
               'not the labeller: add data of those states (active learning, refinement)') if reasons else \
        'trusted: test-set errors of the order the paper reports and of the validation errors'
    return {'trusted': not reasons, 'energy_ratio': float(energy_ratio), 'force_ratio': float(force_ratio), 'message': message}


def volume_check(volumes, bound: float = 0.10) -> dict:
    """Did the NPT cell keep its volume? Heating and the SEI's reactions change it by a few per
    cent (the reduced run: -1.2 % in 15 ps at 300 K, +1.3 % at 600 K); a model with no cohesion
    outside its training densities lets the cell grow without stopping (least-squares energy
    shifts, docs/training.md). A change beyond ``bound`` makes the run's frames the model's
    failure, not the physics."""
    volumes = [float(v) for v in volumes]
    change = volumes[-1] / volumes[0] - 1.0
    trusted = abs(change) <= bound
    message = (f'the cell\'s volume changed {change:+.0%} in the run (more than {bound:.0%}): the model does not hold the '
               'material together at these states, and the frames show that, not the physics') if not trusted else \
        f'the cell\'s volume changed {change:+.1%} in the run'
    return {'trusted': trusted, 'volume_change': change, 'message': message}
