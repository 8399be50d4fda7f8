"""``sei.nequip_compile`` parser: the compiled model as a node linked to its package."""

from __future__ import annotations

import io

from aiida.engine import ExitCode
from aiida.parsers import Parser

from aiida_sei.calculations.nequip_compile import COMPILED_FILE
from aiida_sei.data import CompiledModelData
from aiida_sei.parsers import missing_output


class NequipCompileParser(Parser):
    def parse(self, **kwargs) -> ExitCode | None:
        try:
            content = self.retrieved.base.repository.get_object_content(COMPILED_FILE, mode='rb')
        except FileNotFoundError:
            return missing_output(self, self.exit_codes.ERROR_COMPILED_MISSING)
        model = self.node.inputs.model
        compiled = CompiledModelData(io.BytesIO(content), filename=COMPILED_FILE)
        compiled.base.attributes.set_many(
            {
                'target': self.node.inputs.target.value,
                'device': self.node.inputs.device.value,
                'species': model.species,
                'r_max': model.r_max,
                'torch': model.base.attributes.get('versions', {}).get('torch'),
                'package_uuid': model.uuid,
            }
        )
        self.out('compiled', compiled)
        return None
