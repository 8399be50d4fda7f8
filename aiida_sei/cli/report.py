"""`aiida-sei status`, `aiida-sei report` and the figures of `aiida-sei plot`, read from the
stored nodes of a profile (AiiDA's QueryBuilder and DaemonClient, never a `verdi` subprocess)."""

from __future__ import annotations

import json
import pathlib

import click

#: Process types of the plugin's processes (work chains, calculations, calcfunctions).
SEI_PROCESS_TYPES = ('aiida.workflows:sei.', 'aiida.calculations:sei.')


# -- sei.interface: the demo's outputs ------------------------------------------------------

def run_folder(node, parent: pathlib.Path = pathlib.Path('.')) -> pathlib.Path:
    """Where a run's files go unless told: named by the run, so that no run overwrites another's."""
    return parent / f'sei-interface-{node.pk}'


def write_interface_outputs(results, output: pathlib.Path) -> None:
    """Dataset, summary, last production frame and composition figure of a sei.interface run
    (``results``: its outputs, a dict or the node's ``outputs``) into ``output``. Stores nothing:
    a report leaves the profile as it found it."""
    from aiida_sei.science.frames import write_extxyz

    output.mkdir(parents=True, exist_ok=True)
    write_extxyz([frame.get_frame() for frame in results['dataset'].iter_frames()], output / 'dataset.extxyz')
    (output / 'summary.json').write_text(json.dumps(results['summary'].get_dict(), indent=2))
    trajectory = results['trajectory']
    trajectory.get_step_structure(trajectory.numsteps - 1).get_ase().write(output / 'last_frame.extxyz', format='extxyz')
    composition_figure(results['composition'], output / 'composition.png')
    if 'time_series' in results:  # runs stored before it was computed lack it
        sei_figure(results['time_series'], output / 'sei_evolution.png')
    if 'elevated' in results:  # the production at the elevated temperature
        elevated = results['elevated']
        kelvin = f'{elevated["trajectory"].creator.inputs.parameters["temperature"]:.0f}K'
        composition_figure(elevated['composition'], output / f'composition_{kelvin}.png')
        sei_figure(elevated['time_series'], output / f'sei_evolution_{kelvin}.png')


def sei_figure(series, path: pathlib.Path) -> None:
    """Fig. 2d of an interface_series node: intact PS4 and SEI thickness per side over time."""
    from aiida_sei.science.plots import sei_evolution

    trajectory = series.creator.inputs.trajectory
    sei_evolution(series.get_array('time'), series.get_array('intact_ps4'), series.get_array('sei_lower'), series.get_array('sei_upper'),
                  path, title=f'trajectory<{trajectory.pk}> ({trajectory.creator.inputs.parameters["temperature"]:.0f} K): '
                              'intact PS$_4$ and SEI thickness per side (Fig. 2d)')


def model_errors(metrics: dict) -> str:
    """``E MAE .. meV/atom, F RMSE .. eV/Å, stress MAE .. GPa`` of a metrics dict (None: not measured)."""
    def value(key, scale, unit, digits):
        number = metrics.get(key)
        return 'n/a' if number is None else f'{scale * number:.{digits}f} {unit}'
    return (f'E MAE {value("energy_per_atom_mae", 1000, "meV/atom", 1)}, F RMSE {value("forces_rmse", 1, "eV/Å", 3)}, '
            f'stress MAE {value("stress_mae", 160.21766, "GPa", 2)}')


def sei_change(series) -> str:
    """``intact PS4 a -> b, thickness (lower, upper) ... Å`` between the first and last frame."""
    ps4, lower, upper = (series.get_array(name) for name in ('intact_ps4', 'sei_lower', 'sei_upper'))
    return (f'intact PS4 {ps4[0]:.0f} -> {ps4[-1]:.0f}; thickness lower/upper {lower[0]:.1f}/{upper[0]:.1f} -> '
            f'{lower[-1]:.1f}/{upper[-1]:.1f} Å')


def fractions_text(parts: dict, beyond_reach: float | None = None) -> str:
    """``label fraction, ...`` of Li by phase (core + non-core), and how many of the Li lie beyond
    the clustering's reach, where the labels extrapolate."""
    text = ', '.join(f'{label} {part["core"] + part["non_core"]:.2f}' for label, part in parts.items())
    if beyond_reach:
        text += f' ({beyond_reach:.0%} of the Li beyond the clustering\'s reach: their labels extrapolate)'
    return text


def echo_interface_summary(node, summary: dict, output: pathlib.Path, profile: str) -> None:
    click.echo(f'sei.interface<{node.pk}> finished:')
    click.echo(f'  frames: {summary["frames"]} ({summary["dft_frames"]} DFT) {summary["frames_per_system"]}')
    click.echo(f'  model errors on the validation frames: {model_errors(summary["model_metrics"].get("validation", {}))}')
    if 'test_errors' in node.outputs:
        tested = node.outputs.test_errors.get_dict()['all']
        click.echo(f'  model errors on {tested["frames"]} labelled production frames (test set): {model_errors(tested)}')
    check = summary.get('production_check')
    if check and not check['trusted']:
        click.echo(f'  WARNING: production {check["message"]}')
    volume = summary.get('volume_check')
    if volume and not volume['trusted']:
        click.echo(f'  WARNING: production: {volume["message"]}')
    click.echo(f'  production: {summary["atoms"]} atoms, {summary["md_steps"]} steps = {summary["md_time_ps"]:.3f} ps, {summary["md_frames"]} frames')
    for which in ('first', 'last'):
        parts = summary.get('first_frame_fractions') if which == 'first' else summary['phase_fractions']
        if parts is not None:  # runs stored before the first frame was classified lack it
            beyond = (summary.get('beyond_reach') or {}).get(which)
            click.echo(f'  Li of the {which} frame by phase (core + non-core): {fractions_text(parts, beyond)}')
    if 'time_series' in node.outputs:
        click.echo(f'  SEI, first -> last frame: {sei_change(node.outputs.time_series)}')
    if summary.get('elevated'):
        hot = summary['elevated']
        click.echo(f'  at {hot["temperature"]:.0f} K ({hot["md_time_ps"]:.3f} ps): SEI {sei_change(node.outputs.elevated.time_series)}; '
                   f'Li of the last frame: {fractions_text(hot["phase_fractions"], hot.get("beyond_reach"))}')
        if hot.get('volume_check') and not hot['volume_check']['trusted']:
            click.echo(f'  WARNING: the {hot["temperature"]:.0f} K production: {hot["volume_check"]["message"]}')
    for who, errors in (summary.get('dft_check') or {}).items():
        energy = errors['energy']
        energy = 'n/a' if energy is None else f'{1000 * energy["energy_per_atom_mae"]:.1f} meV/atom'
        click.echo(f'  {who.replace("_", "-")} vs DFT on clusters of the production: core F RMSE {errors["forces_rmse"]:.3f} eV/Å, '
                   f'E MAE (one shift per species) {energy}')
    figures = ', '.join(sorted(path.name for path in output.glob('*.png')))
    click.echo(f'  written to {output}/: {figures}, dataset.extxyz, last_frame.extxyz, summary.json')
    click.echo(f'  everything is in profile `{profile}`: verdi -p {profile} process status {node.pk}')


# -- figures ------------------------------------------------------------------------------------

def composition_node(node):
    """The phase-fraction series (a classify_trajectory ArrayData) of ``node``: the node itself or
    the `composition` output of a sei.interface run."""
    from aiida import orm

    if isinstance(node, orm.WorkflowNode):
        if 'composition' not in node.outputs:
            raise click.ClickException(f'{node.process_label}<{node.pk}> has no `composition` output (yet)')
        node = node.outputs.composition
    labels = node.base.attributes.get('labels', None) if isinstance(node, orm.ArrayData) else None
    if not labels or not {'time', *(f'{label}__core' for label in labels)} <= set(node.get_arraynames()):
        raise click.ClickException(f'node {node.pk} is not a phase-fraction series (a classify_trajectory output)')
    return node


def composition_figure(series, path: pathlib.Path) -> dict[str, float]:
    """Fig. 4c of ``series``; returns each label's total fraction in the last frame."""
    from aiida_sei.calculations.functions.classification import composition_from_series
    from aiida_sei.science import plots

    fractions = composition_from_series(series)
    trajectory = series.creator.inputs.trajectory if series.creator and 'trajectory' in series.creator.inputs else None
    source = f'trajectory<{trajectory.pk}>' if trajectory is not None else 'frames'
    plots.composition_series(series.get_array('time'), fractions, path,
                             title=f'composition<{series.pk}> of {source}: Li environments by phase (Fig. 4c)')
    return {label: float(parts['core'][-1] + parts['non_core'][-1]) for label, parts in fractions.items()}


def md_segments(node) -> list:
    """The sei.flare_md segments an active-learning run called, in order."""
    return sorted((c for c in node.called if c.process_type == 'aiida.calculations:sei.flare_md'), key=lambda c: c.ctime)


def active_learning_node(node):
    if node.process_type != 'aiida.workflows:sei.active_learning':
        runs = [c.pk for c in node.called if c.process_type == 'aiida.workflows:sei.active_learning']
        hint = f'; its active-learning runs: {runs}' if runs else ''
        raise click.ClickException(f'node {node.pk} is not a sei.active_learning run{hint}')
    return node


def uncertainty_rows(node) -> list[dict]:
    """Per MD segment: pk, steps run, the maximum uncertainty over its stored frames and its last
    step (``misc`` holds the last step's only), and whether it triggered a label."""
    rows = []
    for segment in md_segments(node):
        misc = segment.outputs.misc.get_dict() if 'misc' in segment.outputs else {}
        values = [misc['max_uncertainty']] if misc.get('max_uncertainty') is not None else []
        if 'trajectory' in segment.outputs:
            values += segment.outputs.trajectory.get_array('max_uncertainty').tolist()
        rows.append({'pk': segment.pk, 'steps': misc.get('steps'), 'max_uncertainty': max(values) if values else None,
                     'last_uncertainty': misc.get('max_uncertainty'), 'triggered': 'trigger' in segment.outputs,
                     'state': segment.process_state.value if segment.process_state else '?'})
    return rows


def uncertainty_figure(node, path: pathlib.Path) -> None:
    """Maximum uncertainty of every stored MD frame, segment after segment, against the DFT and
    add-atom thresholds: where the loop called DFT."""
    from aiida_sei.science.plots import uncertainty_segments

    segments = []
    for segment in md_segments(node):
        trajectory = segment.outputs.trajectory if 'trajectory' in segment.outputs else None
        misc = segment.outputs.misc.get_dict() if 'misc' in segment.outputs else {}
        segments.append((None if trajectory is None else trajectory.get_stepids(),
                         None if trajectory is None else trajectory.get_array('max_uncertainty'),
                         misc.get('steps'), misc.get('max_uncertainty'), 'trigger' in segment.outputs))
    start = node.inputs.state.step if 'state' in node.inputs else 0
    uncertainty_segments(segments, node.inputs.thresholds.get_dict(), path, start_step=start,
                         title=f'sei.active_learning<{node.pk}>: max per-atom uncertainty of each MD segment')


def echo_uncertainty_table(node) -> None:
    threshold = node.inputs.thresholds['dft']
    click.echo(f'segment  calc       steps  max uncertainty  (DFT threshold {threshold:g})')
    for number, row in enumerate(uncertainty_rows(node), start=1):
        value = 'n/a' if row['max_uncertainty'] is None else f'{row["max_uncertainty"]:.4g}'
        mark = '  -> DFT' if row['triggered'] else ''
        click.echo(f'{number:7d}  {row["pk"]:<9d} {row["steps"] if row["steps"] is not None else "-":>6}  {value:>15s}{mark}')


# -- report ---------------------------------------------------------------------------------------

def load_process(pk: int):
    from aiida import orm

    return load_any(pk, orm.ProcessNode)


def process_name(node) -> str:
    """``sei.label`` for a node of the plugin's processes, else the process label."""
    kind = node.process_type or ''
    return kind.partition(':')[2] if kind.startswith(SEI_PROCESS_TYPES) else node.process_label or '?'


def state_of(node) -> str:
    state = node.process_state.value if node.process_state else 'unknown'
    return f'{state} [{node.exit_status}]' if node.is_finished else state


def echo_header(node) -> None:
    click.echo(f'{process_name(node)}<{node.pk}> {state_of(node)}  {node.ctime:%Y-%m-%d %H:%M:%S}  {node.label or ""}'.rstrip())
    if node.exit_message:
        click.echo(f'  exit message: {node.exit_message}')
    outputs = node.base.links.get_outgoing(link_type=_output_link_types()).all()
    for link in sorted(outputs, key=lambda link: link.link_label):
        click.echo(f'  output {link.link_label.replace("__", ".")}: {describe_output(link.node)}')


def describe_output(node) -> str:
    """One line for an output node: its type and PK, and for a labelled frame its energy."""
    from aiida import orm

    from aiida_sei.data import FrameData

    text = f'{type(node).__name__}<{node.pk}>'
    if isinstance(node, orm.StructureData):
        text += f' {node.get_formula()} ({len(node.sites)} atoms)'
    if isinstance(node, FrameData):
        attributes = node.base.attributes
        text += f' {attributes.get("formula", "")}: {attributes.get("energy_per_atom", float("nan")):.4f} eV/atom'
    return text


def _output_link_types():
    from aiida.common.links import LinkType

    return (LinkType.CREATE, LinkType.RETURN)


def report_active_learning(node) -> None:
    labels = [c for c in node.called if c.process_type == 'aiida.workflows:sei.label']
    click.echo(f'labels: {len(labels)} ({sum(c.is_finished_ok for c in labels)} finished ok)')
    if 'sgp' in node.outputs:
        sgp = node.outputs.sgp
        click.echo(f'SGP: {sgp.n_training_structures} training structures (sei.sgp<{sgp.pk}>)')
    if 'dataset' in node.outputs:
        click.echo(f'dataset: {len(node.outputs.dataset)} frames (sei.dataset<{node.outputs.dataset.pk}>)')
    echo_uncertainty_table(node)


def report_allegro(node) -> None:
    """Errors of the packaged (best) epoch on the training and validation sets."""
    if 'metrics' not in node.outputs:
        click.echo('no metrics yet')
        return
    metrics = node.outputs.metrics.get_dict()
    click.echo(f'epochs: {metrics.get("epochs")}, best (packaged) epoch: {metrics.get("best_epoch")}')
    for split, values in metrics.items():
        if isinstance(values, dict):
            click.echo(f'  {split:10s} ' + '  '.join(f'{name} {value:.4g}' for name, value in values.items() if isinstance(value, (int, float))))


def new_phase_table(summary: dict) -> list[str]:
    """The new phase's orderings beside the paper's numbers (sei.new_phase summary)."""
    paper = summary['paper']
    lines = [f'{"ordering":12s} {"formula":10s} {"mult.":>5s} {"P-Cl (Å)":>8s} {"E_hull (meV/atom)":>17s} {"gap (eV)":>8s}']
    for name, row in summary['orderings'].items():
        lines.append(f'{name:12s} {row["formula"]:10s} {row["multiplicity"]:5d} {row["p_cl_distance"]:8.2f} '
                     f'{row["e_above_hull_meV_per_atom"]:17.1f} {row["band_gap_eV"]:8.2f}')
    lines.append(f'paper (VASP PBE): lowest E_hull {paper["e_above_hull_meV_per_atom"]} meV/atom, gaps '
                 f'{paper["band_gap_eV"][0]}-{paper["band_gap_eV"][1]} eV, Li2S gap {paper["li2s_band_gap_eV"]} eV')
    competing = summary['competing']
    lines.append('competing phases: ' + ', '.join(f'{name} gap {row["band_gap_eV"]:.2f} eV, '
                                                   + ' '.join(f'{k} {v:.3f} Å' for k, v in row['lattice'].items()) for name, row in competing.items()))
    lines.append(f'mixing entropy at {summary["temperature_K"]:.0f} K: T*S {summary["mixing_entropy_meV_per_atom"]:.1f} meV/atom '
                 f'({summary["mixing_entropy_meV_per_formula_unit"]:.1f} meV per formula unit, the paper\'s "~20 meV/atom"); '
                 f'it offsets the lowest E_hull at {summary["offset_temperature_K"]:.0f} K')
    return lines


def diffusivity_lines(diffusivity: dict, paper: dict) -> list[str]:
    """Li D(T) of a sei.new_phase run with a model, its Arrhenius fit and the paper's bound (summary['paper'])."""
    lines = [f'{"T (K)":>6s} {"D (cm^2/s)":>11s} {"± (cm^2/s)":>11s} {"MSD (Å^2)":>10s} {"at (ps)":>8s}']
    for temperature, row in diffusivity['temperatures'].items():
        lines.append(f'{float(temperature):6.0f} {row["D_cm2_s"]:11.2e} {row["D_err_cm2_s"]:11.1e} '
                     f'{row["msd_A2_at_longest_lag"]:10.2f} {row["longest_lag_ps"]:8.1f}')
    fit = diffusivity['arrhenius']
    if fit:
        lines.append(f'Arrhenius: Ea {fit["Ea_eV"]:.2f} ± {fit["Ea_err_eV"]:.2f} eV, D({diffusivity["extrapolate_to_K"]:.0f} K) '
                     f'{fit["D_extrapolated_cm2_s"]:.1e} ± {fit["D_extrapolated_err_cm2_s"]:.1e} cm^2/s, extrapolated '
                     f'(paper, 1,536 atoms at 300 K: <= {paper["li_diffusivity_300K_cm2_s"]:.1e})')
    else:
        lines.append('Arrhenius: fewer than two temperatures with D > 0, no fit')
    return lines


def new_phase_dos(node) -> tuple[dict, dict]:
    """(name -> DOS, name -> gap) of a sei.new_phase run: the orderings, then Li2S."""
    summary = node.outputs.summary.get_dict()
    gaps = {**{name: row['band_gap_eV'] for name, row in summary['orderings'].items()}, 'Li2S': summary['competing']['Li2S']['band_gap_eV']}
    available = node.outputs.dos if 'dos' in node.outputs else {}
    return {name: available[name] for name in gaps if name in available}, gaps


def report_tree_and_log(node) -> None:
    from aiida.cmdline.utils.ascii_vis import format_call_graph
    from aiida.cmdline.utils.common import get_calcjob_report, get_process_function_report, get_workchain_report
    from aiida import orm

    click.echo(format_call_graph(node))
    if isinstance(node, orm.CalcJobNode):
        click.echo(get_calcjob_report(node))
    elif isinstance(node, orm.WorkChainNode):
        click.echo(get_workchain_report(node, levelname='REPORT'))
    else:
        click.echo(get_process_function_report(node))


def report_command(load_profile):
    @click.command('report')
    @click.argument('pk', type=int)
    @click.option('-o', '--output', type=click.Path(file_okay=False, path_type=pathlib.Path), default=None,
                  help='Directory for figures and files (sei.interface: composition.png, dataset, summary; active learning: uncertainty.png).')
    @click.pass_context
    def report(ctx, pk, output):
        """Summary of a run: its outputs, then by kind the interface summary and figures, the
        active-learning labels and uncertainties, the Allegro errors; always the call tree and log."""
        profile = load_profile(ctx)
        node = load_process(pk)
        echo_header(node)
        kind = node.process_type or ''
        if kind == 'aiida.workflows:sei.interface' and node.is_finished_ok:
            output = output or run_folder(node)
            write_interface_outputs(node.outputs, output)
            echo_interface_summary(node, node.outputs.summary.get_dict(), output, profile.name)
        elif kind == 'aiida.workflows:sei.active_learning':
            report_active_learning(node)
            if output is not None:
                output.mkdir(parents=True, exist_ok=True)
                uncertainty_figure(node, output / 'uncertainty.png')
                click.echo(f'written: {output / "uncertainty.png"}')
        elif kind == 'aiida.workflows:sei.allegro.train':
            report_allegro(node)
        elif kind == 'aiida.workflows:sei.new_phase' and node.is_finished_ok:
            click.echo('\n'.join(new_phase_table(node.outputs.summary.get_dict())))
            if 'diffusivity' in node.outputs:
                click.echo('\n'.join(diffusivity_lines(node.outputs.diffusivity.get_dict(), node.outputs.summary['paper'])))
            if output is not None:
                output.mkdir(parents=True, exist_ok=True)
                for path in new_phase_figures(node, output):
                    click.echo(f'written: {path}')
        report_tree_and_log(node)

    return report


# -- status ---------------------------------------------------------------------------------------

def sei_processes(everything: bool, limit: int | None) -> list:
    """The profile's sei.* processes, newest first: the runs launched (no caller), or with
    ``everything`` the processes they called too."""
    from aiida import orm

    filters = {'or': [{'process_type': {'like': f'{prefix}%'}} for prefix in SEI_PROCESS_TYPES]}
    if not everything:
        called = (orm.QueryBuilder().append(orm.ProcessNode, tag='caller')
                  .append(orm.ProcessNode, with_incoming='caller', filters=filters, project='id').all(flat=True))
        if called:
            filters = {'and': [filters, {'id': {'!in': sorted(set(called))}}]}
    builder = orm.QueryBuilder().append(orm.ProcessNode, filters=filters).order_by({orm.ProcessNode: {'ctime': 'desc'}})
    if limit:
        builder.limit(limit)
    return builder.all(flat=True)


def daemon_state(profile) -> str:
    from aiida.engine.daemon.client import DaemonClient

    from aiida_sei.cli.launch import daemon_is_running

    if profile.process_control_backend is None:
        return f'profile `{profile.name}` has no broker: no daemon (run with `aiida-sei launch --run`)'
    client = DaemonClient(profile)
    if not daemon_is_running(profile):
        return f'daemon of profile `{profile.name}`: not running (start: verdi -p {profile.name} daemon start)'
    try:
        workers = client.get_number_of_workers()
    except Exception:  # the daemon can be starting or stopping; its state is still known
        workers = '?'
    return f'daemon of profile `{profile.name}`: running, {workers} worker(s)'


def status_command(load_profile):
    @click.command('status')
    @click.option('-a', '--all', 'everything', is_flag=True, help='Also the processes the runs called (labels, MD segments, ...).')
    @click.option('-l', '--limit', default=20, show_default=True, help='At most this many processes (0: no limit).')
    @click.pass_context
    def status(ctx, everything, limit):
        """The sei.* runs of the profile, newest first, and whether the daemon is running."""
        profile = load_profile(ctx)
        click.echo(daemon_state(profile))
        nodes = sei_processes(everything, limit)
        if not nodes:
            click.echo('no sei.* processes yet (start one: aiida-sei launch --help)')
            return
        click.echo(f'{"PK":>7}  {"process":26s} {"state":18s} {"created":19s}  label')
        for node in nodes:
            exit_status = '' if node.exit_status is None else f' [{node.exit_status}]'
            state = (node.process_state.value if node.process_state else 'unknown') + exit_status
            click.echo(f'{node.pk:>7}  {process_name(node):26s} {state:18s} {node.ctime:%Y-%m-%d %H:%M:%S}  {node.label or ""}'.rstrip())

    return status


# -- plot subcommands -----------------------------------------------------------------------------

def plot_composition_command(load_profile):
    @click.command('composition')
    @click.argument('pk', type=int)
    @click.option('-o', '--output', type=click.Path(dir_okay=False, path_type=pathlib.Path), default='composition.png', show_default=True)
    @click.pass_context
    def plot_composition(ctx, pk, output):
        """Phase fractions vs time (Fig. 4c) of a sei.interface run or a composition series node."""
        from aiida import orm

        load_profile(ctx)
        series = composition_node(load_any(pk, orm.Node))
        last = composition_figure(series, output)
        click.echo(f'composition<{series.pk}>: {len(series.get_array("time"))} frames; last frame: '
                   + ', '.join(f'{label} {value:.3f}' for label, value in sorted(last.items())))
        click.echo(f'written: {output}')

    return plot_composition


def _draw_hull(node, path):
    from aiida_sei.science.plots import hull_figure

    hull_figure(node.outputs.summary.get_dict(), path)


def _draw_dos(node, path):
    from aiida_sei.science.plots import dos_figure

    dos, gaps = new_phase_dos(node)
    dos_figure({name: (data.get_x()[1], data.get_y()[0][1]) for name, data in dos.items()}, gaps, path)


def _draw_arrhenius(node, path):
    from aiida_sei.science.plots import arrhenius_figure

    arrhenius_figure(node.outputs.diffusivity.get_dict(), node.outputs.summary['paper'], path)


def _draw_xrd(node, path):
    from aiida_sei.science.analyses import xrd_pattern
    from aiida_sei.science.new_phase import anion_lattice_parameter
    from aiida_sei.science.plots import xrd_figure

    structures = {name: node.outputs.relaxed[name].get_ase() for name in node.outputs.relaxed}
    patterns = {f'{name}, a {anion_lattice_parameter(atoms):.3f} Å': xrd_pattern(atoms) for name, atoms in structures.items() if name.startswith('ordering_')}
    li2s = structures['Li2S']
    xrd_figure(patterns, xrd_pattern(li2s), path, reference_label=f'Li$_2$S (relaxed), a {anion_lattice_parameter(li2s):.3f} Å')


def _missing_for_hull(node) -> str | None:
    return None if 'summary' in node.outputs else 'is not a finished sei.new_phase run'


def _missing_for_dos(node) -> str | None:
    return _missing_for_hull(node) or (None if new_phase_dos(node)[0] else 'has no `dos` outputs: its relaxations ran before GPAW jobs stored the DOS')


def _missing_for_xrd(node) -> str | None:
    return None if 'relaxed' in node.outputs and 'Li2S' in node.outputs.relaxed else 'has no relaxed structures'


def _missing_for_arrhenius(node) -> str | None:
    return None if 'diffusivity' in node.outputs else 'has no diffusivity (run it with a model: get_builder_from_protocol(..., model=...))'


#: The figures of a sei.new_phase run: name -> (what is missing for it, or None; draw; help).
NEW_PHASE_FIGURES = {
    'hull': (_missing_for_hull, _draw_hull, 'E above the hull and band gap of each ordering of a sei.new_phase run, beside the paper\'s.'),
    'dos': (_missing_for_dos, _draw_dos, 'Kohn-Sham DOS of each ordering of a sei.new_phase run and of Li2S, with their gaps.'),
    'xrd': (_missing_for_xrd, _draw_xrd, 'Simulated XRD (Cu Kα) of each relaxed ordering of a sei.new_phase run over that of relaxed Li2S.'),
    'arrhenius': (_missing_for_arrhenius, _draw_arrhenius,
                  'Li diffusivity against 1/T of a sei.new_phase run with a model: the MD, the fit, the paper\'s 300 K bound.'),
}


def new_phase_figures(node, folder: pathlib.Path) -> list[pathlib.Path]:
    """Every figure the run has the outputs for, written to ``folder``."""
    written = []
    for name, (missing, draw, _) in NEW_PHASE_FIGURES.items():
        if missing(node) is None:
            draw(node, folder / f'{name}.png')
            written.append(folder / f'{name}.png')
    return written


def plot_new_phase_command(load_profile, name: str):
    missing, draw, help_text = NEW_PHASE_FIGURES[name]

    @click.command(name, help=help_text)
    @click.argument('pk', type=int)
    @click.option('-o', '--output', type=click.Path(dir_okay=False, path_type=pathlib.Path), default=f'{name}.png', show_default=True)
    @click.pass_context
    def plot(ctx, pk, output):
        load_profile(ctx)
        node = load_process(pk)
        if node.process_type != 'aiida.workflows:sei.new_phase':
            raise click.ClickException(f'{process_name(node)}<{node.pk}> is not a sei.new_phase run')
        if error := missing(node):
            raise click.ClickException(f'sei.new_phase<{node.pk}> {error}')
        draw(node, output)
        click.echo(f'written: {output}')

    return plot


def plot_uncertainty_command(load_profile):
    @click.command('uncertainty')
    @click.argument('pk', type=int)
    @click.option('-o', '--output', type=click.Path(dir_okay=False, path_type=pathlib.Path), default='uncertainty.png', show_default=True)
    @click.pass_context
    def plot_uncertainty(ctx, pk, output):
        """Maximum uncertainty per MD segment of a sei.active_learning run, against its thresholds."""
        load_profile(ctx)
        node = active_learning_node(load_process(pk))
        if not md_segments(node):
            raise click.ClickException(f'sei.active_learning<{pk}> has run no MD segment yet')
        echo_uncertainty_table(node)
        uncertainty_figure(node, output)
        click.echo(f'written: {output}')

    return plot_uncertainty


def load_any(pk: int, node_type):
    from aiida import orm
    from aiida.common.exceptions import NotExistent

    try:
        node = orm.load_node(pk)
    except NotExistent:
        raise click.ClickException(f'no node with PK {pk}') from None
    if not isinstance(node, node_type):
        raise click.ClickException(f'node {pk} is a {type(node).__name__}, not a {node_type.__name__}')
    return node
