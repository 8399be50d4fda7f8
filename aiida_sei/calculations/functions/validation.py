"""Validate a compiled model on held-out frames: per-system errors and parity data as nodes."""

from __future__ import annotations

import contextlib

import numpy as np
from aiida import orm
from aiida.engine import calcfunction

from aiida_sei.data import CompiledModelData, DatasetData
from aiida_sei.science.archives import check_zip
from aiida_sei.science.model_errors import errors_by_system


@contextlib.contextmanager
def ase_calculator(compiled: CompiledModelData):
    """The ASE calculator of ``compiled`` (target `ase`, CPU), its archive checked before torch unpacks it."""
    from nequip.integrations.ase import NequIPCalculator

    with compiled.as_path() as path:
        check_zip(path, f'compiled model<{compiled.pk}>')
        yield NequIPCalculator.from_compiled_model(str(path), device='cpu', chemical_species_to_atom_type_map=True)


@calcfunction
def validate_model(compiled: CompiledModelData, dataset: DatasetData) -> dict:
    """Evaluate ``compiled`` (target `ase`, CPU) on every frame of ``dataset``.

    Outputs ``errors`` (per system and ``all``: MAE/RMSE of energy per atom eV, forces eV/Å,
    stress eV/Å^3) and ``parity`` (reference and predicted energy per atom and force components,
    with each frame's system).
    """
    systems, n_atoms, e_ref, e_pred, f_err, s_err, f_ref, f_pred, f_system = [], [], [], [], [], [], [], [], []
    with ase_calculator(compiled) as calculator:
        for frame in dataset.iter_frames():
            atoms = frame.get_atoms()
            reference = (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False))
            atoms.calc = calculator
            predicted = (atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress(voigt=False))
            system = frame.base.attributes.get('system', None) or 'unknown'
            systems.append(system)
            n_atoms.append(len(atoms))
            e_ref.append(reference[0])
            e_pred.append(predicted[0])
            f_err.append(predicted[1] - reference[1])
            s_err.append(predicted[2] - reference[2])
            f_ref.extend(reference[1].ravel())
            f_pred.extend(predicted[1].ravel())
            f_system.extend([system] * reference[1].size)
    parity = orm.ArrayData()
    parity.set_array('energy_per_atom_reference', np.array(e_ref) / np.array(n_atoms))
    parity.set_array('energy_per_atom_predicted', np.array(e_pred) / np.array(n_atoms))
    parity.set_array('force_reference', np.array(f_ref))
    parity.set_array('force_predicted', np.array(f_pred))
    parity.base.attributes.set('systems', systems)
    return {'errors': orm.Dict(errors_by_system(systems, n_atoms, e_ref, e_pred, f_err, s_err)), 'parity': parity}


@calcfunction
def dft_check_errors(compiled: CompiledModelData, core_radius: orm.Float, regions: orm.List, **frames) -> orm.Dict:
    """The stand-in labeller and ``compiled`` against DFT on clusters cut out of production
    frames (``dft_NNN`` and ``stand_in_NNN``: the same cluster labelled both ways; ``regions``:
    each cluster's region). Forces on the core atoms (within ``core_radius`` of the centre),
    energies after a fitted shift per species (science.dft_check), overall and per region."""
    from aiida_sei.science.dft_check import aligned_energy_errors, core_mask, force_errors

    names = sorted(key.removeprefix('dft_') for key in frames if key.startswith('dft_'))
    dft = [frames[f'dft_{name}'].get_atoms() for name in names]
    stand_in = [frames[f'stand_in_{name}'].get_atoms() for name in names]
    with ase_calculator(compiled) as calculator:
        model = []
        for atoms in dft:
            atoms = atoms.copy()
            atoms.calc = calculator
            model.append((atoms.get_potential_energy(), atoms.get_forces()))
    masks = [core_mask(atoms, core_radius.value) for atoms in dft]
    compositions = [{element: atoms.get_chemical_symbols().count(element) for element in set(atoms.get_chemical_symbols())} for atoms in dft]
    reference = ([atoms.get_potential_energy() for atoms in dft], [atoms.get_forces() for atoms in dft])
    predicted = {'stand_in': ([atoms.get_potential_energy() for atoms in stand_in], [atoms.get_forces() for atoms in stand_in]),
                 'model': ([e for e, _ in model], [f for _, f in model])}
    region_of = np.array(regions.get_list())

    def compare(energies, forces, picked):
        pick = lambda values: [values[i] for i in picked]  # noqa: E731
        return {**force_errors(pick(reference[1]), pick(forces), pick(masks)),
                'energy': aligned_energy_errors(pick(compositions), pick(reference[0]), pick(energies))}

    result = {'clusters': len(names), 'atoms': [len(atoms) for atoms in dft], 'core_atoms': [int(mask.sum()) for mask in masks],
              'regions': region_of.tolist(), 'core_radius': core_radius.value}
    for who, (energies, forces) in predicted.items():
        result[who] = {'all': compare(energies, forces, range(len(names)))}
        for region in sorted(set(region_of.tolist())):
            result[who][region] = compare(energies, forces, np.flatnonzero(region_of == region))
    return orm.Dict(result)
