"""``sei.vasp.label``: a VASP single point through aiida-vasp's ``VaspWorkChain`` -> a frame;
``sei.vasp.relax``: cell and positions relaxed by aiida-vasp's ``VaspRelaxWorkChain`` -> the
relaxed structure and the frame of its final single point.

aiida-vasp does the work (its calculation, parser and restart handlers: SCF not converged,
unfinished runs, relaxations checked and restarted, ...); these work chains choose the paper's
settings and turn ``misc`` into a ``sei.frame`` with :func:`frame_from_vasp`.
"""

from __future__ import annotations

import copy

from aiida import orm
from aiida.engine import ToContext, WorkChain
from aiida.plugins import WorkflowFactory

from aiida_sei.calculations.functions.vasp import frame_from_vasp
from aiida_sei.data import FrameData
from aiida_sei.calculations.functions.kpoints import create_kpoints, kpoints_choice
from aiida_sei.protocols import ProtocolError, ProtocolMixin, code_roles, fill_builder, load_protocol_file, recursive_merge
from aiida_sei.science.frames import settings_hash
from aiida_sei.workchains import failure

VaspWorkChain = WorkflowFactory('vasp.v2.vasp')
AiidaVaspRelaxWorkChain = WorkflowFactory('vasp.v2.relax')

#: aiida-vasp returns only energy(sigma->0) unless asked; the frame needs the free energy, and
#: the relaxed phases their band gap.
PARSER_SETTINGS = {'parser_settings': {'energy_type': ['energy_free', 'energy_extrapolated'], 'include_quantity': ['band_properties']}}
#: INCAR tags of a single point that aiida-vasp's relaxation sets itself from its relax_settings.
SINGLE_POINT_TAGS = ('ibrion', 'nsw', 'isif')


def with_free_energy(settings: orm.Dict | None) -> orm.Dict:
    """aiida-vasp parser settings that also parse the free energy and the band properties:
    ``settings`` itself when it already does (the builder's, checked again at run time)."""
    given = copy.deepcopy(settings.get_dict()) if settings is not None else {}
    merged = copy.deepcopy(given)
    parser = merged.setdefault('parser_settings', {})
    for key, wanted in PARSER_SETTINGS['parser_settings'].items():
        parser[key] = [*parser.get(key, []), *(value for value in wanted if value not in parser.get(key, []))]
    return settings if settings is not None and merged == given else orm.Dict(merged)


def vasp_frame(structure, misc, vasp_inputs, kpoints, metadata: dict) -> FrameData:
    """The frame of a finished VASP single point, with its settings (INCAR, mesh, POTCARs)."""
    settings = {
        'incar': vasp_inputs.parameters.get_dict().get('incar', {}),  # aiida-vasp 5: {'incar': {...}}
        'kpoints': kpoints.get_kpoints_mesh()[0],
        'potentials': {kind: vasp_inputs.potential_mapping[kind] for kind in structure.get_kind_names()},
    }
    # converged: aiida-vasp fails (or restarts) a run whose SCF did not converge, so no frame comes of it
    metadata = {**metadata, 'settings': settings, 'settings_hash': settings_hash('vasp', settings), 'converged': True}
    return frame_from_vasp(structure, misc, orm.Dict(metadata), metadata={'call_link_label': 'frame_from_vasp'})


class VaspBaseWorkChain(ProtocolMixin, WorkChain):
    """What sei.vasp.label and sei.vasp.relax share: vasp.yaml, the k-mesh made for the structure,
    the parser settings a frame needs, and the frame of aiida-vasp's final single point."""

    _protocol_file = 'vasp'
    _keys_are_ports = True
    NODES = ('structure',)
    _open_keys = ('vasp.parameters.incar',)  # any INCAR tag may be added

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('kpoints_distance', valid_type=orm.Float, required=False,
                   help='Distance (Å^-1, 2π included) between k-points of a Gamma-centred mesh made for the structure (unless vasp.kpoints is given).')
        spec.input('gamma_only_above_atoms', valid_type=orm.Int, default=lambda: orm.Int(200), help='With kpoints_distance: Gamma only for larger cells.')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system, condition, origin for the frame.')
        spec.inputs.validator = kpoints_choice('vasp.kpoints')
        spec.output('frame', valid_type=FrameData, help='The labelled frame (of the final single point).')
        spec.exit_code(400, 'ERROR_VASP_FAILED', message='The VASP work chain failed: {message}')
        spec.exit_code(401, 'ERROR_NO_STRESS', message='VASP returned no stress: use ISIF >= 1.')

    @classmethod
    def _builder(cls, codes, protocol, overrides, options) -> tuple:
        """(builder with the protocol's inputs and the code, those inputs); refuses a protocol
        without a POTCAR family before anything is made."""
        code = code_roles(cls, codes)[next(iter(cls.CODES))]
        inputs = cls.get_protocol_inputs(protocol, overrides)
        if not inputs['vasp'].get('potential_family'):
            raise ProtocolError('VASP needs vasp.potential_family: the name of a POTCAR family uploaded from your licensed files '
                                '(verdi data vasp-potcar uploadfamily)')
        builder = cls.get_builder()
        fill_builder(builder, inputs)
        builder.vasp.code = code
        builder.vasp.settings = with_free_energy(builder.vasp.get('settings'))
        if options:
            builder.vasp.calc.metadata.options = {**builder.vasp.calc.metadata.options, **options}
        return builder, inputs

    def _complete(self, vasp_inputs, structure) -> None:
        """The parser settings and, unless given, the k-mesh of ``structure`` (VASP keeps the
        mesh while a cell relaxes; so does this)."""
        vasp_inputs['settings'] = with_free_energy(vasp_inputs.get('settings'))
        if 'kpoints' not in vasp_inputs:
            vasp_inputs['kpoints'] = create_kpoints(structure, self.inputs.kpoints_distance, self.inputs.gamma_only_above_atoms)
        self.ctx.kpoints = vasp_inputs['kpoints']

    def _finished(self, node):
        """(misc of the finished aiida-vasp work chain, None) or (None, exit code)."""
        if not node.is_finished_ok:
            return None, self.exit_codes.ERROR_VASP_FAILED.format(message=failure(node))
        if node.outputs.misc.get('stress') is None:
            return None, self.exit_codes.ERROR_NO_STRESS
        return node.outputs.misc, None

    def _output_frame(self, structure, misc) -> None:
        metadata = self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {}
        self.out('frame', vasp_frame(structure, misc, self.inputs.vasp, self.ctx.kpoints, metadata))


class VaspLabelWorkChain(VaspBaseWorkChain):
    """Label a structure with VASP: ``frame`` is energy, forces and stress of the single point."""

    CODES = {'label': None}  # VASP is licensed: `aiida-sei setup` makes no code for it
    RESOURCE_ROLES = {'vasp': 'label'}  # aiida-vasp's jobs, in a resource profile

    @classmethod
    def injected_ports(cls) -> tuple[str, str]:
        """Where sei.label puts the structure and the frame metadata of each label."""
        return 'vasp.structure', 'frame_metadata'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(VaspWorkChain, namespace='vasp', exclude=('kpoints_spacing',))
        spec.outline(cls.run_vasp, cls.make_frame)

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder for a VASP label of ``structure`` (None: set later, as sei.label does) with
        ``codes`` (role ``label``, or the code itself); ``overrides`` name ports by path;
        ``vasp.potential_family`` is your POTCAR family."""
        builder, _ = cls._builder(codes, protocol, overrides, options)
        if structure is not None:
            builder.vasp.structure = structure
        if frame_metadata:
            builder.frame_metadata = orm.Dict(frame_metadata)
        return builder

    def run_vasp(self):
        inputs = self.exposed_inputs(VaspWorkChain, 'vasp')
        self._complete(inputs, inputs['structure'])
        node = self.submit(VaspWorkChain, **inputs)
        self.report(f'running {node.process_label}<{node.pk}>')
        return ToContext(vasp=node)

    def make_frame(self):
        misc, error = self._finished(self.ctx.vasp)
        if error:
            return error
        self._output_frame(self.inputs.vasp.structure, misc)
        return None


class VaspRelaxWorkChain(VaspBaseWorkChain):
    """Relax cell and positions with VASP: aiida-vasp's relaxation (its convergence checks on
    positions, volume, shape and forces, restarts, and final single point in the relaxed basis)
    -> the relaxed ``structure``, the ``frame`` of the final single point and its ``misc``."""

    CODES = {'relax': None}  # VASP is licensed: `aiida-sei setup` makes no code for it
    RESOURCE_ROLES = {None: 'label'}  # aiida-vasp's jobs (its inputs are exposed at the top level)
    _open_keys = ('vasp.parameters.incar', 'relax_settings')

    @classmethod
    def injected_ports(cls) -> tuple[str, str]:
        """Where sei.relax puts the structure and the frame metadata."""
        return 'structure', 'frame_metadata'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(AiidaVaspRelaxWorkChain)
        spec.inputs.validator = kpoints_choice('vasp.kpoints')  # exposing at the top level replaced it
        spec.outline(cls.run_relax, cls.results)
        spec.output('structure', valid_type=orm.StructureData, help='The relaxed structure.')
        spec.output('misc', valid_type=orm.Dict, help="aiida-vasp's misc of the final single point (band_properties: the gap).")

    @classmethod
    def _protocols(cls) -> dict:
        """vasp.yaml without the single-point tags (aiida-vasp sets IBRION, NSW, ISIF from
        relax_settings) and with its `relax` block merged into the defaults and each protocol."""
        data = load_protocol_file(cls._protocol_file)
        relax = data.pop('relax')
        data['default_inputs'] = recursive_merge(data['default_inputs'], relax['default'])
        for name, protocol in data['protocols'].items():
            data['protocols'][name] = recursive_merge(protocol, relax.get(name, {}))
        for inputs in (data['default_inputs'], *data['protocols'].values()):
            incar = inputs.get('vasp', {}).get('parameters', {}).get('incar', {})
            for tag in SINGLE_POINT_TAGS:
                incar.pop(tag, None)
        return data

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None):
        """Builder relaxing ``structure`` (None: set later, as sei.relax does) with ``codes``
        (role ``relax``, or the code itself); ``overrides`` name ports by path
        (``relax_settings.force_cutoff``); ``vasp.potential_family`` is your POTCAR family."""
        builder, inputs = cls._builder(codes, protocol, overrides, options)
        builder.relax_settings = inputs['relax_settings']  # a plain dict: aiida-vasp's serializer adds its defaults
        if structure is not None:
            builder.structure = structure
        return builder

    def run_relax(self):
        inputs = self.exposed_inputs(AiidaVaspRelaxWorkChain)
        self._complete(inputs['vasp'], inputs['structure'])
        node = self.submit(AiidaVaspRelaxWorkChain, **inputs)
        self.report(f'running {node.process_label}<{node.pk}>')
        return ToContext(relax=node)

    def results(self):
        misc, error = self._finished(self.ctx.relax)
        if error:
            return error
        structure = self.ctx.relax.outputs.relax.structure
        self.out('structure', structure)
        self.out('misc', misc)
        self._output_frame(structure, misc)
        self.report(f'relaxed: {structure.get_formula()}, volume {structure.get_cell_volume():.2f} Å^3')
        return None
