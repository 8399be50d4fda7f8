"""``sei.label``: one interface to label a structure with DFT (or a stand-in), whatever the backend.

The backend is chosen by which input namespace is filled: ``gpaw`` (GPAW, the embedded
default), ``vasp`` (VASP through aiida-vasp) or ``ase`` (a registered ASE calculator: stand-in
labels, never DFT). The labelled frame is the output ``frame`` whatever produced it.
"""

from __future__ import annotations

from aiida.engine import ToContext, WorkChain
from aiida.orm import AbstractCode

from aiida_sei.data import FrameData
from aiida_sei.protocols import ProtocolError
from aiida_sei.science.frames import guess_system
from aiida_sei.workchains.ase import AseBaseWorkChain
from aiida_sei.workchains.gpaw import GpawBaseWorkChain
from aiida_sei.workchains.vasp import VaspLabelWorkChain

#: backend name -> (work chain, namespace, is DFT)
BACKENDS = {
    'gpaw': (GpawBaseWorkChain, 'gpaw', True),
    'vasp': (VaspLabelWorkChain, 'vasp', True),
    'ase': (AseBaseWorkChain, 'ase', False),
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
        for workchain, namespace, _ in BACKENDS.values():
            spec.expose_inputs(workchain, namespace=namespace, namespace_options={'required': False, 'populate_defaults': False})
        spec.inputs.validator = validate_inputs
        spec.outline(cls.run_backend, cls.results)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.exit_code(400, 'ERROR_LABEL_FAILED', message='The {backend} labelling failed for good: {message}')

    @classmethod
    def get_builder_from_protocol(cls, code, structure, backend='gpaw', protocol=None, overrides=None, frame_metadata=None, options=None, **backend_kwargs):
        """Builder labelling ``structure`` with ``backend`` (one of :data:`BACKENDS`).

        ``frame_metadata``: system (guessed from the composition when absent), condition, origin.
        ``backend_kwargs`` go to the backend's builder (VASP: ``potential_family``). The `paper`
        protocol accepts DFT backends only.
        """
        if not isinstance(code, AbstractCode):  # None would pass the ports and fail in the child job
            raise ValueError(f'sei.label needs a code (an AbstractCode), got {code!r}')
        if backend not in BACKENDS:
            raise ProtocolError(f'unknown labelling backend `{backend}`; available: {", ".join(BACKENDS)}')
        workchain, namespace, is_dft = BACKENDS[backend]
        if protocol == 'paper' and not is_dft:
            raise ProtocolError(f'the paper protocol takes DFT labels only; `{backend}` gives stand-in labels')
        metadata = {'system': guess_system(structure.get_ase().get_chemical_symbols()), **(frame_metadata or {})}
        backend_builder = workchain.get_builder_from_protocol(code, structure, protocol, overrides, metadata, options, **backend_kwargs)
        builder = cls.get_builder()
        builder[namespace] = backend_builder._inputs(prune=True)
        return builder

    def _backend(self):
        return next((name, *BACKENDS[name]) for name in BACKENDS if name in self.inputs)

    def run_backend(self):
        name, workchain, namespace, _ = self._backend()
        node = self.submit(workchain, **self.exposed_inputs(workchain, namespace))
        self.report(f'labelling with {name}: {node.process_label}<{node.pk}>')
        return ToContext(labelling=node)

    def results(self):
        name = self._backend()[0]
        node = self.ctx.labelling
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_LABEL_FAILED.format(backend=name, message=f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message}')
        frame = node.outputs.frame
        self.out('frame', frame)
        attributes = frame.base.attributes
        self.report(f'frame<{frame.pk}> {attributes.get("formula")}: {attributes.get("energy_per_atom"):.4f} eV/atom')
        return None


def builder_from_labeller(labeller, structure, frame_metadata=None):
    """A sei.label builder from a ``labeller`` input namespace (code, backend, and optional
    protocol, overrides, options), as the active-learning and refinement work chains take it."""

    def value(key, convert):
        return convert(labeller[key]) if key in labeller else None

    return LabelWorkChain.get_builder_from_protocol(
        labeller['code'], structure, labeller['backend'].value, value('protocol', lambda node: node.value),
        value('overrides', lambda node: node.get_dict()), frame_metadata=frame_metadata,
        options=value('options', lambda node: node.get_dict()),
    )
