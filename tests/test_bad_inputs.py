"""Bad inputs are refused before anything is submitted, with a message that names the problem,
and nothing is stored. :data:`CASES` is the table of docs/faults.md (checked below); its "where
checked" column is what :func:`where_refused` reads off the real exception.

Models here are nodes with the attributes the validators read (species, target) and a file that
is never opened: the refusal happens before any job would read it.
"""

from __future__ import annotations

import functools
import io
import pathlib
import re
import traceback
from types import SimpleNamespace

import pytest
from aiida import orm
from aiida.engine import run_get_node
from ase import Atoms

from aiida_sei.calculations.ase_md import AseMdCalculation
from aiida_sei.calculations.functions.dataset import create_dataset, import_frames_file
from aiida_sei.calculations.functions.structures import build_structure_node
from aiida_sei.calculations.lammps import LammpsMdCalculation
from aiida_sei.data import CompiledModelData, ModelData
from aiida_sei.workchains.active_learning import ActiveLearningWorkChain
from aiida_sei.workchains.active_learning_sweep import ActiveLearningSweepWorkChain
from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
from aiida_sei.workchains.interface import CODES, InterfaceWorkChain
from aiida_sei.workchains.label import LabelWorkChain
from aiida_sei.workchains.new_phase import NewPhaseWorkChain
from aiida_sei.workchains.refinement import RefinementWorkChain
from tests.allegro_fixtures import SPECIES, argyrodite_cells
from tests.local import local_code, local_computer

DOCS = pathlib.Path(__file__).parent.parent / 'docs' / 'faults.md'


def cell(symbols: str, positions) -> orm.StructureData:
    return orm.StructureData(ase=Atoms(symbols, positions=positions, cell=[6, 6, 6], pbc=True))


def far_apart(symbols: str) -> orm.StructureData:
    return cell(symbols, [[0, 0, 0], [2.5, 2.5, 2.5]])


def overlapping() -> orm.StructureData:
    return cell('Li2', [[0, 0, 0], [0.2, 0, 0]])


def compiled(target: str, species=SPECIES) -> CompiledModelData:
    model = CompiledModelData(io.BytesIO(b'never read: refused before submission'), filename='model.nequip.pt2')
    model.base.attributes.set_many({'target': target, 'device': 'cpu', 'species': list(species), 'r_max': 4.0})
    return model


def partly_nan_stress_file() -> pathlib.Path:
    """An extxyz frame whose stress lost one entry (a stress that is not known is NaN in all nine)."""
    import tempfile

    path = pathlib.Path(tempfile.mkdtemp()) / 'partly_nan.extxyz'
    path.write_text('2\nLattice="3.44 0 0 0 3.44 0 0 0 3.44" Properties=species:S:1:pos:R:3:forces:R:3 energy=-7.6 '
                    'stress="0.01 0 0 0 nan 0 0 0 0.01" pbc="T T T"\nLi 0 0 0 0 0 0\nLi 1.72 1.72 1.72 0 0 0\n')
    return path


@functools.cache
def vasp_file(kind: str) -> pathlib.Path:
    """A vasprun.xml of a 3-step relaxation by the stand-in VASP (VASP's format, not VASP):
    `cut` (killed in its last step), `scf` (every SCF at NELM) or `short_forces` (a force row lost)."""
    import tempfile

    from ase.build import bulk

    from tests.stand_ins import run_vasp_standin

    incar = 'ENCUT = 400\nISMEAR = 0\nSIGMA = 0.1\nIBRION = 2\nNSW = 3\nISIF = 2\nEDIFFG = -1e-6\n'
    atoms = bulk('Li', 'bcc', a=3.44, cubic=True)
    atoms.rattle(0.05, seed=1)
    directory = run_vasp_standin(tempfile.mkdtemp(), atoms, incar, fail='scf' if kind == 'scf' else None)
    path, text = directory / 'vasprun.xml', (directory / 'vasprun.xml').read_text()
    if kind == 'cut':
        path.write_text(text[: text.rindex('<calculation>') + 500])
    elif kind == 'short_forces':
        row = text.index('<v>', text.index('<varray name="forces"'))
        path.write_text(text[:row] + text[text.index('</v>', row) + len('</v>'):])
    return path


def lammps(ctx, structure, model=None):
    return run_get_node(LammpsMdCalculation, code=ctx.code, structure=structure, model=model or compiled('pair_allegro'))


def ase_md(ctx, structure, model=None):
    return run_get_node(AseMdCalculation, code=ctx.code, structure=structure, model=model or compiled('ase'))


def refinement(ctx, products=None, codes=None, protocol='fast', overrides=None):
    codes = codes if codes is not None else {name: ctx.code for name in ('md', 'label', 'train', 'package', 'compile')}
    builder = RefinementWorkChain.get_builder_from_protocol(codes, protocol, overrides, dataset=ctx.dataset, model=ctx.model, interface=ctx.li2s, products=products or {})
    return run_get_node(builder)


def training(ctx, dataset=None, protocol='fast', overrides=None):
    builder = AllegroTrainingWorkChain.get_builder_from_protocol({'train': ctx.code, 'package': ctx.code}, protocol, overrides, dataset=ctx.dataset if dataset is None else dataset, validation=ctx.dataset)
    return run_get_node(builder)


def active_learning(ctx, structure=None, protocol='fast', overrides=None):
    return run_get_node(ActiveLearningWorkChain.get_builder_from_protocol({'md': ctx.code, 'label': ctx.code}, protocol, overrides, structure=structure or ctx.li2s))


def sweep(ctx, structures):
    return run_get_node(ActiveLearningSweepWorkChain.get_builder_from_protocol({'md': ctx.code, 'label': ctx.code}, 'fast', structures=structures))


def interface(ctx, overrides):
    return InterfaceWorkChain.get_builder_from_protocol({name: ctx.code for name in CODES}, 'demo', overrides)


def label(ctx, structure=None, code=True, protocol='fast', overrides=None):
    code = ctx.code if code is True else code
    return run_get_node(LabelWorkChain.get_builder_from_protocol(code, protocol, overrides, structure=structure or ctx.li2s))


#: (bad input, target, message (a regular expression), where it is checked, what triggers it)
CASES = [
    ('wrong species', 'sei.label', 'are not species of this study', '`structure` validator, on builder assignment',
     lambda ctx: label(ctx, far_apart('LiFe'))),
    ('wrong species', 'sei.active_learning', 'are not species of this study', '`structure` validator, on builder assignment',
     lambda ctx: active_learning(ctx, far_apart('LiNa'))),
    ('overlapping atoms', 'sei.label', 'overlapping atoms', '`structure` validator, on builder assignment',
     lambda ctx: label(ctx, overlapping())),
    ('overlapping atoms', 'sei.active_learning.sweep', 'bad: atoms 0', '`inputs` validator',
     lambda ctx: sweep(ctx, {'li2s': ctx.li2s, 'bad': overlapping()})),
    ('overlapping atoms', 'sei.ase_md', 'overlapping atoms', '`structure` validator',
     lambda ctx: ase_md(ctx, overlapping())),
    ('overlapping atoms', 'sei.lammps', 'overlapping atoms', '`structure` validator',
     lambda ctx: lammps(ctx, overlapping())),
    ('empty dataset', 'sei.allegro.train', 'dataset is empty', '`inputs` validator',
     lambda ctx: training(ctx, dataset=ctx.empty)),
    ('model/structure species mismatch', 'sei.lammps', 'the structure holds S, which the model lacks', '`inputs` validator',
     lambda ctx: lammps(ctx, ctx.li2s, compiled('pair_allegro', ['Li']))),
    ('model/structure species mismatch', 'sei.ase_md', 'the structure holds S, which the model lacks', '`inputs` validator',
     lambda ctx: ase_md(ctx, ctx.li2s, compiled('ase', ['Li']))),
    ('model/structure species mismatch', 'sei.refinement', 'holds P, which the model lacks', '`inputs` validator',
     lambda ctx: refinement(ctx, products={'li3p': far_apart('LiP')})),
    ('model target mismatch', 'sei.lammps', 'compiled with --target pair_allegro', '`inputs` validator',
     lambda ctx: lammps(ctx, ctx.li2s, compiled('ase'))),
    ('missing code', 'sei.label', 'LabelWorkChain: codes missing: label', 'protocols.code_roles',
     lambda ctx: label(ctx, code=None)),
    ('missing code', 'sei.refinement', 'codes missing: label', 'protocols.code_roles',
     lambda ctx: refinement(ctx, codes={name: ctx.code for name in ('md', 'train', 'package', 'compile')})),
    ('missing code', 'sei.interface', 'codes missing: label, relax, train', 'protocols.code_roles',
     lambda ctx: run_get_node(InterfaceWorkChain.get_builder_from_protocol({'md': ctx.code}, protocol='demo'))),
    ('one code for several roles', 'sei.new_phase', 'NewPhaseWorkChain takes its codes by role', 'protocols.code_roles',
     lambda ctx: NewPhaseWorkChain.get_builder_from_protocol(ctx.code, 'tiny')),
    ('truncated VASP file', 'import_frames_file', 'cut off after 2 complete ionic step', 'frames._check_vasp_run',
     lambda ctx: import_frames_file(vasp_file('cut'))),
    ('SCF not converged', 'import_frames_file', 'the SCF stopped at NELM without converging', 'frames._check_vasp_run',
     lambda ctx: import_frames_file(vasp_file('scf'))),
    ('force block shorter than the atoms', 'import_frames_file', '1 force rows for 2 atoms', 'frames._check_vasp_run',
     lambda ctx: import_frames_file(vasp_file('short_forces'))),
    ('stress with some NaN entries', 'import_frames_file', 'frame 0: stress contains NaN or inf', 'frames.check_frame',
     lambda ctx: import_frames_file(partly_nan_stress_file())),
    ('unknown MD parameter', 'sei.interface', '; known: ensemble, temperature, pressure', '`production` validator, on builder assignment',
     lambda ctx: interface(ctx, {'production': {'parameters': {'temprature': 300.0}}})),
    ('split fractions not summing to 1', 'sei.interface', 'split fractions must be non-negative and sum to 1', '`split` validator, on builder assignment',
     lambda ctx: interface(ctx, {'split': {'train': 5}})),
    ('unknown classification setting', 'sei.interface', '; known: cutoff, nradmax, lmax', '`classification` validator, on builder assignment',
     lambda ctx: interface(ctx, {'classification': {'settings': {'n_component': 4}}})),
    ('DFT check without a test set', 'sei.interface', 'give `test_set` as well', '`inputs` validator',
     lambda ctx: run_get_node(interface(ctx, {'test_set': {'enabled': False}}))),
    ('MD value of the wrong type', 'sei.lammps', 'temperature must be a positive number, got True', '`parameters` validator',
     lambda ctx: run_get_node(LammpsMdCalculation, code=ctx.code, structure=ctx.li2s, model=compiled('pair_allegro'),
                              parameters=orm.Dict({'temperature': True}))),
    ('empty structure', 'sei.label', 'the structure has no atoms', '`structure` validator, on builder assignment',
     lambda ctx: label(ctx, orm.StructureData(cell=[[5, 0, 0], [0, 5, 0], [0, 0, 5]]))),
    ('unknown protocol key', 'sei.allegro.train', 'unknown protocol key `training.max_epoch`', 'protocols.recursive_merge',
     lambda ctx: training(ctx, overrides={'training': {'max_epoch': 1}})),
    ('negative hyperparameter tolerance', 'sei.active_learning', 'hyperparameter_tolerance must be >= 0', '`hyperparameter_tolerance` validator, on builder assignment',
     lambda ctx: active_learning(ctx, overrides={'hyperparameter_tolerance': -0.1})),
    ('unknown protocol key', 'sei.active_learning', 'unknown protocol key `max_dft_call`', 'protocols.recursive_merge',
     lambda ctx: active_learning(ctx, overrides={'max_dft_call': 3})),
    ('unknown protocol key', 'sei.refinement', 'unknown protocol key `iteration`', 'protocols.recursive_merge',
     lambda ctx: refinement(ctx, overrides={'iteration': 3})),
    ('unknown protocol name', 'sei.label', 'unknown protocol `quick`', 'protocols.get_protocol_inputs',
     lambda ctx: label(ctx, protocol='quick')),
    ('unknown protocol name', 'sei.interface', 'unknown protocol `quick`', 'protocols.get_protocol_inputs',
     lambda ctx: InterfaceWorkChain.get_builder_from_protocol({name: ctx.code for name in CODES}, protocol='quick')),
]


@pytest.fixture(scope='module')
def ctx(aiida_profile, tmp_path_factory):
    """A code, a small dataset, an empty one, an Li/S model package and a Li2S cell, all stored."""
    import ase.io

    code = local_code(local_computer('bad-inputs-localhost', tmp_path_factory.mktemp('bad-inputs-work')), 'python')
    path = tmp_path_factory.mktemp('frames') / 'frames.extxyz'
    ase.io.write(path, argyrodite_cells(2), format='extxyz')
    dataset = import_frames_file(path, is_dft=False, backend='lj')['dataset']
    model = ModelData(io.BytesIO(b'never read: refused before submission'), filename='model.nequip.zip')
    model.set_model_metadata(['Li', 'S'], 4.0, {})
    li2s = build_structure_node('li2s')['structure']
    return SimpleNamespace(code=code, dataset=dataset, empty=create_dataset(), model=model.store(), li2s=li2s)


def where_refused(exception: Exception) -> str:
    """Where an input was refused, read off the exception: the port whose validator refused it
    (at launch, or when a builder was given the value), else the aiida-sei function that raised."""
    launch = re.match(r"Error occurred validating port '([\w.]+)'", str(exception))
    if launch:
        return f'`{launch.group(1).removeprefix("inputs.")}` validator'
    frames = [frame for frame, _ in traceback.walk_tb(exception.__traceback__)]
    for frame in reversed(frames):
        if frame.f_code.co_name == '__setattr__' and frame.f_code.co_filename.endswith('processes/builder.py'):
            return f'`{frame.f_locals["attr"]}` validator, on builder assignment'
    innermost = [frame for frame in frames if 'aiida_sei' in pathlib.Path(frame.f_code.co_filename).parts][-1]
    return f'{pathlib.Path(innermost.f_code.co_filename).stem}.{innermost.f_code.co_name}'


@pytest.mark.parametrize('case', CASES, ids=[f'{c[1]}: {c[0]}' for c in CASES])
def test_bad_input_is_refused_with_its_message_where_the_table_says_and_nothing_is_stored(ctx, case):
    _, _, message, where, trigger = case
    before = orm.QueryBuilder().append(orm.Node).count()
    with pytest.raises((ValueError, KeyError, TypeError, AttributeError), match=message) as info:
        trigger(ctx)
    assert where_refused(info.value) == where
    assert orm.QueryBuilder().append(orm.Node).count() == before


@pytest.mark.parametrize('case', CASES, ids=[f'{c[1]}: {c[0]}' for c in CASES])
def test_the_docs_table_lists_each_case_with_its_message(case):
    bad_input, target, message, where, _ = case
    rows = [line for line in DOCS.read_text().splitlines() if line.startswith('|')]
    shown = message.replace('.*', ' … ')
    assert any(bad_input in row and f'`{target}`' in row and shown in row and where in row for row in rows), \
        f'docs/faults.md lacks the row for {target}: {bad_input}'
