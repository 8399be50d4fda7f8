"""MkDocs hook: the Benchmarks page's tables are generated at build time from
``benchmarks/results/*.json``, so the page always quotes what the scripts last measured."""

from __future__ import annotations

import json
import pathlib

RESULTS = pathlib.Path(__file__).resolve().parents[1] / 'benchmarks' / 'results'
PAGE = 'benchmarks.md'
PLACEHOLDER = '<!-- benchmark-tables -->'


def flatten(value, prefix: str = ''):
    """(path, leaf) pairs of a JSON value; lists of scalars stay one leaf."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from flatten(item, f'{prefix} / {key}' if prefix else str(key))
    elif isinstance(value, list) and any(isinstance(item, (dict, list)) for item in value):
        for number, item in enumerate(value):
            yield from flatten(item, f'{prefix} [{number}]')
    else:
        yield prefix, value


def format_value(value) -> str:
    if isinstance(value, float):
        return f'{value:.4g}'
    if isinstance(value, list):
        return ', '.join(format_value(item) for item in value)
    return '–' if value is None else str(value)


def script_of(result: pathlib.Path) -> pathlib.Path | None:
    """The benchmark script that writes ``result``: same name, or a prefix of it
    (``active_learning.py`` writes ``active_learning_chgnet.json``)."""
    for script in sorted(RESULTS.parent.glob('*.py'), key=lambda path: -len(path.stem)):
        if result.stem == script.stem or result.stem.startswith(script.stem + '_'):
            return script
    return None


def pages_quoting(paths: list[str], docs_dir: pathlib.Path) -> list[str]:
    """Docs pages that mention any of ``paths``."""
    pages = [page for page in sorted(docs_dir.glob('*.md')) if page.name != PAGE]
    return [page.name for page in pages if any(path in page.read_text() for path in paths)]


def result_section(result: pathlib.Path, docs_dir: pathlib.Path) -> str:
    script = script_of(result)
    paths = [f'benchmarks/results/{result.name}'] + ([f'benchmarks/{script.name}'] if script else [])
    source = ' → '.join(f'`{path}`' for path in reversed(paths))
    quoted = pages_quoting(paths, docs_dir)
    if quoted:
        source += ' (discussed in ' + ', '.join(f'[{page[:-3]}]({page})' for page in quoted) + ')'
    lines = [f'## {result.stem}', '', source, '', '| quantity | value |', '|---|---|']
    for key, value in flatten(json.loads(result.read_text())):
        lines.append(f'| {key} | {format_value(value)} |'.replace('\n', ' '))
    return '\n'.join(lines) + '\n'


def benchmark_tables(docs_dir: pathlib.Path) -> str:
    return '\n'.join(result_section(path, docs_dir) for path in sorted(RESULTS.glob('*.json')))


def on_page_markdown(markdown, page, config, files):
    if page.file.src_uri != PAGE:
        return markdown
    return markdown.replace(PLACEHOLDER, benchmark_tables(pathlib.Path(config['docs_dir'])))
