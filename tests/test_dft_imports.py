"""Frames labelled outside AiiDA are trusted only as far as their files say: a VASP file that was
cut off or whose SCF stopped at NELM is refused with nothing stored (accepted only on request, and
then flagged), a damaged force block is refused, and frames of one structure labelled with
different settings both survive merge + de-duplication.

The files are written by the stand-in VASP (tests/stand_ins/vasp_standin.py: VASP 6's
vasprun.xml and OUTCAR formats, Lennard-Jones numbers, not VASP) and cut or damaged here."""

import pytest
from aiida import orm
from ase.build import bulk

from aiida_sei.calculations.functions.dataset import deduplicate_dataset, import_frames_file, merge_datasets
from aiida_sei.data import FrameData
from aiida_sei.science.frames import FrameError
from aiida_sei.science.vasp_files import inspect_outcar
from tests.stand_ins import run_vasp_standin

#: A 3-step relaxation (three ionic steps, three frames).
RELAX = 'ENCUT = {encut}\nISMEAR = 0\nSIGMA = 0.1\nIBRION = 2\nNSW = 3\nISIF = 2\nEDIFFG = -1e-6\n'


def li_cell():
    atoms = bulk('Li', 'bcc', a=3.44, cubic=True).repeat((2, 1, 1))
    atoms.rattle(0.05, seed=1)
    return atoms


@pytest.fixture(scope='module')
def runs(tmp_path_factory):
    """Stand-in VASP relaxations: at ENCUT 400 and 200 eV (same structures: LJ ignores ENCUT), and
    one whose every SCF stops at NELM."""
    root = tmp_path_factory.mktemp('vasp')
    return {'400': run_vasp_standin(root / '400', li_cell(), RELAX.format(encut=400)),
            '200': run_vasp_standin(root / '200', li_cell(), RELAX.format(encut=200)),
            'scf': run_vasp_standin(root / 'scf', li_cell(), RELAX.format(encut=400), fail='scf')}


@pytest.fixture
def profile(aiida_profile_clean):
    return aiida_profile_clean


def cut_in_last_step(source, target):
    """``source`` vasprun.xml cut 500 characters into its last ionic step, as a killed job leaves it."""
    text = source.read_text()
    target.write_text(text[: text.rindex('<calculation>') + 500])
    return target


def node_count() -> int:
    return orm.QueryBuilder().append(orm.Node).count()


def test_a_cut_off_vasprun_is_refused_and_imports_its_complete_steps_only_on_request(profile, runs, tmp_path):
    path = cut_in_last_step(runs['400'] / 'vasprun.xml', tmp_path / 'vasprun.xml')
    with pytest.raises(FrameError, match=r'cut off after 2 complete ionic step\(s\).*nothing imported.*--allow-truncated'):
        import_frames_file(path)
    assert node_count() == 0
    dataset = import_frames_file(path, allow_truncated=True)['dataset']
    assert len(dataset) == 2 and dataset.base.attributes.get('from_truncated_files') == 2
    assert all(frame.base.attributes.get('source_complete') is False for frame in dataset.iter_frames())


def test_an_unconverged_scf_is_refused_and_imported_flagged_only_on_request(profile, runs):
    path = runs['scf'] / 'vasprun.xml'
    with pytest.raises(FrameError, match=r'frame 0 \(ionic step 1\): the SCF stopped at NELM.*--allow-unconverged'):
        import_frames_file(path)
    assert node_count() == 0
    dataset = import_frames_file(path, allow_unconverged=True)['dataset']
    assert dataset.base.attributes.get('unconverged_frames') == len(dataset) == 3
    flagged = orm.QueryBuilder().append(FrameData, filters={'attributes.converged': False}).count()
    assert flagged == 3  # visible to a query that builds a training set


def test_a_force_block_with_fewer_rows_than_atoms_is_refused(profile, runs, tmp_path):
    """ASE pads a short force block with zeros; the importer counts rows against atoms."""
    text = (runs['400'] / 'vasprun.xml').read_text()
    start = text.index('<varray name="forces"')
    first_row = text.index('<v>', start)
    damaged = text[:first_row] + text[text.index('</v>', first_row) + len('</v>'):]
    (tmp_path / 'vasprun.xml').write_text(damaged)
    with pytest.raises(FrameError, match='frame 0 .*: 3 force rows for 4 atoms'):
        import_frames_file(tmp_path / 'vasprun.xml')
    assert node_count() == 0


def test_frames_of_one_structure_with_two_settings_both_survive_merge_and_deduplication(profile, runs, tmp_path):
    high = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    again = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    low = import_frames_file(runs['200'] / 'vasprun.xml')['dataset']
    assert [f.base.attributes.get('structure_hash') for f in high.iter_frames()] == [f.base.attributes.get('structure_hash') for f in low.iter_frames()]
    assert len(deduplicate_dataset(merge_datasets(a=high, b=again))) == 3  # same settings: duplicates
    merged = deduplicate_dataset(merge_datasets(a=high, b=low))
    assert len(merged) == 6 and len(merged.base.attributes.get('settings_hashes')) == 2
    encut = orm.QueryBuilder().append(FrameData, filters={'attributes.settings.ENCUT': 200.0}, project='uuid').all(flat=True)
    assert set(encut) == set(low.frame_uuids)  # the settings are queryable
    frame = next(low.iter_frames())
    settings = frame.base.attributes.get('settings')
    assert settings['version'] == '6.4.2' and settings['kpoints']['mesh'] == [2, 2, 2] and settings['potcars'] == ['PAW_PBE Li_sv 11Jan1111']
    assert frame.base.attributes.get('converged') is True and frame.base.attributes.get('is_dft') is True  # the CLI's defaults, in Python too


def test_extxyz_frames_carry_the_info_they_share_and_the_users_label_as_settings(profile, runs, tmp_path):
    """An extxyz does not record what labelled it as VASP does: the info entries every frame shares
    and the user's `settings_label` become the frames' settings, so two levels of theory of the
    same frames stay apart through merge + de-duplication."""
    import ase.io

    images = ase.io.read(runs['400'] / 'vasprun.xml', index=':')
    for step, atoms in enumerate(images):
        atoms.info.update(code='stand-in', xc='PBE', step=step)  # shared: code, xc; per frame: step
    ase.io.write(tmp_path / 'frames.extxyz', images, format='extxyz')
    pbe = import_frames_file(tmp_path / 'frames.extxyz', settings_label='PBE 400 eV')['dataset']
    r2scan = import_frames_file(tmp_path / 'frames.extxyz', settings_label='r2SCAN 400 eV')['dataset']
    frame = next(pbe.iter_frames())
    assert frame.base.attributes.get('settings') == {'code': 'stand-in', 'xc': 'PBE', 'label': 'PBE 400 eV'}
    assert frame.base.attributes.get('backend') == 'imported' and frame.base.attributes.get('theory_hash')
    assert len(deduplicate_dataset(merge_datasets(a=pbe, b=r2scan))) == 6
    labelled = orm.QueryBuilder().append(FrameData, filters={'attributes.settings.label': 'r2SCAN 400 eV'}, project='uuid').all(flat=True)
    assert set(labelled) == set(r2scan.frame_uuids)


def test_a_renamed_vasprun_is_read_by_its_content(profile, runs, tmp_path):
    path = tmp_path / 'run.xml.1'
    path.write_bytes((runs['400'] / 'vasprun.xml').read_bytes())
    assert len(import_frames_file(path)['dataset']) == 3


def test_outcar_inspection_sees_unconverged_steps_and_a_cut_off_file(runs, tmp_path):
    """The OUTCAR reader of vasp_files (no profile): NELM iterations per ionic step, the timing
    block that VASP writes last."""
    assert inspect_outcar(runs['400'] / 'OUTCAR').converged == [True, True, True]
    assert inspect_outcar(runs['scf'] / 'OUTCAR').converged == [False, False, False]
    text = (runs['400'] / 'OUTCAR').read_text()
    (tmp_path / 'OUTCAR').write_text(text[: text.rindex('TOTAL-FORCE') + 20])
    cut = inspect_outcar(tmp_path / 'OUTCAR')
    assert not cut.complete and len(cut.converged) == 3
    assert inspect_outcar(runs['400'] / 'OUTCAR').settings['ENCUT'] == 400.0


def test_edited_frames_and_datasets_from_an_archive_are_found_and_not_exported(profile, runs, tmp_path):
    """What an edited archive can bring in (attributes are imported as written): a frame whose
    energy is a string, one whose atom count disagrees with its arrays, a dataset naming a frame
    that does not exist. `verdi data sei check` names each; export refuses, writing nothing."""
    from click.testing import CliRunner

    from aiida_sei.cli.data import check, dataset_export
    from aiida_sei.data import DatasetData
    from aiida_sei.science.frames import read_frames

    good = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    first, second = read_frames(runs['200'] / 'vasprun.xml')[:2]
    text_energy, wrong_count = FrameData(first), FrameData(second)
    text_energy.base.attributes.set('energy', 'not-a-number')
    wrong_count.base.attributes.set('n_atoms', 7)
    edited = DatasetData([text_energy.store(), wrong_count.store()]).store()
    dangling = DatasetData(list(good.iter_frames()))
    dangling.base.attributes.set('frame_uuids', [*good.frame_uuids, '00000000-0000-0000-0000-000000000000'])
    dangling.store()

    # the commands of `verdi data sei`, invoked on the loaded test profile (an in-process `verdi -p`
    # would rebind AiiDA's logging to the runner's stream, which is closed after it)
    result = CliRunner().invoke(check, [])
    assert result.exit_code == 1
    assert f"frame<{text_energy.pk}>: energy attribute is 'not-a-number'" in result.output
    assert f'frame<{wrong_count.pk}>: attributes n_atoms/elements 7/' in result.output
    assert f'dataset<{dangling.pk}>: names 1 frame(s) that do not exist' in result.output
    assert f'dataset<{dangling.pk}>: n_frames is 3 for 4 frame UUIDs' in result.output and '4 problem(s)' in result.output
    exported = CliRunner().invoke(dataset_export, [str(edited.pk), '-o', str(tmp_path / 'x.extxyz')])
    assert exported.exit_code == 1 and 'not-a-number' in exported.output and not (tmp_path / 'x.extxyz').exists()


def test_training_refuses_data_that_mixes_levels_of_theory_unless_told(profile, runs, tmp_path):
    """ENCUT 200 and 400 eV frames of one structure are two levels of theory: one model is not
    trained on both unless `allow_mixed_theories` says so. Checked when the inputs are validated,
    before any job; nothing is trained here."""
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain
    from tests.local import local_code, local_computer

    high = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    low = import_frames_file(runs['200'] / 'vasprun.xml')['dataset']
    mixed = merge_datasets(a=high, b=low)
    assert len(mixed.base.attributes.get('theories')) == 2
    code = local_code(local_computer('theory-localhost', tmp_path), 'python')
    builder = AllegroTrainingWorkChain.get_builder_from_protocol({'train': code, 'package': code}, 'fast', dataset=mixed, validation=high)
    error = AllegroTrainingWorkChain.spec().inputs.validate(builder._inputs(prune=True))
    assert error is not None and 'mixes 2 levels of theory' in str(error)
    builder.allow_mixed_theories = orm.Bool(True)
    assert AllegroTrainingWorkChain.spec().inputs.validate(builder._inputs(prune=True)) is None
    repeat = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    single = AllegroTrainingWorkChain.get_builder_from_protocol({'train': code, 'package': code}, 'fast', dataset=high, validation=repeat)
    assert AllegroTrainingWorkChain.spec().inputs.validate(single._inputs(prune=True)) is None  # k-points aside, one theory


def test_vasp_labels_take_the_papers_energy_shifts_and_other_labels_a_fit(profile, runs):
    """The paper's per-species shifts are VASP single-atom energies: they fit VASP labels only.
    The same frames said to come from another labeller get shifts fitted to their energies."""
    from aiida_sei.workchains.allegro import AllegroTrainingWorkChain, energy_shifts

    tables = orm.Dict(AllegroTrainingWorkChain.get_protocol_inputs('paper')['energy_shifts'])
    vasp = import_frames_file(runs['400'] / 'vasprun.xml')['dataset']
    fixed = energy_shifts(vasp, vasp, tables)
    assert fixed['source'] == 'fixed: the table of vasp labels' and fixed['shifts'] == {'Li': -0.29767466}
    other = import_frames_file(runs['400'] / 'vasprun.xml', backend='gpaw')['dataset']
    fitted = energy_shifts(other, other, tables)
    per_atom = [frame.energy / frame.base.attributes.get('n_atoms') for frame in other.iter_frames()]
    assert fitted['source'] == 'fitted by least squares over the 6 training and validation frames, labelled by gpaw'
    assert fitted['shifts']['Li'] == pytest.approx(sum(per_atom) / len(per_atom))
