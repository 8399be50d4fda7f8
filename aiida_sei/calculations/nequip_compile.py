"""``sei.nequip_compile``: AOTInductor compilation of a packaged model for ASE or LAMMPS.

A compiled model only runs on the kind of machine and with the torch that compiled it, so the
compilation is its own job, run where the model will be used (a GPU node for `pair_allegro`
on a cluster, the CPU here).
"""

from __future__ import annotations

from aiida import orm
from aiida.common import datastructures
from aiida.engine import CalcJob

from aiida_sei.calculations import set_serial_defaults
from aiida_sei.data import CompiledModelData, ModelData

PACKAGE_FILE = 'model.nequip.zip'
COMPILED_FILE = 'model.nequip.pt2'
TARGETS = ('ase', 'pair_allegro')
DEVICES = ('cpu', 'cuda')


def validate_target(value, _):
    if value.value not in TARGETS:
        return f'target must be one of {", ".join(TARGETS)}, got {value.value!r}'
    return None


def validate_device(value, _):
    if value.value not in DEVICES:
        return f'device must be one of {", ".join(DEVICES)}, got {value.value!r}'
    return None


class NequipCompileCalculation(CalcJob):
    """`nequip-compile --mode aotinductor` of a ``sei.model`` package."""

    #: Which hardware it asks for in a resource profile (aiida_sei.resources).
    RESOURCE_ROLE = 'compile'

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('model', valid_type=ModelData, help='The packaged model.')
        spec.input('target', valid_type=orm.Str, default=lambda: orm.Str('ase'), validator=validate_target, help='ase or pair_allegro (LAMMPS).')
        spec.input('device', valid_type=orm.Str, default=lambda: orm.Str('cpu'), validator=validate_device, help='cpu or cuda: where the compiled model will run.')
        set_serial_defaults(spec, 'sei.nequip_compile')
        spec.output('compiled', valid_type=CompiledModelData, help='The compiled model (.nequip.pt2).')
        spec.exit_code(300, 'ERROR_COMPILED_MISSING', message='nequip-compile wrote no compiled model (see aiida.out and the scheduler stderr).')
        spec.exit_code(400, 'ERROR_OUT_OF_WALLTIME', message='The job hit its walltime before the compilation finished.')

    def prepare_for_submission(self, folder):
        with self.inputs.model.open(mode='rb') as source, folder.open(PACKAGE_FILE, 'wb') as target:
            target.write(source.read())
        codeinfo = datastructures.CodeInfo()
        codeinfo.code_uuid = self.inputs.code.uuid
        codeinfo.cmdline_params = [
            '--mode', 'aotinductor', '--device', self.inputs.device.value, '--target', self.inputs.target.value,
            PACKAGE_FILE, COMPILED_FILE,
        ]
        codeinfo.stdout_name = self.metadata.options.output_filename
        calcinfo = datastructures.CalcInfo()
        calcinfo.codes_info = [codeinfo]
        calcinfo.provenance_exclude_list = [PACKAGE_FILE]  # it is the input node already
        calcinfo.retrieve_list = [COMPILED_FILE, self.metadata.options.output_filename]
        return calcinfo
