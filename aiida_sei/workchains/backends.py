"""One work chain, several engines: ``sei.label`` and ``sei.relax`` run the same task with GPAW,
VASP (through aiida-vasp) or a stand-in, chosen by which backend namespace is filled. The task's
outputs are the same whatever engine produced them."""

from __future__ import annotations

from aiida.engine import ToContext, WorkChain
from aiida.orm import Dict, StructureData

from aiida_sei.calculations.singlepoint import validate_structure
from aiida_sei.protocols import ProtocolError, child_inputs, code_roles
from aiida_sei.science.frames import guess_system
from aiida_sei.workchains import failure


def one_backend(backends):
    def validate(inputs, _):
        chosen = [name for name in backends if name in inputs]
        if len(chosen) != 1:
            return f'fill exactly one backend namespace of {", ".join(backends)} (got {", ".join(chosen) or "none"})'
        return None

    return validate


class BackendWorkChain(WorkChain):
    """Runs the backend whose namespace is filled on ``structure`` and passes on its ``_forwarded``
    outputs. Subclasses set ``BACKENDS`` (name -> (work chain, is DFT)), ``_task`` (the noun of
    messages: `labelling`) and ``_forwarded``; each backend's ``injected_ports()`` says where structure and frame
    metadata go."""

    BACKENDS: dict[str, tuple[type, bool]]
    _task: str
    _forwarded: tuple[str, ...]
    NODES = ('structure',)

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('structure', valid_type=StructureData, validator=validate_structure, help='The input structure.')
        spec.input('frame_metadata', valid_type=Dict, required=False, help='origin and condition of the frame (system: guessed from the composition when absent).')
        for name, (workchain, is_dft) in cls.BACKENDS.items():
            spec.expose_inputs(workchain, namespace=name, exclude=workchain.injected_ports(),
                               namespace_options={'required': False, 'populate_defaults': False,
                                                  'help': f'{workchain.__name__} ({"DFT" if is_dft else "stand-in, not DFT"}): fill this namespace to use it.'})
        spec.inputs.validator = one_backend(cls.BACKENDS)
        spec.outline(cls.run_backend, cls.results)
        spec.exit_code(400, 'ERROR_BACKEND_FAILED', message=f'The {{backend}} {cls._task} failed for good: {{message}}')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder for ``structure`` (None: a parent sets it) with the backend
        ``overrides['backend']`` (one of ``BACKENDS``; default gpaw) at its ``protocol``. The
        other ``overrides`` name this work chain's ports by path: ``{'backend': 'vasp', 'vasp':
        {'vasp': {'potential_family': 'PBE.54'}}}``; ``options`` go over the protocol's scheduler
        options. The `paper` protocol accepts DFT backends only."""
        code = code_roles(cls, codes)[next(iter(cls.CODES))]  # None would pass the ports and fail in the child job
        overrides = dict(overrides or {})
        backend = overrides.pop('backend', 'gpaw')
        if backend not in cls.BACKENDS:
            raise ProtocolError(f'unknown {cls._task} backend `{backend}`; available: {", ".join(cls.BACKENDS)}')
        workchain, is_dft = cls.BACKENDS[backend]
        if protocol == 'paper' and not is_dft:
            raise ProtocolError(f'the paper protocol takes DFT backends only; `{backend}` is a stand-in, not DFT')
        other = set(overrides) - {backend}
        if other:
            raise ProtocolError(f'overrides of {", ".join(sorted(other))}, but the {cls._task} backend is `{backend}`: override `{backend}.…`')
        builder = cls.get_builder()
        builder[backend] = child_inputs(backend, workchain, code, protocol, overrides.get(backend), options)
        if structure is not None:
            builder.structure = structure
        if frame_metadata:
            builder.frame_metadata = Dict(frame_metadata)
        return builder

    def backend(self) -> tuple[str, type]:
        name = next(name for name in self.BACKENDS if name in self.inputs)
        return name, self.BACKENDS[name][0]

    def run_backend(self):
        name, workchain = self.backend()
        inputs = self.exposed_inputs(workchain, name)
        structure_port, metadata_port = workchain.injected_ports()
        metadata = {'system': guess_system(self.inputs.structure.get_ase().get_chemical_symbols()),
                    **(self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {})}
        _set(inputs, structure_port, self.inputs.structure)
        _set(inputs, metadata_port, Dict(metadata))
        node = self.submit(workchain, **inputs)
        self.report(f'{self._task} with {name}: {node.process_label}<{node.pk}>')
        return ToContext(backend=node)

    def results(self):
        node = self.ctx.backend
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_BACKEND_FAILED.format(backend=self.backend()[0], message=failure(node))
        for name in self._forwarded:
            if name in node.outputs:
                self.out(name, node.outputs[name])
        frame = node.outputs.frame
        attributes = frame.base.attributes
        self.report(f'frame<{frame.pk}> {attributes.get("formula")}: {attributes.get("energy_per_atom"):.4f} eV/atom')
        return None


def _set(inputs, path: str, value):
    *parents, name = path.split('.')
    for part in parents:
        inputs = inputs[part]
    inputs[name] = value
