"""``sei.vasp.label``: a VASP single point through aiida-vasp's ``VaspWorkChain`` -> a frame.

aiida-vasp does the work (its calculation, parser and restart handlers: SCF not converged,
unfinished runs, ...); this work chain chooses the paper's settings and turns ``misc`` into a
``sei.frame`` with :func:`frame_from_vasp`.
"""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain
from aiida.plugins import WorkflowFactory

from aiida_sei.calculations.functions.vasp import frame_from_vasp
from aiida_sei.data import FrameData
from aiida_sei.calculations.functions.kpoints import create_kpoints, kpoints_choice
from aiida_sei.protocols import ProtocolError, ProtocolMixin, code_roles, fill_builder
from aiida_sei.science.frames import settings_hash
from aiida_sei.workchains import failure

VaspWorkChain = WorkflowFactory('vasp.v2.vasp')

#: aiida-vasp returns only energy(sigma->0) unless asked; the frame needs the free energy.
PARSER_SETTINGS = {'parser_settings': {'energy_type': ['energy_free', 'energy_extrapolated']}}


class VaspLabelWorkChain(ProtocolMixin, WorkChain):
    """Label a structure with VASP: ``frame`` is energy, forces and stress of the single point."""

    _protocol_file = 'vasp'
    _keys_are_ports = True
    CODES = {'label': None}  # VASP is licensed: `aiida-sei setup` makes no code for it
    NODES = ('structure',)
    RESOURCE_ROLES = {'vasp': 'label'}  # aiida-vasp's jobs, in a resource profile
    _open_keys = ('vasp.parameters.incar',)  # any INCAR tag may be added

    @classmethod
    def injected_ports(cls) -> tuple[str, str]:
        """Where sei.label puts the structure and the frame metadata of each label."""
        return 'vasp.structure', 'frame_metadata'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(VaspWorkChain, namespace='vasp', exclude=('kpoints_spacing',))
        spec.input('kpoints_distance', valid_type=orm.Float, required=False,
                   help='Distance (Å^-1, 2π included) between k-points of a Gamma-centred mesh made for each structure (unless vasp.kpoints is given).')
        spec.input('gamma_only_above_atoms', valid_type=orm.Int, default=lambda: orm.Int(200), help='With kpoints_distance: Gamma only for larger cells.')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system, condition, origin for the frame.')
        spec.inputs.validator = kpoints_choice('vasp.kpoints')
        spec.outline(cls.run_vasp, cls.make_frame)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.exit_code(400, 'ERROR_VASP_FAILED', message='The VASP work chain failed: {message}')
        spec.exit_code(401, 'ERROR_NO_STRESS', message='VASP returned no stress: use ISIF >= 1.')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, structure=None, frame_metadata=None):
        """Builder for a VASP label of ``structure`` (None: set later, as sei.label does) with
        ``codes`` (role ``label``, or the code itself); ``overrides`` name ports by path;
        ``vasp.potential_family`` is your POTCAR family."""
        code = code_roles(cls, codes)['label']
        inputs = cls.get_protocol_inputs(protocol, overrides)
        if not inputs['vasp'].get('potential_family'):
            raise ProtocolError('VASP labels need vasp.potential_family: the name of a POTCAR family uploaded from your licensed files '
                                '(verdi data vasp-potcar uploadfamily)')
        builder = cls.get_builder()
        fill_builder(builder, inputs)
        builder.vasp.code = code
        if 'settings' not in inputs['vasp']:  # given settings keep theirs; run_vasp adds the free energy
            builder.vasp.settings = orm.Dict(PARSER_SETTINGS)
        if structure is not None:
            builder.vasp.structure = structure
        if options:
            builder.vasp.calc.metadata.options = {**builder.vasp.calc.metadata.options, **options}
        if frame_metadata:
            builder.frame_metadata = orm.Dict(frame_metadata)
        return builder

    def run_vasp(self):
        inputs = self.exposed_inputs(VaspWorkChain, 'vasp')
        settings = inputs['settings'].get_dict() if 'settings' in inputs else {}
        if 'energy_free' not in settings.get('parser_settings', {}).get('energy_type', []):
            settings.setdefault('parser_settings', {})['energy_type'] = PARSER_SETTINGS['parser_settings']['energy_type']
            inputs['settings'] = orm.Dict(settings)
        if 'kpoints' not in inputs:
            inputs['kpoints'] = create_kpoints(inputs['structure'], self.inputs.kpoints_distance, self.inputs.gamma_only_above_atoms)
        self.ctx.kpoints = inputs['kpoints']
        node = self.submit(VaspWorkChain, **inputs)
        self.report(f'running {node.process_label}<{node.pk}>')
        return ToContext(vasp=node)

    def make_frame(self):
        node = self.ctx.vasp
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_VASP_FAILED.format(message=failure(node))
        misc = node.outputs.misc
        if misc.get('stress') is None:
            return self.exit_codes.ERROR_NO_STRESS
        metadata = self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {}
        settings = {
            'incar': self.inputs.vasp.parameters.get_dict().get('incar', {}),  # aiida-vasp 5: {'incar': {...}}
            'kpoints': self.ctx.kpoints.get_kpoints_mesh()[0],
            'potentials': {kind: self.inputs.vasp.potential_mapping[kind] for kind in self.inputs.vasp.structure.get_kind_names()},
        }
        # converged: aiida-vasp fails (or restarts) a run whose SCF did not converge, so no frame comes of it
        metadata.update(settings=settings, settings_hash=settings_hash('vasp', settings), converged=True)
        frame = frame_from_vasp(self.inputs.vasp.structure, misc, orm.Dict(metadata), metadata={"call_link_label": "frame_from_vasp"})
        self.out('frame', frame)
        return None
