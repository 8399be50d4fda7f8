"""``sei.gpaw`` parser: the GPAW runner's results -> a DFT frame, the DOS (and a relaxed structure)."""

from __future__ import annotations

import numpy as np
from aiida import orm
from aiida.engine import ExitCode

from .singlepoint import SinglePointParser


class GpawParser(SinglePointParser):
    """Frames of `sei.gpaw` jobs; an SCF that did not converge is exit 410, a missing setup 411,
    a relaxation that ran out of steps 430 (with its last structure, for a restart)."""

    is_dft = True

    def backend(self) -> str:
        return 'gpaw'

    def settings(self) -> dict:
        return {'parameters': self.node.inputs.parameters.get_dict(), 'kpoints': self.node.inputs.kpoints.get_kpoints_mesh()[0]}

    def settings_of_run(self, results: dict) -> dict:
        # which setup labelled the frame: name, valence electrons, fingerprint (the file's hash)
        return {'setups': results.get('setups', {})}

    def final_atoms(self, results: dict):
        atoms = super().final_atoms(results)
        if 'relax' in results:
            atoms.set_cell(results['relax']['cell'])
            atoms.positions = results['relax']['positions']
        return atoms

    def misc(self, results: dict) -> dict:
        misc = super().misc(results)
        misc.pop('dos', None)  # the `dos` output
        if 'relax' in misc:  # its final cell and positions are the `structure` output
            misc['relax'] = {key: value for key, value in misc['relax'].items() if key not in ('cell', 'positions')}
        return misc

    def extra_outputs(self, results: dict, atoms) -> dict:
        outputs = {'structure': orm.StructureData(ase=atoms)} if 'relax' in results else {}
        if 'dos' in results:
            outputs['dos'] = density_of_states(results['dos'])
        return outputs

    def status_exit_code(self, results: dict) -> ExitCode | None:
        status = results.get('status')
        if status == 'scf_not_converged':
            return self.exit_codes.ERROR_SCF_NOT_CONVERGED
        if status == 'setup_missing':
            return self.exit_codes.ERROR_SETUP_MISSING.format(message=results.get('message', ''))
        if status == 'relax_not_converged':
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(steps=results['relax']['steps'])
        return super().status_exit_code(results)


def density_of_states(dos: dict) -> orm.XyData:
    """The runner's DOS as XyData: x E - E_F (eV), y states/eV per cell."""
    data = orm.XyData()
    data.set_x(np.array(dos['energies']), 'E - E_F', 'eV')
    data.set_y(np.array(dos['dos']), 'DOS', 'states/eV per cell')
    data.base.attributes.set('gaussian_width_eV', dos['width'])
    return data
