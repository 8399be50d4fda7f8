"""``sei.label``: one interface to label a structure with DFT (or a stand-in), whatever the backend.

The backend is chosen by which input namespace is filled: ``gpaw`` (GPAW, the embedded
default), ``vasp`` (VASP through aiida-vasp), ``ase`` (a registered ASE calculator as a job:
stand-in labels, never DFT) or ``ase_inline`` (the same calculator in this process). The labelled frame is the output ``frame`` whatever produced it.
"""

from __future__ import annotations

from aiida.orm import Dict

from aiida_sei.data import FrameData
from aiida_sei.protocols import child_inputs
from aiida_sei.workchains.ase import AseBaseWorkChain, AseInlineWorkChain
from aiida_sei.workchains.backends import BackendWorkChain
from aiida_sei.workchains.gpaw import GpawBaseWorkChain
from aiida_sei.workchains.vasp import VaspLabelWorkChain

#: backend name (= its input namespace) -> (work chain, is DFT)
BACKENDS = {
    'gpaw': (GpawBaseWorkChain, True),
    'vasp': (VaspLabelWorkChain, True),
    'ase': (AseBaseWorkChain, False),
    'ase_inline': (AseInlineWorkChain, False),
}


class LabelWorkChain(BackendWorkChain):
    """Label a structure: energy, forces and stress as a ``sei.frame`` linked to its calculation."""

    BACKENDS = BACKENDS
    _task = 'labelling'
    _forwarded = ('frame',)
    #: The label code follows the backend (see the backends' own CODES).
    CODES = {'label': 'label'}

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')


#: Ports of sei.label that the work chains which label many frames set for each frame.
PER_FRAME = ('structure', 'frame_metadata')


def label_inputs(code, settings: dict, options=None) -> dict:
    """The inputs of the ``label`` namespace that active learning and refinement expose, from
    their protocol's ``label`` entry: ``backend``, ``protocol`` and overrides of the backend's
    ports (``{'gpaw': {'parameters': {'ecut': 350}}}``)."""
    settings = dict(settings)
    protocol = settings.pop('protocol', None)
    return child_inputs('label', LabelWorkChain, code, protocol, settings, options)


def submit_label(process, structure, frame_metadata: dict, namespace: str = 'label'):
    """Submit sei.label from ``process`` with its exposed ``namespace`` for one structure."""
    inputs = process.exposed_inputs(LabelWorkChain, namespace)
    return process.submit(LabelWorkChain, **inputs, structure=structure, frame_metadata=Dict(frame_metadata))
