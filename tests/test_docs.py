"""The documentation site (mkdocs.yml, docs/): it builds strictly, its code runs, its commands exist.

Conventions the pages follow:
- every ```python block of an EXECUTED page runs, in page order, in one namespace per page, on
  the test profile (the tutorial twice, in the same folder); a block right after ``<!-- docs-test: skip ... -->`` is not run (the test
  does the equivalent itself, e.g. the profile setup). The blocks' ``assert`` lines are the checks.
- the python blocks of a SCRIPTS page, joined, run as a fresh script (`python page.py`) in a new
  AiiDA configuration where `aiida-sei setup` ran: what a reader who copies them does.
- every other ```python block must at least compile.
- in ```bash blocks (docs pages and README.md), `aiida-sei ...`, `verdi ...` and `make ...` must name existing commands.
"""

from __future__ import annotations

import itertools
import json
import pathlib
import re
import shlex
import subprocess
import sys
from html import escape

import click
import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / 'docs'
EXECUTED = ('tutorial.md',)
#: Pages whose python blocks, together, run as a fresh script on a profile `aiida-sei setup` made.
SCRIPTS = ('index.md',)
#: Pages run more than once in the same folder (what a reader does who tries them again).
RUNS = {'tutorial.md': 2}
SKIP_MARKER = '<!-- docs-test: skip'
FENCE = re.compile(r'^```(\w*)\s*$')
SHELL_LANGUAGES = ('bash', 'sh', 'shell', 'console')
CHECKED_COMMANDS = ('aiida-sei', 'verdi', 'make')
SEPARATORS = ('&&', '||', ';', '|')
REDIRECTION = re.compile(r'\d*[<>]|&')


def nav_pages() -> list[str]:
    """Every page of the mkdocs.yml nav, in order."""
    def walk(entries):
        for entry in entries:
            value = next(iter(entry.values())) if isinstance(entry, dict) else entry
            yield from walk(value) if isinstance(value, list) else [value]

    return list(walk(yaml.safe_load((ROOT / 'mkdocs.yml').read_text())['nav']))


def fenced_blocks(page: pathlib.Path) -> list[dict]:
    """The fenced code blocks of a page: language, code, first line number, skip marker."""
    blocks, current, previous = [], None, ''
    for number, line in enumerate(page.read_text().splitlines(), start=1):
        match = FENCE.match(line)
        if current is None and match:
            current = {'language': match.group(1), 'lines': [], 'line': number + 1,
                       'skip': previous.startswith(SKIP_MARKER)}
        elif current is not None and line.startswith('```'):
            blocks.append({**current, 'code': '\n'.join(current.pop('lines'))})
            current = None
        elif current is not None:
            current['lines'].append(line)
        if line.strip():
            previous = line.strip()
    assert current is None, f'{page.name}: unclosed code fence opened at line {current["line"] - 1}'
    return blocks


def doc_pages() -> list[pathlib.Path]:
    """The docs pages and the README, whose code blocks are checked too."""
    return [*sorted(DOCS.glob('*.md')), ROOT / 'README.md']


# --- the site --------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def site(tmp_path_factory):
    """The site built as `make docs` builds it (strict: any warning fails the build)."""
    site_dir = tmp_path_factory.mktemp('site')
    mkdocs = pathlib.Path(sys.executable).parent / 'mkdocs'
    result = subprocess.run([str(mkdocs), 'build', '--strict', '--site-dir', str(site_dir)],
                            cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    return site_dir


def page_html(site_dir: pathlib.Path, page: str) -> pathlib.Path:
    return site_dir / ('index.html' if page == 'index.md' else f'{page[:-3]}/index.html')


def test_strict_build_has_every_nav_page(site):
    pages = nav_pages()
    assert {'index.md', 'tutorial.md', 'benchmarks.md', *EXECUTED} <= set(pages)
    for page in pages:
        html = page_html(site, page)
        assert html.is_file(), f'{page} is in the nav but {html.relative_to(site)} was not built'
        title = page_title(DOCS / page)
        assert title in html.read_text(), f'{page}: its title `{title}` is not in the built page'


def page_title(page: pathlib.Path) -> str:
    """The first `# ` heading of a page (what the built page must show)."""
    heading = next(line for line in page.read_text().splitlines() if line.startswith('# '))
    return heading[2:].strip().split('`')[0].split(':')[0].strip()


def test_benchmarks_page_quotes_every_result(site):
    """Each number of every results file sits in its own table row, beside its name."""
    sys.path.insert(0, str(ROOT / 'tools'))
    from mkdocs_hooks import flatten, format_value

    html = page_html(site, 'benchmarks.md').read_text()
    results = sorted((ROOT / 'benchmarks' / 'results').glob('*.json'))
    assert results
    for path in results:
        assert f'benchmarks/results/{path.name}' in html
        section = html.split(f'id="{path.stem}"', 1)[1].split('<h2', 1)[0]
        for key, value in flatten(json.loads(path.read_text())):
            row = f"<td>{escape(key, quote=False)}</td>\n<td>{escape(format_value(value), quote=False)}</td>"
            assert row in section, f'{path.name}: `{key}` = {value} is not on the Benchmarks page'


# --- code blocks -----------------------------------------------------------------------------
def test_every_python_block_compiles():
    count = 0
    for page in doc_pages():
        for block in fenced_blocks(page):
            if block['language'] == 'python':
                compiled(page, block)
                count += 1
    assert count > 0


@pytest.fixture(scope='module')
def local_setup(aiida_profile, tmp_path_factory):
    """What `ensure_profile()` adds to a profile (computer `localhost` and the local codes), done
    on the test profile instead of creating the real `sei` profile."""
    from aiida_sei.profile import ensure_local_codes, ensure_localhost

    def quiet(_):
        pass

    ensure_local_codes(ensure_localhost(tmp_path_factory.mktemp('scratch'), quiet), quiet)


def compiled(page: pathlib.Path, block: dict):
    """The block compiled so that tracebacks point at its lines in the page."""
    return compile('\n' * (block['line'] - 1) + block['code'], str(page), 'exec')


@pytest.mark.parametrize('page', EXECUTED)
def test_executed_page_runs_and_its_assertions_hold(page, local_setup, tmp_path, monkeypatch, capsys):
    blocks = [block for block in fenced_blocks(DOCS / page) if block['language'] == 'python']
    runnable = [block for block in blocks if not block['skip']]
    assert runnable, f'{page} is executed but has no runnable python block'
    monkeypatch.chdir(tmp_path)  # files the page writes (archives) land here
    for _ in range(RUNS.get(page, 1)):  # the tutorial twice: a reader runs it again in the same folder
        namespace = {'__name__': f'docs_{page[:-3]}'}
        for block in runnable:
            exec(compiled(DOCS / page, block), namespace)
    assert capsys.readouterr().out.strip(), f'{page} printed nothing for the reader to compare'


@pytest.mark.parametrize('page', SCRIPTS)
def test_page_runs_as_a_fresh_script(page, tmp_path):
    from tests.conftest import command_runner

    run = command_runner(tmp_path / 'config', tmp_path)
    run('aiida-sei', 'setup')
    blocks = [block['code'] for block in fenced_blocks(DOCS / page) if block['language'] == 'python']
    (tmp_path / 'page.py').write_text('\n\n'.join(blocks) + '\n')
    result = run('python', 'page.py')
    assert result.stdout.strip(), f'{page} printed nothing for the reader to compare'


# --- shell commands --------------------------------------------------------------------------
def makefile_targets() -> set[str]:
    text = (ROOT / 'Makefile').read_text()
    return set(re.findall(r'^([A-Za-z0-9_.-]+)\s*:(?!=)', text, flags=re.MULTILINE))


def shell_commands(code: str):
    """Each simple command of a shell block as a token list (comments, prompts and
    continuations handled; placeholders such as <pk> stay tokens)."""
    for line in code.replace('\\\n', ' ').splitlines():
        lexer = shlex.shlex(line.strip().removeprefix('$ '), posix=True, punctuation_chars=';&')
        lexer.whitespace_split = True  # keeps `<pk>` and `list|show` whole; `|` alone is a pipe
        tokens = list(lexer)
        command = []
        for token in tokens + [';']:
            if token in SEPARATORS:
                if command:
                    yield command
                command = []
            else:
                command.append(token)


def click_group(program: str) -> click.Group:
    if program == 'aiida-sei':
        from aiida_sei.cli import cli
        return cli
    from aiida.cmdline.commands.cmd_verdi import verdi
    return verdi


def subcommand(group: click.Group, context: click.Context, name: str) -> click.Command | None:
    try:
        return group.get_command(context, name)
    except click.UsageError:  # verdi fails with suggestions instead of returning None
        return None


def unknown_subcommand(group: click.Group, arguments: list[str]) -> str | None:
    """Walk ``arguments`` down ``group``; the first word that names no subcommand, or None."""
    command, context, position = group, click.Context(group, info_name=group.name), 0
    while isinstance(command, click.Group) and position < len(arguments):
        word = arguments[position]
        if word.startswith('-'):
            option = next((p for p in command.params if word in getattr(p, 'opts', ())), None)
            takes_value = option is not None and not (option.is_flag or option.count)
            position += 2 if takes_value and '=' not in word else 1
            continue
        if '|' in word:  # `list|show|export`: the page's notation for alternatives
            return next((w for w in word.split('|') if subcommand(command, context, w) is None), None)
        found = subcommand(command, context, word)
        if found is None:
            return word
        command, context, position = found, click.Context(found, parent=context, info_name=word), position + 1
    return None


def test_shell_blocks_name_existing_commands():
    targets, problems, checked = makefile_targets(), [], 0
    for page in doc_pages():
        for block in fenced_blocks(page):
            if block['language'] not in SHELL_LANGUAGES:
                continue
            for tokens in shell_commands(block['code']):
                program, arguments = pathlib.Path(tokens[0]).name, tokens[1:]
                if program not in CHECKED_COMMANDS:
                    continue
                checked += 1
                where = f'{page.name}:{block["line"]}: {" ".join(tokens)}'
                if program == 'make':
                    words = itertools.takewhile(lambda word: not REDIRECTION.match(word), arguments)
                    missing = [word for word in words if not word.startswith('-') and '=' not in word and word not in targets]
                    problems += [f'{where}: no Makefile target `{word}`' for word in missing]
                elif (word := unknown_subcommand(click_group(program), arguments)) is not None:
                    problems.append(f'{where}: `{program}` has no subcommand `{word}`')
    assert checked > 0
    assert not problems, '\n'.join(problems)
