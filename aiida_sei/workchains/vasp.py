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
from aiida_sei.protocols import ProtocolError, ProtocolMixin, kpoints_from_protocol
from aiida_sei.science.frames import settings_hash

VaspWorkChain = WorkflowFactory('vasp.v2.vasp')

#: aiida-vasp returns only energy(sigma->0) unless asked; the frame needs the free energy.
PARSER_SETTINGS = {'parser_settings': {'energy_type': ['energy_free', 'energy_extrapolated']}}


class VaspLabelWorkChain(ProtocolMixin, WorkChain):
    """Label a structure with VASP: ``frame`` is energy, forces and stress of the single point."""

    _protocol_file = 'vasp'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.expose_inputs(VaspWorkChain, namespace='vasp')
        spec.input('frame_metadata', valid_type=orm.Dict, required=False, help='system, condition, origin for the frame.')
        spec.outline(cls.run_vasp, cls.make_frame)
        spec.output('frame', valid_type=FrameData, help='The labelled frame.')
        spec.exit_code(400, 'ERROR_VASP_FAILED', message='The VASP work chain failed: {message}')
        spec.exit_code(401, 'ERROR_NO_STRESS', message='VASP returned no stress: use ISIF >= 1.')

    @classmethod
    def get_builder_from_protocol(cls, code, structure, protocol=None, overrides=None, frame_metadata=None, options=None, potential_family=None):
        """Builder for a VASP label of ``structure``; ``potential_family`` is your POTCAR family."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        family = potential_family or inputs.get('potential_family')
        if not family:
            raise ProtocolError('VASP labels need potential_family: the name of a POTCAR family uploaded from your licensed files')
        builder = cls.get_builder()
        builder.vasp.code = code
        builder.vasp.structure = structure
        builder.vasp.kpoints = kpoints_from_protocol(structure, inputs)
        builder.vasp.parameters = orm.Dict({'incar': inputs['incar']})
        builder.vasp.potential_family = orm.Str(family)
        builder.vasp.potential_mapping = orm.Dict({kind: inputs['potential_mapping'][kind] for kind in structure.get_kind_names()})
        builder.vasp.settings = orm.Dict(PARSER_SETTINGS)
        builder.vasp.max_iterations = orm.Int(inputs['max_iterations'])
        builder.vasp.calc.metadata.options = {**inputs['options'], **(options or {})}
        if frame_metadata:
            builder.frame_metadata = orm.Dict(frame_metadata)
        return builder

    def run_vasp(self):
        inputs = self.exposed_inputs(VaspWorkChain, 'vasp')
        settings = inputs['settings'].get_dict() if 'settings' in inputs else {}
        if 'energy_free' not in settings.get('parser_settings', {}).get('energy_type', []):
            settings.setdefault('parser_settings', {})['energy_type'] = PARSER_SETTINGS['parser_settings']['energy_type']
            inputs['settings'] = orm.Dict(settings)
        node = self.submit(VaspWorkChain, **inputs)
        self.report(f'running {node.process_label}<{node.pk}>')
        return ToContext(vasp=node)

    def make_frame(self):
        node = self.ctx.vasp
        if not node.is_finished_ok:
            return self.exit_codes.ERROR_VASP_FAILED.format(message=f'{node.process_label}<{node.pk}> exit {node.exit_status}: {node.exit_message}')
        misc = node.outputs.misc
        if misc.get('stress') is None:
            return self.exit_codes.ERROR_NO_STRESS
        metadata = self.inputs.frame_metadata.get_dict() if 'frame_metadata' in self.inputs else {}
        settings = {
            'incar': self.inputs.vasp.parameters.get_dict(),
            'kpoints': self.inputs.vasp.kpoints.get_kpoints_mesh()[0],
            'potentials': self.inputs.vasp.potential_mapping.get_dict(),
        }
        metadata['settings_hash'] = settings_hash('vasp', settings)
        frame = frame_from_vasp(self.inputs.vasp.structure, misc, orm.Dict(metadata), metadata={"call_link_label": "frame_from_vasp"})
        self.out('frame', frame)
        return None
