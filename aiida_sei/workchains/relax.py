"""``sei.relax``: relax the cell and positions of a structure with DFT, whatever the backend:
``gpaw`` (sei.gpaw.relax, the embedded default) or ``vasp`` (sei.vasp.relax: aiida-vasp's
relaxation). The relaxed ``structure``, the ``frame`` and ``misc`` of its final single point (and
GPAW's ``dos``) are the outputs whatever produced them."""

from __future__ import annotations

from aiida import orm

from aiida_sei.data import FrameData
from aiida_sei.protocols import ProtocolError, child_inputs
from aiida_sei.workchains.backends import BackendWorkChain
from aiida_sei.workchains.gpaw import GpawRelaxWorkChain
from aiida_sei.workchains.vasp import VaspRelaxWorkChain

#: backend name (= its input namespace) -> (work chain, is DFT)
BACKENDS = {
    'gpaw': (GpawRelaxWorkChain, True),
    'vasp': (VaspRelaxWorkChain, True),
}


class RelaxWorkChain(BackendWorkChain):
    """Relax a structure (cell and positions) with the backend whose namespace is filled."""

    BACKENDS = BACKENDS
    _task = 'relaxation'
    _forwarded = ('structure', 'frame', 'misc', 'dos')
    #: The code follows the backend (`aiida-sei setup` makes a GPAW one; VASP: give your own).
    CODES = {'relax': 'label'}

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.output('structure', valid_type=orm.StructureData, help='The relaxed structure.')
        spec.output('frame', valid_type=FrameData, help='The single point of the relaxed structure.')
        spec.output('misc', valid_type=orm.Dict, help='The backend\'s results of that single point (band gap, version, timing).')
        spec.output('dos', valid_type=orm.XyData, required=False, help='Kohn-Sham DOS of the relaxed structure (GPAW).')


def relax_inputs(code, settings: dict, options=None) -> dict:
    """The inputs of the ``relax`` namespace of sei.structures and sei.new_phase, from their
    protocol's ``relax`` entry: ``backend`` (default gpaw), ``protocol`` and overrides of the
    backend's ports (``{'gpaw': {'gpaw': {'relax': {'fmax': 0.05}}}}``). A protocol tunes each
    backend under its name, so only the chosen backend's entry is used; other keys (``phases``)
    belong to the parent."""
    unknown = set(settings) - {'backend', 'protocol', 'phases', *BACKENDS}
    if unknown:
        raise ProtocolError(f'relax: unknown keys {", ".join(sorted(unknown))}; known: backend, protocol, phases, {", ".join(BACKENDS)}')
    backend = settings.get('backend', 'gpaw')
    chosen = {key: settings[key] for key in ('backend', backend) if key in settings}
    return child_inputs('relax', RelaxWorkChain, code, settings.get('protocol'), chosen, options)

