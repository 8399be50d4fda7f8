"""The new phase Li2S(1-2x)PxClx as calcfunctions: its ordered approximants and their stability,
so that "how far above the hull, and which calculations say so" is a query."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.science import lattices, new_phase

#: The paper's numbers for the same quantities (PBE, VASP), shown beside the project's.
PAPER = {'e_above_hull_meV_per_atom': 27.7, 'band_gap_eV': [1.4, 2.0], 'li2s_band_gap_eV': 3.4,
         'mixing_entropy_meV_300K': 20.0, 'li_diffusivity_300K_cm2_s': 4.2e-9}


@calcfunction
def enumerate_orderings(parameters: orm.Dict) -> dict:
    """Every symmetry-inequivalent ordering of ``n_pairs`` P and Cl pairs on the S sites of Li2S
    repeated ``x_cells`` (science.new_phase.ordered_approximants): ``ordering_<n>`` structures and
    ``info`` (per ordering: formula, x, multiplicity, shortest P-Cl distance in Å)."""
    settings = parameters.get_dict()
    orderings = new_phase.ordered_approximants(tuple(settings['x_cells']), settings['n_pairs'])
    outputs, info = {}, {}
    for number, ordering in enumerate(orderings, start=1):
        name = f'ordering_{number}'
        outputs[name] = orm.StructureData(ase=ordering.atoms)
        info[name] = {'formula': ordering.atoms.get_chemical_formula(), 'x': ordering.atoms.info['x'],
                      'multiplicity': ordering.multiplicity, 'p_cl_distance': ordering.p_cl_distance}
    outputs['info'] = orm.Dict(info)
    return outputs


def band_gap(misc: dict) -> float | None:
    """The Kohn-Sham gap (eV) in a relaxation's misc: GPAW's ``band_gap``, aiida-vasp's
    ``band_properties.band_gap``."""
    if 'band_gap' in misc:
        return misc['band_gap']
    return (misc.get('band_properties') or {}).get('band_gap')


@calcfunction
def phase_stability(info: orm.Dict, temperature: orm.Float, **relaxed) -> orm.Dict:
    """E above the Li2S + Li3P + LiCl hull (meV/atom) and Kohn-Sham gap (eV) of each relaxed
    ordering, the competing phases' energies, gaps and lattices, and the ideal mixing entropy at
    ``temperature`` (K) with the temperature at which it offsets the lowest E_hull.

    ``relaxed``: ``frame_<name>`` (the relaxed cell's frame) and ``misc_<name>`` (its DFT misc:
    GPAW's or aiida-vasp's) for each ordering of ``info`` and each competing phase (named by formula)."""
    orderings = info.get_dict()
    names = sorted({key.partition('_')[2] for key in relaxed})
    competing = [name for name in names if name not in orderings]
    energy = {name: relaxed[f'frame_{name}'].base.attributes.get('energy_per_atom') for name in names}
    gap = {name: band_gap(relaxed[f'misc_{name}'].get_dict()) for name in names}
    terminals = {name: energy[name] for name in competing}
    rows = {}
    for name, row in orderings.items():
        e_hull = new_phase.energy_above_compound_hull(terminals, row['formula'], energy[name])
        rows[name] = {**row, 'energy_eV_per_atom': energy[name], 'e_above_hull_meV_per_atom': 1000 * e_hull, 'band_gap_eV': gap[name]}
    lowest = min(rows, key=lambda name: rows[name]['e_above_hull_meV_per_atom'])
    x, kelvin = rows[lowest]['x'], temperature.value
    e_lowest = rows[lowest]['e_above_hull_meV_per_atom'] / 1000
    return orm.Dict({
        'orderings': rows,
        'lowest': lowest,
        'competing': {name: {'energy_eV_per_atom': energy[name], 'band_gap_eV': gap[name],
                             'lattice': lattices.lattice_parameters(name, relaxed[f'frame_{name}'].get_atoms())} for name in competing},
        'temperature_K': kelvin,
        'mixing_entropy_meV_per_atom': 1000 * kelvin * new_phase.mixing_entropy(x, per_atom=True),
        'mixing_entropy_meV_per_formula_unit': 1000 * kelvin * new_phase.mixing_entropy(x, per_atom=False),
        'offset_temperature_K': new_phase.offset_temperature(e_lowest, x) if e_lowest > 0 else 0.0,
        'paper': PAPER,
    })


@calcfunction
def li_diffusivity(settings: orm.Dict, **trajectories: orm.TrajectoryData) -> orm.Dict:
    """Li diffusion coefficient at each temperature from MD trajectories ``md_<T>`` (T in K):
    time-origin-averaged MSD of the Li on paths unwrapped with the dump's image flags, split into
    ``n_blocks`` groups of atoms for the error, fitted over ``fit_range`` of the lags; then an
    Arrhenius fit and its extrapolation to ``extrapolate_to_K`` with its 1-sigma error."""
    import numpy as np

    from aiida_sei.science import analyses

    options = settings.get_dict()
    rows = {}
    for key, trajectory in sorted(trajectories.items(), key=lambda item: float(item[0].removeprefix('md_'))):
        unwrapped = analyses.unwrap(trajectory.get_positions(), trajectory.get_cells(), trajectory.get_array('images'))
        blocks = new_phase.msd_blocks(unwrapped, np.array(trajectory.symbols) == 'Li', options['n_blocks'])
        times = trajectory.get_times()
        lags = (times[1] - times[0]) * np.arange(blocks.shape[1])
        d, error = new_phase.diffusion_coefficient(lags, blocks, tuple(options['fit_range']))
        rows[key.removeprefix('md_')] = {'D_cm2_s': d, 'D_err_cm2_s': error, 'msd_A2_at_longest_lag': float(blocks[:, -1].mean()),
                                         'longest_lag_ps': float(lags[-1])}
    result = {'temperatures': rows, 'arrhenius': None, 'extrapolate_to_K': options['extrapolate_to_K']}
    positive = {float(t): row for t, row in rows.items() if row['D_cm2_s'] > 0}
    if len(positive) >= 2:
        fit = new_phase.arrhenius_fit(list(positive), [row['D_cm2_s'] for row in positive.values()],
                                      [max(row['D_err_cm2_s'], 1e-3 * row['D_cm2_s']) for row in positive.values()])
        d, error = fit.extrapolate(options['extrapolate_to_K'])
        result['arrhenius'] = {'Ea_eV': fit.ea_ev, 'Ea_err_eV': fit.ea_err_ev, 'D0_cm2_s': fit.d0_cm2_s,
                               'D_extrapolated_cm2_s': float(d), 'D_extrapolated_err_cm2_s': float(error)}
    return orm.Dict(result)
