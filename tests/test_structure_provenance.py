"""Structures as nodes: provenance links, protocols and bad input that stores nothing."""

import re

import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.calculations.functions.structures import build_structure_node, import_structure_file
from aiida_sei.protocols import ProtocolError
from aiida_sei.queries import built_structures, structure_info
from aiida_sei.science import catalogue
from aiida_sei.science.validation import StructureInputError
from aiida_sei.workchains.structures import StructuresWorkChain


def node_count():
    return orm.QueryBuilder().append(orm.Node).count()


def test_structure_links_back_to_its_inputs(aiida_profile_clean):
    outputs = build_structure_node('argyrodite', {'seed': 3, 'cl_on_4a': 0.25})
    structure = outputs['structure']
    creator = structure.creator
    assert creator.process_label == 'build_structure' and creator.is_finished_ok
    assert creator.inputs.kind.value == 'argyrodite'
    assert creator.inputs.parameters.get_dict() == catalogue.resolve_parameters('argyrodite', {'seed': 3, 'cl_on_4a': 0.25})
    assert structure_info(structure)['cl_on_4a'] == 0.25
    # the stored structure is the one the pure builder makes from the stored parameters
    rebuilt = catalogue.build('argyrodite', creator.inputs.parameters.get_dict())
    assert structure.get_ase().get_chemical_symbols() == rebuilt.get_chemical_symbols()
    assert structure.get_ase().positions == pytest.approx(rebuilt.positions)


def test_interface_mismatch_is_queryable(aiida_profile_clean):
    build_structure_node('interface', {'argyrodite_repeats': [3, 6, 10], 'li_ratio': 16})
    build_structure_node('bcc-li')
    qb = orm.QueryBuilder().append(orm.Dict, filters={'attributes.kind': 'interface'}, project='attributes.mismatch')
    assert qb.one()[0] == pytest.approx({'Li [111]': -0.004, 'Li [11-2]': -0.014}, abs=5e-4)
    assert [row['kind'] for row in built_structures()] == ['interface', 'bcc-li']


@pytest.mark.parametrize(
    ('kind', 'parameters'),
    [('argyrodite', {'cl_on_4a': 2}), ('interface', {'li_ratio': 8}), ('graphite', {}), ('bcc-li', {'size': 3})],
)
def test_bad_input_stores_nothing(aiida_profile_clean, kind, parameters):
    before = node_count()
    with pytest.raises(StructureInputError):
        build_structure_node(kind, parameters)
    assert node_count() == before


def test_import_checks_species_before_storing(aiida_profile_clean, tmp_path):
    good, bad = tmp_path / 'li.extxyz', tmp_path / 'fe.extxyz'
    catalogue.write(catalogue.build('li2s'), good)
    bad.write_text(re.sub(r'^S ', 'Fe', good.read_text(), flags=re.MULTILINE))
    before = node_count()
    with pytest.raises(StructureInputError, match='Fe'):
        import_structure_file(bad)
    assert node_count() == before
    outputs = import_structure_file(good)
    assert outputs['structure'].get_formula() == 'Li8S4'
    assert isinstance(outputs['structure'].creator.inputs.file, orm.SinglefileData)


def test_structures_work_chain_from_protocol(aiida_profile_clean):
    overrides = {'structures': {'interface_al': {'parameters': {'seed': 2}}}}
    builder = StructuresWorkChain.get_builder_from_protocol(protocol='demo', overrides=overrides)
    results, node = run_get_node(builder)
    assert node.is_finished_ok
    expected = StructuresWorkChain.get_protocol_inputs('demo')['structures']
    assert set(results['structures']) == set(expected)
    interface = results['structures']['interface_al']
    assert interface.creator.inputs.parameters['seed'] == 2
    assert interface.creator.caller.pk == node.pk  # built inside the work chain
    reports = [log.message for log in orm.Log.collection.get_logs_for(node)]
    assert len(reports) == len(expected) and f'[{len(expected)}/{len(expected)}]' in reports[-1]


def test_protocol_errors_name_the_problem():
    with pytest.raises(ProtocolError, match='unknown protocol `huge`'):
        StructuresWorkChain.get_builder_from_protocol(protocol='huge')
    assert set(StructuresWorkChain.get_available_protocols()) == {'paper', 'demo'}


def test_work_chain_refuses_unbuildable_entries_before_running(aiida_profile_clean):
    before = node_count()
    builder = StructuresWorkChain.get_builder()
    with pytest.raises(ValueError, match='cannot be met'):  # refused as soon as it is set
        builder.structures = orm.Dict({'cell': {'kind': 'interface', 'parameters': {'li_ratio': 8}}})
    with pytest.raises(ValueError, match='cannot be met'):  # and by the process itself
        run_get_node(StructuresWorkChain, structures=orm.Dict({'cell': {'kind': 'interface', 'parameters': {'li_ratio': 8}}}))
    assert node_count() == before


def test_analyses_of_a_stored_interface_are_a_node(aiida_profile_clean):
    from aiida_sei.calculations.functions.analyses import analyse_structure

    structure = build_structure_node('interface', {'argyrodite_repeats': [1, 1, 2], 'li_layers': 12})['structure']
    result = analyse_structure(structure)
    assert result.creator.inputs.structure.pk == structure.pk
    assert result['intact_ps4'] == 8 and result['sei_thickness']['upper'] < 2.5
    assert result['li_phases']['BCC'] > 0.5
    assert result['composition_per_anion']['Cl'] == pytest.approx(8 / (40 + 8 + 8))  # S40 P8 Cl8


@pytest.fixture
def gpaw_code(aiida_code_installed):
    import sys

    return aiida_code_installed(label='gpaw', filepath_executable=sys.executable, default_calc_job_plugin='sei.gpaw', prepend_text='export OMP_NUM_THREADS=1')


def test_structures_take_the_lattices_of_their_relaxation(aiida_profile_clean, gpaw_code):
    """BCC Li and rocksalt LiCl relaxed with GPAW (fast, primitive cells): the built cells have the
    relaxed lattice parameters, a given one wins, and each cell leads back to its relaxation."""
    structures = {'bcc_li': {'kind': 'bcc-li', 'parameters': {'supercell': [2, 2, 2]}}, 'licl': {'kind': 'licl'},
                  'licl_given': {'kind': 'licl', 'parameters': {'a': 5.0}}}
    overrides = {'structures': structures, 'relax': {'protocol': 'fast', 'phases': ['Li', 'LiCl']}}
    results, node = run_get_node(StructuresWorkChain.get_builder_from_protocol(gpaw_code, 'demo', overrides))
    assert node.is_finished_ok, node.exit_message
    lattice = results['lattices'].get_dict()
    assert set(lattice) == {'Li', 'LiCl'}
    assert lattice['Li']['a'] == pytest.approx(3.42, rel=0.01)  # the paper's VASP PBE value
    assert lattice['LiCl']['a'] == pytest.approx(5.13, rel=0.03)  # experiment 5.13 Å; PBE overestimates a little
    assert results['structures']['bcc_li'].get_ase().cell.lengths() == pytest.approx([2 * lattice['Li']['a']] * 3)
    assert results['structures']['licl'].get_ase().cell.lengths() == pytest.approx([lattice['LiCl']['a']] * 3)
    assert results['structures']['licl_given'].get_ase().cell.lengths() == pytest.approx([5.0] * 3)
    creator = results['structures']['bcc_li'].creator
    assert creator.inputs.lattices.uuid == results['lattices'].uuid  # provenance: cell <- lattices <- relaxation
    relaxed = results['lattices'].creator.inputs
    assert relaxed['Li'].creator.caller.caller.caller.pk == node.pk  # GpawCalculation <- sei.gpaw.relax <- sei.relax <- here
    assert 'lattices' not in results['structures']['licl_given'].creator.inputs


def test_a_failed_relaxation_names_its_phase_and_builds_nothing(aiida_profile_clean, gpaw_code):
    overrides = {'structures': {'bcc_li': {'kind': 'bcc-li'}},
                 'relax': {'protocol': 'fast', 'phases': ['Li'], 'gpaw': {'gpaw': {'parameters': {'setups': {'Li': 'nosuch'}}}}}}
    results, node = run_get_node(StructuresWorkChain.get_builder_from_protocol(gpaw_code, 'demo', overrides))
    assert node.exit_status == StructuresWorkChain.exit_codes.ERROR_RELAXATION_FAILED.status
    assert 'relaxation of Li failed' in node.exit_message and 'Li.nosuch.PBE' in node.exit_message
    assert 'structures' not in results or not results['structures']
