"""``sei.gpaw`` parser: the GPAW runner's results -> a DFT frame."""

from __future__ import annotations

from aiida.engine import ExitCode

from .singlepoint import SinglePointParser


class GpawParser(SinglePointParser):
    """Frames of `sei.gpaw` jobs; an SCF that did not converge is exit 410."""

    is_dft = True

    def backend(self) -> str:
        return 'gpaw'

    def settings(self) -> dict:
        return {'parameters': self.node.inputs.parameters.get_dict(), 'kpoints': self.node.inputs.kpoints.get_kpoints_mesh()[0]}

    def status_exit_code(self, status: str) -> ExitCode | None:
        if status == 'scf_not_converged':
            return self.exit_codes.ERROR_SCF_NOT_CONVERGED
        return super().status_exit_code(status)
