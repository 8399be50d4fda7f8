"""The paper's per-frame analyses as calcfunctions, so each result is a node with its input."""

from __future__ import annotations

from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.science import analyses


@calcfunction
def analyse_structure(structure: orm.StructureData) -> orm.Dict:
    """Intact PS4 count, SEI thickness per side (Å, None once the electrolyte is consumed), Li
    phase fractions (PTM) and the composition per anion of one frame."""
    atoms = structure.get_ase()
    symbols = atoms.get_chemical_symbols()
    has_anions = any(s in analyses.ANIONS for s in symbols)
    return orm.Dict(
        {
            'intact_ps4': analyses.count_intact_ps4(atoms),
            'sei_thickness': analyses.sei_thickness(atoms),
            'li_phases': analyses.li_phase_fractions(atoms) if 'Li' in symbols else None,
            'composition_per_anion': analyses.composition_per_anion(symbols) if has_anions else None,
        }
    )


@calcfunction
def analyse_trajectory(trajectory: orm.TrajectoryData) -> orm.ArrayData:
    """Intact PS4 count and SEI thickness per side of every frame (the paper's Fig. 2d) as one
    node: arrays ``time``, ``intact_ps4``, ``sei_lower``, ``sei_upper`` (Å; NaN once no PS4 is
    left)."""
    import numpy as np

    intact, lower, upper = [], [], []
    for step in range(trajectory.numsteps):
        atoms = trajectory.get_step_structure(step).get_ase()
        intact.append(analyses.count_intact_ps4(atoms))
        thickness = analyses.sei_thickness(atoms)
        lower.append(np.nan if thickness is None else thickness['lower'])
        upper.append(np.nan if thickness is None else thickness['upper'])
    node = orm.ArrayData()
    times = trajectory.get_times() if 'times' in trajectory.get_arraynames() else None
    node.set_array('time', np.asarray(times if times is not None else np.arange(trajectory.numsteps), float))
    node.set_array('intact_ps4', np.asarray(intact, float))
    node.set_array('sei_lower', np.asarray(lower, float))
    node.set_array('sei_upper', np.asarray(upper, float))
    return node


@calcfunction
def characterise_phase(structure: orm.StructureData, composition: orm.Dict, label: orm.Str) -> orm.ArrayData:
    """XRD (Cu Kα) of the atoms classified as ``label`` in ``structure`` (Li with that label from
    a ``classify_structure`` output, and their anions) next to ideal Li2S, and the partial RDFs
    Li-S, Li-P, Li-Cl of that region (paper Figs. S12 and 5d)."""
    import numpy as np

    from aiida_sei.science import crystals

    atoms = structure.get_ase()
    region = analyses.phase_atoms(atoms, composition['li_labels'], label.value)
    node = orm.ArrayData()
    for name, pattern in (('xrd', analyses.xrd_pattern(region)), ('xrd_li2s', analyses.xrd_pattern(crystals.li2s()))):
        node.set_array(f'{name}_two_theta', pattern[0])
        node.set_array(f'{name}_intensity', pattern[1])
    for other in ('S', 'P', 'Cl'):
        r, g = analyses.partial_rdf(region, 'Li', other)
        node.set_array(f'rdf_Li_{other}', np.vstack([r, g]))
    node.base.attributes.set_many({'label': label.value, 'n_atoms': len(region), 'formula': region.get_chemical_formula()})
    return node


@calcfunction
def li_msd_by_phase(trajectory: orm.TrajectoryData) -> orm.ArrayData:
    """The paper's Fig. 2b: window-averaged MSD (Å^2), in plane and along z, of the Li that PTM
    finds BCC or HCP at each window's start (windows in the paper's proportions, see
    ``analyses.msd_windows``), on paths unwrapped with the dump's image flags. Arrays ``lag``
    (ps), ``BCC_in_plane``, ``BCC_out_of_plane``, ``HCP_in_plane``, ``HCP_out_of_plane``;
    attributes: window starts (frame indices) and Li counted per phase."""
    import numpy as np

    if 'images' not in trajectory.get_arraynames():
        raise ValueError('the trajectory has no image flags (array `images`): its wrapped positions would give a wrong MSD')
    starts, length = analyses.msd_windows(trajectory.numsteps)
    unwrapped = analyses.unwrap(trajectory.get_positions(), trajectory.get_cells(), trajectory.get_array('images'))
    frames = {index: trajectory.get_step_structure(index).get_ase() for index in {0, *starts}}
    msd = analyses.li_msd_by_phase(frames, unwrapped, starts, length)
    times = trajectory.get_times()
    result = orm.ArrayData()
    result.set_array('lag', (times[1] - times[0]) * np.arange(length))
    for name, value in msd.items():
        if name.endswith('_atoms'):
            result.base.attributes.set(name, value)
        else:
            result.set_array(name, value)
    result.base.attributes.set('window_starts', starts)
    return result
