"""Figures of the paper's analyses from arrays (matplotlib, Agg backend): PNG files."""

from __future__ import annotations

import numpy as np

BOLTZMANN_EV_PER_K = 8.617333262e-5


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def _save(figure, path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    _pyplot().close(figure)


def composition_series(times, fractions: dict[str, dict[str, np.ndarray]], path, time_unit='ps', title='') -> None:
    """Stacked fractions of each label over time, core (solid) and non-core (hatched): Fig. 4c.
    ``title``: which run it is (the figure is read without the docs)."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    bottom = np.zeros(len(times))
    for label, parts in sorted(fractions.items()):
        for part, hatch in (('core', None), ('non_core', '//')):
            values = np.asarray(parts[part])
            axis.fill_between(times, bottom, bottom + values, step='mid', hatch=hatch, alpha=0.8 if hatch is None else 0.4,
                              label=f'{label}$_{{{"C" if part == "core" else "N"}}}$')
            bottom = bottom + values
    axis.set_xlabel(f'time ({time_unit})')
    axis.set_ylabel('fraction of Li (C: cluster core, N: non-core)')
    axis.set_ylim(0, 1)
    axis.set_title(title or 'Li environments by phase (ACE -> PAk -> DPA)', fontsize=9)
    axis.legend(fontsize=7, ncol=2, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    _save(figure, path)


def uncertainty_segments(segments, thresholds: dict, path, title='', start_step: int = 0) -> list[tuple[list, list]]:
    """Active learning: the maximum per-atom uncertainty of each stored frame and of each
    segment's last step, at their MD steps, against the ``dft`` and ``add_atom`` thresholds; a
    cross where a segment called for a label. ``segments``: per segment, (stored step ids or None,
    their maximum uncertainties, steps run or None if it did not finish, the last step's maximum
    uncertainty, whether it triggered); ``start_step``: where the run's MD started. Returns the
    points drawn, (steps, uncertainties) per segment."""
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(7, 4))
    end, drawn = start_step, []
    for number, (steps, uncertainties, steps_run, last, triggered) in enumerate(segments, start=1):
        x, y = (list(steps), list(uncertainties)) if steps is not None else ([], [])
        if steps_run is not None:
            end += steps_run
            if last is not None and (not x or x[-1] != end):
                x, y = [*x, end], [*y, last]  # a segment shorter than the thinning stored no frame
            axis.axvline(end, color='0.85', lw=0.8)
        axis.plot(x, y, marker='.', label=f'segment {number}' if number <= 10 else None)
        drawn.append((x, y))
        if triggered and x:
            axis.plot(x[-1], y[-1], 'kx', ms=8, label='label called' if number == 1 or not any(s[4] for s in segments[:number - 1]) else None)
    for name, style in (('dft', '--'), ('add_atom', ':')):
        if name in thresholds:
            axis.axhline(thresholds[name], color='k', ls=style, lw=1, label=f'{name} threshold {thresholds[name]:g}')
    axis.set_xlabel('MD step')
    axis.set_ylabel('max per-atom uncertainty (FLARE, normalised)')
    axis.set_title(title)
    axis.legend(fontsize=7, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    _save(figure, path)
    return drawn


def sei_evolution(times, intact_ps4, thickness_lower, thickness_upper, path, time_unit='ps', title='') -> None:
    """Intact PS4 count and SEI thickness per side over time: Fig. 2d."""
    plt = _pyplot()
    figure, left = plt.subplots(figsize=(6, 4))
    left.set_title(title or 'intact PS$_4$ and SEI thickness (Fig. 2d)', fontsize=9)
    left.plot(times, intact_ps4, color='tab:blue', marker='o', ms=3)  # markers: a short run has few frames
    left.set_xlabel(f'time ({time_unit})')
    left.set_ylabel('intact PS$_4$', color='tab:blue')
    right = left.twinx()
    right.plot(times, thickness_lower, color='tab:orange', ls='--', marker='v', ms=4, label='lower side')
    right.plot(times, thickness_upper, color='tab:orange', marker='^', ms=4, label='upper side')
    right.set_ylabel('SEI thickness (Å)', color='tab:orange')
    right.legend(fontsize=8)
    _save(figure, path)


def phase_characterisation(two_theta, intensity, reference_two_theta, reference_intensity, rdfs: dict, path, label='phase') -> None:
    """Simulated XRD of a classified phase against ideal Li2S (Fig. S12) and its partial RDFs
    (Fig. 5d)."""
    plt = _pyplot()
    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.vlines(reference_two_theta, 0, reference_intensity, color='grey', label='ideal Li$_2$S')
    left.vlines(two_theta, 0, intensity, color='tab:red', alpha=0.7, label=label)
    left.set_xlabel('2θ (degrees, Cu Kα)')
    left.set_ylabel('intensity')
    left.legend(fontsize=8)
    for pair, (r, g) in rdfs.items():
        right.plot(r, g, label=pair)
    right.set_xlabel('r (Å)')
    right.set_ylabel('g(r)')
    right.legend(fontsize=8)
    _save(figure, path)


# -- the new phase (sei.new_phase) -----------------------------------------------------------

def hull_figure(summary: dict, path) -> None:
    """E above hull and gap of each ordering, with the paper's values as lines."""
    plt = _pyplot()

    names = list(summary['orderings'])
    rows = [summary['orderings'][name] for name in names]
    figure, (hull, gap) = plt.subplots(1, 2, figsize=(9, 3.5))
    hull.bar(names, [row['e_above_hull_meV_per_atom'] for row in rows], color='tab:blue')
    hull.axhline(summary['paper']['e_above_hull_meV_per_atom'], color='k', ls='--', label='paper, lowest (VASP)')
    hull.set_ylabel('E above Li2S + Li3P + LiCl hull (meV/atom)')
    hull.legend()
    gap.bar(names, [row['band_gap_eV'] for row in rows], color='tab:orange')
    gap.axhspan(*summary['paper']['band_gap_eV'], color='grey', alpha=0.3, label='paper, 1.4-2.0 eV')
    gap.axhline(summary['competing']['Li2S']['band_gap_eV'], color='k', ls=':', label='Li2S (this run)')
    gap.set_ylabel('PBE band gap (eV)')
    gap.legend()
    for axis in (hull, gap):
        axis.tick_params(axis='x', rotation=30)
    _save(figure, path)


def dos_figure(dos: dict, gaps: dict, path) -> None:
    """The Kohn-Sham DOS of each structure (name -> (E - E_F, states/eV)), one panel each, with its gap."""
    plt = _pyplot()

    figure, axes = plt.subplots(len(dos), 1, figsize=(6, 1.6 * len(dos) + 0.6), sharex=True, squeeze=False)
    for axis, (name, (energies, values)) in zip(axes[:, 0], dos.items()):
        axis.fill_between(energies, values, color='tab:blue', alpha=0.4, lw=0)
        axis.plot(energies, values, color='tab:blue', lw=0.8)
        axis.axvline(0.0, color='k', ls=':', lw=0.8)
        axis.text(0.01, 0.85, f'{name}: gap {gaps[name]:.2f} eV', transform=axis.transAxes, fontsize=8)
        axis.set_ylabel('states/eV', fontsize=8)
    axes[-1, 0].set_xlabel('E - E$_F$ (eV)')
    _save(figure, path)


def arrhenius_figure(diffusivity: dict, paper: dict, path) -> None:
    """log D against 1000/T with error bars (sei.new_phase's `diffusivity`), the Arrhenius fit down
    to its extrapolation, and the paper's 300 K bound (its summary's `paper`)."""
    plt = _pyplot()

    rows = {float(t): row for t, row in diffusivity['temperatures'].items()}
    figure, axis = plt.subplots(figsize=(5, 3.8))
    temperatures = np.array(list(rows))
    axis.errorbar(1000 / temperatures, [row['D_cm2_s'] for row in rows.values()], yerr=[row['D_err_cm2_s'] for row in rows.values()],
                  fmt='o', color='tab:blue', label='MD (this run)')
    target = diffusivity['extrapolate_to_K']
    if fit := diffusivity['arrhenius']:
        line = np.linspace(1000 / temperatures.max(), 1000 / target, 50)
        axis.plot(line, fit['D0_cm2_s'] * np.exp(-fit['Ea_eV'] / (BOLTZMANN_EV_PER_K * 1000 / line)), color='tab:blue', ls='--',
                  label=f'Arrhenius, Ea {fit["Ea_eV"]:.2f} eV')
        axis.errorbar([1000 / target], [fit['D_extrapolated_cm2_s']], yerr=[fit['D_extrapolated_err_cm2_s']], fmt='s', mfc='none', color='tab:blue')
    axis.plot([1000 / 300.0], [paper['li_diffusivity_300K_cm2_s']], 'v', color='k', label='paper, 300 K (upper bound)')
    axis.set_yscale('log')
    axis.set_xlabel('1000 / T (1/K)')
    axis.set_ylabel('Li D (cm$^2$/s)')
    axis.legend(fontsize=8)
    _save(figure, path)


def xrd_figure(patterns: dict, reference: tuple, path, reference_label: str = 'Li$_2$S (relaxed)') -> None:
    """Simulated powder XRD (Cu Kα) of each structure (name -> (2θ, intensity)), one panel each,
    over the reference's sticks in grey (the paper's Fig. S12: the new phase beside Li2S)."""
    plt = _pyplot()
    figure, axes = plt.subplots(len(patterns), 1, figsize=(6, 1.5 * len(patterns) + 0.6), sharex=True, squeeze=False)
    for axis, (name, (two_theta, intensity)) in zip(axes[:, 0], patterns.items()):
        axis.vlines(reference[0], 0, reference[1], color='grey', lw=3, alpha=0.5, label=reference_label)
        axis.vlines(two_theta, 0, intensity, color='tab:red', lw=1, label=name)
        axis.legend(fontsize=7, loc='upper right')
        axis.set_ylabel('intensity', fontsize=8)
    axes[-1, 0].set_xlabel('2θ (degrees, Cu Kα)')
    _save(figure, path)
