"""sei.new_phase end to end with real GPAW and LAMMPS on its `tiny` protocol: the ordered
approximant of the 12-atom cell and Li2S, Li3P, LiCl relaxed, the hull, gaps and entropy in one
summary whose numbers lead back to the relaxations; then NVT MD of the ordering with the tiny
Allegro model of tests/allegro_fixtures.py (its numbers mean nothing physically: it checks that
D(T) and the Arrhenius fit are those of the stored trajectories)."""

import numpy as np
import pytest
from aiida import orm
from aiida.engine import run_get_node

from aiida_sei.science.lammps_plugin import PLUGIN_ENVIRONMENT_VARIABLE, plugin_path
from aiida_sei.science.new_phase import energy_above_compound_hull, mixing_entropy
from aiida_sei.workchains.new_phase import HULL_PHASES, NewPhaseWorkChain
from tests.allegro_fixtures import BIN, tiny_allegro  # noqa: F401
from tests.local import SINGLE_THREAD, local_code, local_computer
from tests.test_lammps_md import compiled_model


@pytest.fixture(scope='module')
def codes(aiida_profile, tmp_path_factory):
    computer = local_computer('new-phase-localhost', tmp_path_factory.mktemp('new_phase'), mpirun=True)
    prepend = f'{SINGLE_THREAD} LD_LIBRARY_PATH={BIN.parent / "lib"}\nexport {PLUGIN_ENVIRONMENT_VARIABLE}={plugin_path()}'
    return {'relax': local_code(computer, 'python', default_calc_job_plugin='sei.gpaw'),
            'lammps': local_code(computer, 'lmp', prepend_text=prepend, default_calc_job_plugin='sei.lammps')}


@pytest.fixture(scope='module')
def tiny_run(codes, tiny_allegro):  # noqa: F811
    model = compiled_model(tiny_allegro['pair_allegro'].read_bytes())
    results, node = run_get_node(NewPhaseWorkChain.get_builder_from_protocol(codes, 'tiny', model=model))
    assert node.is_finished_ok, node.exit_message
    return results, node


def test_the_summary_is_the_hull_of_the_relaxed_energies(tiny_run):
    results, node = tiny_run
    summary = results['summary'].get_dict()
    assert set(results['orderings']) == {'ordering_1'} and summary['orderings']['ordering_1']['multiplicity'] == 12  # 4 x 3 placements, one orbit
    assert set(results['relaxed']) == {'ordering_1', *HULL_PHASES}
    # the summary's E_hull is the hull of the relaxations' own frames, recomputed here
    frames = {name: results['summary'].creator.inputs[f'frame_{name}'] for name in ('ordering_1', *HULL_PHASES)}
    for name, frame in frames.items():
        relaxation = frame.creator.caller
        assert relaxation.process_label == 'GpawRelaxWorkChain' and relaxation.caller.caller.pk == node.pk  # under sei.relax
        assert np.allclose(frame.get_array('cell'), results['relaxed'][name].cell)
    terminals = {phase: frames[phase].base.attributes.get('energy_per_atom') for phase in HULL_PHASES}
    row = summary['orderings']['ordering_1']
    expected = energy_above_compound_hull(terminals, 'Li8S2PCl', frames['ordering_1'].base.attributes.get('energy_per_atom'))
    assert row['e_above_hull_meV_per_atom'] == pytest.approx(1000 * expected)
    assert summary['mixing_entropy_meV_per_atom'] == pytest.approx(1000 * 300 * mixing_entropy(0.25))


def test_gaps_are_read_from_the_relaxed_eigenvalues(tiny_run):
    """Li2S's PBE gap is 3.4 eV (the paper's value; 3.39 eV at 600 eV in benchmarks/gpaw_setups.json),
    LiCl's wider; P and Cl put a defect band inside Li2S's gap (the paper: 1.4-2.0 eV at x = 0.125)."""
    results, _ = tiny_run
    summary = results['summary'].get_dict()
    li2s = summary['competing']['Li2S']['band_gap_eV']
    assert li2s == pytest.approx(3.4, abs=0.3)
    assert summary['competing']['LiCl']['band_gap_eV'] > li2s  # LiCl: ~6.3 eV in PBE
    assert 0 <= summary['orderings']['ordering_1']['band_gap_eV'] < li2s
    assert summary['competing']['Li2S']['lattice']['a'] == pytest.approx(5.70, rel=0.03)


def test_the_report_table_and_hull_figure_show_the_run_beside_the_paper(tiny_run, tmp_path):
    from aiida_sei.cli.report import new_phase_table
    from aiida_sei.science.plots import hull_figure

    results, _ = tiny_run
    summary = results['summary'].get_dict()
    lines = new_phase_table(summary)
    row = summary['orderings']['ordering_1']
    assert lines[1].split() == ['ordering_1', row['formula'], '12', f'{row["p_cl_distance"]:.2f}',
                                f'{row["e_above_hull_meV_per_atom"]:.1f}', f'{row["band_gap_eV"]:.2f}']
    assert 'lowest E_hull 27.7 meV/atom, gaps 1.4-2.0 eV, Li2S gap 3.4 eV' in lines[2]
    hull_figure(summary, tmp_path / 'hull.png')
    assert (tmp_path / 'hull.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_diffusivity_is_the_fit_of_the_stored_md(tiny_run):
    """One NVT run per temperature of the lowest ordering's supercell; D(T) recomputed from each
    stored trajectory (unwrapped with its image flags) is the output's, and the Arrhenius fit
    and its extrapolation follow from them."""
    from aiida_sei.science import analyses, new_phase

    results, node = tiny_run
    diffusivity = results['diffusivity'].get_dict()
    incoming = results['diffusivity'].creator.base.links.get_incoming().all()
    trajectories = {link.link_label.removeprefix('md_'): link.node for link in incoming if link.link_label.startswith('md_')}
    assert sorted(trajectories, key=float) == ['900', '1200'] == list(diffusivity['temperatures'])
    for temperature, trajectory in trajectories.items():
        md = trajectory.creator
        assert md.inputs.parameters['ensemble'] == 'nvt' and md.inputs.parameters['temperature'] == float(temperature)
        assert len(md.inputs.structure.sites) == 24  # the 12-atom ordering, 2x1x1
        unwrapped = analyses.unwrap(trajectory.get_positions(), trajectory.get_cells(), trajectory.get_array('images'))
        blocks = new_phase.msd_blocks(unwrapped, np.array(trajectory.symbols) == 'Li', 4)
        lags = 0.01 * np.arange(blocks.shape[1])  # dumps every 10 fs
        d, error = new_phase.diffusion_coefficient(lags, blocks, (0.2, 0.8))
        assert diffusivity['temperatures'][temperature]['D_cm2_s'] == pytest.approx(d)
        assert diffusivity['temperatures'][temperature]['D_err_cm2_s'] == pytest.approx(error)
    rows = diffusivity['temperatures']
    if all(row['D_cm2_s'] > 0 for row in rows.values()):
        fit = new_phase.arrhenius_fit([900.0, 1200.0], [rows[t]['D_cm2_s'] for t in ('900', '1200')],
                                      [max(rows[t]['D_err_cm2_s'], 1e-3 * rows[t]['D_cm2_s']) for t in ('900', '1200')])
        assert diffusivity['arrhenius']['Ea_eV'] == pytest.approx(fit.ea_ev)
        assert diffusivity['arrhenius']['D_extrapolated_cm2_s'] == pytest.approx(float(fit.extrapolate(300.0)[0]))
    else:
        assert diffusivity['arrhenius'] is None


def test_the_report_shows_d_of_t_and_plots_the_arrhenius_fit(tiny_run, tmp_path):
    from aiida_sei.cli.report import diffusivity_lines
    from aiida_sei.science.plots import arrhenius_figure

    results, _ = tiny_run
    diffusivity, paper = results['diffusivity'].get_dict(), results['summary']['paper']
    lines = diffusivity_lines(diffusivity, paper)
    for line, (temperature, row) in zip(lines[1:], diffusivity['temperatures'].items()):
        assert line.split()[:2] == [f'{float(temperature):.0f}', f'{row["D_cm2_s"]:.2e}']
    if diffusivity['arrhenius']:
        assert f'Ea {diffusivity["arrhenius"]["Ea_eV"]:.2f}' in lines[-1] and '<= 4.2e-09' in lines[-1]
    else:
        assert lines[-1].startswith('Arrhenius: fewer than two temperatures')
    arrhenius_figure(diffusivity, paper, tmp_path / 'arrhenius.png')
    assert (tmp_path / 'arrhenius.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_report_writes_every_figure_the_run_has_outputs_for(tiny_run, tmp_path):
    from aiida_sei.cli.report import NEW_PHASE_FIGURES, new_phase_figures

    _, node = tiny_run
    written = new_phase_figures(node, tmp_path)
    assert [path.name for path in written] == ['hull.png', 'dos.png', 'xrd.png', 'arrhenius.png']
    assert all(path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n' for path in written)
    child = node.called[0]  # any of its processes: no summary, no diffusivity
    assert all(missing(child) for missing, _, _ in NEW_PHASE_FIGURES.values())


def test_each_relaxed_structure_has_its_dos_and_the_gap_shows_in_it(tiny_run):
    """The DOS is the relaxation's own final single point (GPAW's eigenvalues, 0.1 eV Gaussian):
    it integrates to the valence electrons below E_F, and Li2S's is empty across its gap."""
    from aiida_sei.cli.report import new_phase_dos

    results, node = tiny_run
    assert set(results['dos']) == {'ordering_1', 'Li2S', 'Li3P', 'LiCl'}
    for name, data in results['dos'].items():
        assert data.creator.uuid == results['relaxed'][name].creator.uuid  # same job
    energies, values = results['dos']['Li2S'].get_x()[1], results['dos']['Li2S'].get_y()[0][1]
    step = energies[1] - energies[0]
    # per Li2S: Li 1s2s (sv: 3 e) x 2 + S 3s3p (6 e); the window starts at -10 eV, above the Li 1s
    # (~ -45 eV) and S 3s (~ -12 eV) bands: the S 3p (6 e per S) remain below E_F
    sulfur = results['relaxed']['Li2S'].get_ase().get_chemical_symbols().count('S')
    assert sulfur == 4  # the conventional cell: its k-meshes hold X, where PBE puts the CBM
    assert np.sum(values[energies < 0]) * step == pytest.approx(6.0 * sulfur, abs=0.2)
    # E_F lies in the gap: the stretch of (nearly) no states around it is the gap less the broadening
    gap = results['summary']['competing']['Li2S']['band_gap_eV']
    empty = values < 0.01 * values.max()
    low = high = int(np.argmin(np.abs(energies)))
    assert empty[low]
    while low > 0 and empty[low - 1]:
        low -= 1
    while high < len(empty) - 1 and empty[high + 1]:
        high += 1
    assert energies[high] - energies[low] == pytest.approx(gap - 0.3, abs=0.15)  # 0.1 eV Gaussians: ~1.5 widths off each edge
    dos, gaps = new_phase_dos(node)
    assert list(dos) == ['ordering_1', 'Li2S'] and gaps['Li2S'] == gap


def test_the_xrd_of_the_relaxed_ordering_is_that_of_li2s_on_a_larger_lattice(tiny_run):
    """The paper (Fig. S12): the new phase's XRD "closely resembles the ideal Li2S in both peak
    positions and relative intensities". Scaled by the ratio of the two relaxed lattices, every
    strong Li2S peak has the ordering's within 0.2°, and what P/Cl order adds is faint."""
    from aiida_sei.science.analyses import xrd_pattern
    from aiida_sei.science.new_phase import anion_lattice_parameter

    results, _ = tiny_run
    ordering, li2s = results['relaxed']['ordering_1'].get_ase(), results['relaxed']['Li2S'].get_ase()
    ratio = anion_lattice_parameter(li2s) / anion_lattice_parameter(ordering)
    assert 0.97 < ratio < 1.0  # P(3-) is larger than S(2-): the doped lattice expands
    two_theta, intensity = xrd_pattern(ordering)
    reference, reference_intensity = xrd_pattern(li2s)
    expected = 2 * np.degrees(np.arcsin(np.sin(np.radians(reference / 2)) * ratio))
    assert all(np.min(np.abs(two_theta - angle)) < 0.2 for angle in expected[reference_intensity > 10])
    new = [height for angle, height in zip(two_theta, intensity) if np.min(np.abs(expected - angle)) > 0.5]
    assert max(new, default=0.0) < 3.0  # of 100
