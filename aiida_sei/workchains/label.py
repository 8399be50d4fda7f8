"""``sei.label``: one interface to label a structure with DFT (or a stand-in), whatever the backend.

The backend is chosen by which input namespace is filled: ``gpaw`` (GPAW, the embedded
default), ``vasp`` (VASP through aiida-vasp) or ``ase`` (a registered ASE calculator: stand-in
labels, never DFT). The labelled frame is the output ``frame`` whatever produced it.
"""

from __future__ import annotations

from aiida.engine import ToContext, WorkChain
from aiida.orm import Dict, StructureData

from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.data import FrameData
from aiida_sei.protocols import ProtocolError, child_inputs, code_roles
from aiida_sei.science.frames import guess_system
from aiida_sei.workchains import failure
from aiida_sei.workchains.ase import AseBaseWorkChain
from aiida_sei.workchains.gpaw import GpawBaseWorkChain
from aiida_sei.workchains.vasp import VaspLabelWorkChain

#: backend name (= its input namespace) -> (work chain, is DFT)
BACKENDS = {
    'gpaw': (GpawBaseWorkChain, True),
    'vasp': (VaspLabelWorkChain, True),
    'ase': (AseBaseWorkChain, False),
}


def validate_inputs(inputs, _):
    chosen = [name for name in BACKENDS if name in inputs]
    if len(chosen) != 1:
        return f'fill exactly one backend namespace of {", ".join(BACKENDS)} (got {", ".join(chosen) or "none"})'
    return None


class LabelWorkChain(WorkChain):
    """Label a structure: energy, forces and stress as a ``sei.frame`` linked to its calculation."""

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=StructureData, validator=validate_structure, help='The structure to label.')
        spec.input('frame_metadata', valid_type=Dict, required=False, help='origin and condition of the frame (system: guessed from the composition when absent).')
        for name, (workchain, is_dft) in BACKENDS.items():
            spec.expose_inputs(workchain, namespace=name, exclude=workchain.injected_ports(),
                               namespace_options={'required': False, 'populate_defaults': False,
                                                  'help': f'{workchain.__name__} ({"DFT" if is_dft else "stand-in labels, not DFT"}): fill this namespace to use it.'})
        spec.inputs.validator = validate_inputs
        spec.outline(cls.run_backend, cls.results)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.exit_code(400, 'ERROR_LABEL_FAILED', message='The {backend} labelling failed for good: {message}')

    #: Code roles (the label code follows the backend: see the backends' own CODES) and node inputs.
    CODES = {'label': 'label'}
    NODES = ('structure',)

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder labelling ``structure`` (None: a parent sets it per label) with the backend
        ``overrides['backend']`` (one of :data:`BACKENDS`; default gpaw) at its ``protocol``.
        The other ``overrides`` name this work chain's ports by path:
        ``{'backend': 'vasp', 'vasp': {'vasp': {'potential_family': 'PBE.54'}}}``; ``options`` go
        over the protocol's scheduler options. The `paper` protocol accepts DFT backends only."""
        code = code_roles(cls, codes)['label']  # None would pass the ports and fail in the child job
        overrides = dict(overrides or {})
        backend = overrides.pop('backend', 'gpaw')
        if backend not in BACKENDS:
            raise ProtocolError(f'unknown labelling backend `{backend}`; available: {", ".join(BACKENDS)}')
        workchain, is_dft = BACKENDS[backend]
        if protocol == 'paper' and not is_dft:
            raise ProtocolError(f'the paper protocol takes DFT labels only; `{backend}` gives stand-in labels')
        other = set(overrides) - {backend}
        if other:
            raise ProtocolError(f'overrides of {", ".join(sorted(other))}, but the labelling backend is `{backend}`: override `{backend}.…`')
        builder = cls.get_builder()
        builder[backend] = child_inputs(backend, workchain, code, protocol, overrides.get(backend), options)
        if structure is not None:
            builder.structure = structure
        if frame_metadata:
            builder.frame_metadata = Dict(frame_metadata)
        return builder

    def _backend(self):
        name = next(name for name in BACKENDS if name in self.inputs)
        return name, BACKENDS[name][0]

    def run_backend(self):
        name, workchain = self._backend()
        inputs = self.exposed_inputs(workchain, name)
        structure_port, metadata_port = workchain.injected_ports()
        metadata = {'system': guess_system(self.inputs.structure.get_ase().get_chemical_symbols()),
                    **(self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {})}
        _set(inputs, structure_port, self.inputs.structure)
        _set(inputs, metadata_port, Dict(metadata))
        node = self.submit(workchain, **inputs)
        self.report(f'labelling with {name}: {node.process_label}<{node.pk}>')
        return ToContext(labelling=node)

    def results(self):
        name = self._backend()[0]
        node = self.ctx.labelling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LABEL_FAILED.format(backend=name, message=failure(node))
        frame = node.outputs.frame
        self.out('frame', frame)
        attributes = frame.base.attributes
        self.report(f'frame<{frame.pk}> {attributes.get("formula")}: {attributes.get("energy_per_atom"):.4f} eV/atom')
        return None


def _set(inputs, path: str, value):
    *parents, name = path.split('.')
    for part in parents:
        inputs = inputs[part]
    inputs[name] = value


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
