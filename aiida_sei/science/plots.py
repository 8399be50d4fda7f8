"""Figures of the paper's analyses from arrays (matplotlib, Agg backend): PNG files."""

from __future__ import annotations

import numpy as np


def _pyplot():
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


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
    axis.set_ylabel('fraction of Li environments (C: cluster core, N: non-core)')
    axis.set_ylim(0, 1)
    axis.set_title(title or 'Li environments by phase (ACE -> PAk -> DPA)', fontsize=9)
    axis.legend(fontsize=7, ncol=2, loc='upper left', bbox_to_anchor=(1.0, 1.0))
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


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
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
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
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


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
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
