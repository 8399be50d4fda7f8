"""``sei.gpaw`` parser: the GPAW runner's results -> a DFT frame (and a relaxed structure)."""

from __future__ import annotations

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
        if 'relax' in misc:  # its final cell and positions are the `structure` output
            misc['relax'] = {key: value for key, value in misc['relax'].items() if key not in ('cell', 'positions')}
        return misc

    def out_structure(self, results: dict, atoms) -> None:
        if 'relax' in results:
            self.out('structure', orm.StructureData(ase=atoms))

    def status_exit_code(self, results: dict) -> ExitCode | None:
        status = results.get('status')
        if status == 'scf_not_converged':
            return self.exit_codes.ERROR_SCF_NOT_CONVERGED
        if status == 'setup_missing':
            return self.exit_codes.ERROR_SETUP_MISSING.format(message=results.get('message', ''))
        if status == 'relax_not_converged':
            return self.exit_codes.ERROR_RELAX_NOT_CONVERGED.format(steps=results['relax']['steps'])
        return super().status_exit_code(results)
