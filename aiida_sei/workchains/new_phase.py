"""``sei.new_phase``: the SEI's new phase Li2S(1-2x)PxClx characterised as the paper did: its
symmetry-inequivalent ordered approximants and the competing phases relaxed with DFT, then the
energy above the Li2S + Li3P + LiCl hull, the Kohn-Sham gaps and the mixing entropy, as one
summary whose every number leads back to the relaxations that gave it."""

from __future__ import annotations

from aiida import orm
from aiida.engine import ToContext, WorkChain, if_

from aiida_sei.calculations.functions.new_phase import enumerate_orderings, li_diffusivity, phase_stability
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.data import CompiledModelData
from aiida_sei.protocols import ProtocolMixin, code_roles
from aiida_sei.science import lattices
from aiida_sei.workchains import failure
from aiida_sei.workchains.relax import RelaxWorkChain, relax_inputs
from aiida_sei.workchains.lammps import LammpsBaseWorkChain

#: The hull's terminals: what Li2S(1-2x)PxClx would decompose into.
HULL_PHASES = ('Li2S', 'Li3P', 'LiCl')


def validate_orderings(value, _):
    settings = value.get_dict()
    if set(settings) != {'x_cells', 'n_pairs'}:
        return f'orderings needs exactly x_cells (3 repeats of the 12-atom Li2S cell) and n_pairs, got {sorted(settings)}'
    if len(settings['x_cells']) != 3 or not all(isinstance(n, int) and n >= 1 for n in settings['x_cells']):
        return f'x_cells must be three positive integers, got {settings["x_cells"]}'
    if not isinstance(settings['n_pairs'], int) or not 1 <= 2 * settings['n_pairs'] <= 4 * settings['x_cells'][0] * settings['x_cells'][1] * settings['x_cells'][2]:
        return f'n_pairs must be a positive integer with room for its P and Cl on the S sites, got {settings["n_pairs"]}'
    return None


class NewPhaseWorkChain(ProtocolMixin, WorkChain):
    """Orderings (enumerate_orderings) -> relaxations of each and of Li2S, Li3P, LiCl
    (sei.relax: GPAW or VASP, one set of settings) -> hull, gaps, entropy (phase_stability) -> summary;
    with a ``diffusivity.model``, NVT MD of a supercell of the lowest ordering at each temperature
    (sei.lammps.base) -> Li diffusivity and its Arrhenius extrapolation (li_diffusivity)."""

    _protocol_file = 'new_phase'
    _open_keys = ('relax',)
    CODES = {'relax': 'gpaw', 'lammps': 'lmp'}
    NODES = ('model',)
    OPTIONAL_NODES = ('model',)  # without it, no diffusivity MD

    @classmethod
    def define(cls, spec):
        super().define(spec)
        spec.input('orderings', valid_type=orm.Dict, validator=validate_orderings,
                   help='x_cells (repeats of the 12-atom Li2S cell) and n_pairs (P/Cl pairs): (2,1,1) and 1 is the paper\'s 24-atom Li2S0.75P0.125Cl0.125.')
        spec.input('temperature', valid_type=orm.Float, default=lambda: orm.Float(300.0), help='K, for the mixing entropy.')
        spec.expose_inputs(RelaxWorkChain, namespace='relax', exclude=('structure',),
                           namespace_options={'help': 'The relaxation of every ordering and competing phase (sei.relax).'})
        spec.expose_inputs(LammpsMdCalculation, namespace='diffusivity', exclude=('structure', 'model', 'parent_folder'),
                           namespace_options={'required': False, 'populate_defaults': False,
                                              'help': 'Li diffusivity: NVT MD (sei.lammps) of a supercell of the lowest ordering at each temperature.'})
        spec.input('diffusivity.model', valid_type=CompiledModelData, required=False, help='An Allegro model compiled for LAMMPS (pair_allegro).')
        spec.input('diffusivity.temperatures', valid_type=orm.List, required=False, help='K; one run each (over `parameters`).')
        spec.input('diffusivity.supercell', valid_type=orm.List, required=False, help='Repeats of the relaxed ordering.')
        spec.input('diffusivity.analysis', valid_type=orm.Dict, required=False,
                   help='n_blocks (atom groups for the error), fit_range (fractions of the lags), extrapolate_to_K.')
        spec.outline(cls.enumerate, cls.relax, cls.stability, if_(cls.should_diffuse)(cls.run_md, cls.diffusivity))
        spec.output_namespace('orderings', valid_type=orm.StructureData, dynamic=True, help='The ordered approximants as built.')
        spec.output_namespace('relaxed', valid_type=orm.StructureData, dynamic=True, help='Each ordering and competing phase relaxed.')
        spec.output_namespace('dos', valid_type=orm.XyData, dynamic=True, required=False, help='Kohn-Sham DOS of each relaxed structure (its final single point).')
        spec.output('summary', valid_type=orm.Dict, help='Per ordering: E above hull (meV/atom), gap (eV), multiplicity; competing phases; entropy; the paper\'s values.')
        spec.output('diffusivity', valid_type=orm.Dict, required=False, help='D(T) of Li (cm^2/s), the Arrhenius fit and D extrapolated.')
        spec.exit_code(400, 'ERROR_RELAXATION_FAILED', message='The relaxation of {name} failed: {message}')
        spec.exit_code(401, 'ERROR_MD_FAILED', message='The MD at {temperature} K failed: {message}')

    @classmethod
    def get_builder_from_protocol(cls, codes, protocol=None, overrides=None, options=None, model=None):
        """Builder of ``protocol`` (tiny, fast, paper) with codes `relax` (GPAW; VASP with
        ``overrides={'relax': {'backend': 'vasp', ...}}``) and `lammps`; the protocol's `relax`
        names the sei.relax protocol and the overrides of its backend. With ``model`` (a
        sei.compiled_model for pair_allegro) it also runs the protocol's `diffusivity` MD."""
        inputs = cls.get_protocol_inputs(protocol, overrides)
        codes = code_roles(cls, codes)
        builder = cls.get_builder()
        builder.orderings = orm.Dict(inputs['orderings'])
        builder.temperature = orm.Float(inputs['temperature'])
        builder.relax = relax_inputs(codes['relax'], inputs['relax'], options)
        if model is not None:
            md = inputs['diffusivity']
            builder.diffusivity = {'code': codes['lammps'], 'model': model, 'parameters': orm.Dict(md['parameters']),
                                   'temperatures': orm.List(md['temperatures']), 'supercell': orm.List(md['supercell']),
                                   'analysis': orm.Dict(md['analysis']), 'metadata': {'options': {**md['options'], **(options or {})}}}
        return builder

    def enumerate(self):
        outputs = enumerate_orderings(self.inputs.orderings)
        self.ctx.info = outputs['info']
        self.ctx.orderings = {name: node for name, node in outputs.items() if name != 'info'}
        for name, structure in self.ctx.orderings.items():
            self.out(f'orderings.{name}', structure)
        multiplicities = ', '.join(str(row['multiplicity']) for row in self.ctx.info.get_dict().values())
        self.report(f'{len(self.ctx.orderings)} inequivalent orderings of {structure.get_formula()} (multiplicities {multiplicities})')

    def relax(self):
        inputs = self.exposed_inputs(RelaxWorkChain, 'relax')
        # conventional cells: their gaps are read on k-meshes that hold Li2S's conduction band minimum
        structures = {**self.ctx.orderings, **{phase: orm.StructureData(ase=lattices.unit_cell(phase, cubic=True)) for phase in HULL_PHASES}}
        running = {}
        for name, structure in structures.items():
            metadata = {**inputs.get('metadata', {}), 'call_link_label': f'relax_{name}'}
            running[f'relax_{name}'] = self.submit(RelaxWorkChain, **{**inputs, 'structure': structure, 'metadata': metadata})
        self.report(f'relaxing {", ".join(structures)}')
        return ToContext(**running)

    def stability(self):
        names = [*self.ctx.orderings, *HULL_PHASES]
        relaxed, self.ctx.relaxed = {}, {}
        for name in names:
            node = self.ctx[f'relax_{name}']
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_RELAXATION_FAILED.format(name=name, message=failure(node))
            self.ctx.relaxed[name] = node.outputs.structure
            self.out(f'relaxed.{name}', node.outputs.structure)
            if 'dos' in node.outputs:
                self.out(f'dos.{name}', node.outputs.dos)
            relaxed.update({f'frame_{name}': node.outputs.frame, f'misc_{name}': node.outputs.misc})
        summary = self.ctx.summary = phase_stability(self.ctx.info, self.inputs.temperature, **relaxed)
        self.out('summary', summary)
        rows = summary['orderings']
        self.report('E above the Li2S + Li3P + LiCl hull (meV/atom) and gap (eV): ' + '; '.join(
            f'{name} {row["e_above_hull_meV_per_atom"]:.1f}, {row["band_gap_eV"]:.2f}' for name, row in rows.items())
            + f' (paper: lowest 27.7, gaps 1.4-2.0); Li2S gap {summary["competing"]["Li2S"]["band_gap_eV"]:.2f} eV (paper 3.4)')

    def should_diffuse(self):
        return 'model' in self.inputs.get('diffusivity', {})

    def run_md(self):
        inputs = self.exposed_inputs(LammpsMdCalculation, 'diffusivity')
        lowest = self.ctx.summary['lowest']
        structure = self.ctx.relaxed[lowest].get_ase().repeat(tuple(self.inputs.diffusivity.supercell.get_list()))
        self.ctx.md_structure = orm.StructureData(ase=structure)
        running = {}
        for temperature in self.inputs.diffusivity.temperatures.get_list():
            parameters = orm.Dict({**inputs['parameters'].get_dict(), 'ensemble': 'nvt', 'temperature': float(temperature)})
            lammps = {**inputs, 'parameters': parameters, 'structure': self.ctx.md_structure, 'model': self.inputs.diffusivity.model}
            running[f'md_{int(temperature)}'] = self.submit(LammpsBaseWorkChain, lammps=lammps, metadata={'call_link_label': f'md_{int(temperature)}'})
        self.report(f'Li diffusivity: NVT MD of {lowest} x {self.inputs.diffusivity.supercell.get_list()} ({len(structure)} atoms) '
                    f'at {", ".join(str(t) for t in self.inputs.diffusivity.temperatures.get_list())} K')
        return ToContext(**running)

    def diffusivity(self):
        trajectories = {}
        for temperature in self.inputs.diffusivity.temperatures.get_list():
            node = self.ctx[f'md_{int(temperature)}']
            if not node.is_finished_ok:
                return self.exit_codes.ERROR_MD_FAILED.format(temperature=temperature, message=failure(node))
            trajectories[f'md_{int(temperature)}'] = node.outputs.trajectory
        result = li_diffusivity(self.inputs.diffusivity.analysis, **trajectories)
        self.out('diffusivity', result)
        rows = ', '.join(f'{t} K {row["D_cm2_s"]:.2e} ± {row["D_err_cm2_s"]:.1e}' for t, row in result['temperatures'].items())
        fit = result['arrhenius']
        extrapolated = (f'; Ea {fit["Ea_eV"]:.2f} ± {fit["Ea_err_eV"]:.2f} eV, D({result["extrapolate_to_K"]:.0f} K) '
                        f'{fit["D_extrapolated_cm2_s"]:.1e} ± {fit["D_extrapolated_err_cm2_s"]:.1e} (extrapolated; paper <= 4.2e-9)' if fit else '')
        self.report(f'Li diffusivity (cm^2/s): {rows}{extrapolated}')
