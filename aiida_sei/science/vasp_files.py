"""What a VASP output file says about itself before its frames are trusted: whether it is
complete, whether each ionic step's SCF converged, whether every atom has a force, and the
settings that labelled it (for a settings hash, so frames of different settings never merge).

ASE reads the frames; this module reads what ASE does not check. No AiiDA here.
"""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

#: INCAR/parameter tags that change the level of theory (what a settings hash is made of).
THEORY_TAGS = ('ENCUT', 'PREC', 'GGA', 'METAGGA', 'LHFCALC', 'HFSCREEN', 'IVDW', 'ISMEAR', 'SIGMA', 'ISPIN', 'LASPH', 'ADDGRID', 'EDIFF')


@dataclasses.dataclass
class VaspRun:
    """What a vasprun.xml or OUTCAR says about its own ionic steps and settings."""

    complete: bool                 # the file ends where VASP ends it (not cut off mid-run)
    converged: list[bool]          # per ionic step that finished: its SCF stopped before NELM
    force_rows: list[int]          # per ionic step: rows of its force block (vasprun.xml)
    n_atoms: int | None
    settings: dict                 # version, the THEORY_TAGS found, kpoints, potcars


def is_vasp_file(path) -> str | None:
    """'vasp-xml' or 'vasp-out' when the content is a vasprun.xml or an OUTCAR, whatever the name."""
    with open(path, 'rb') as handle:
        head = handle.read(4096).decode('latin-1')
    if '<modeling>' in head and '<generator>' in head:
        return 'vasp-xml'
    if re.search(r'^\s*vasp\.\d', head, re.M) and ('POTCAR:' in head or 'running on' in head):
        return 'vasp-out'
    return None


def inspect_vasprun(path) -> VaspRun:
    """Walk vasprun.xml once (iterparse, so a cut-off file is read up to where it stops)."""
    run = VaspRun(complete=True, converged=[], force_rows=[], n_atoms=None, settings={})
    parameters: dict = {}
    incar: dict = {}
    try:
        for _, element in ET.iterparse(path, events=('end',)):
            tag = element.tag
            if tag == 'generator':
                run.settings['version'] = _text(element.find("i[@name='version']"))
            elif tag == 'incar':
                incar = {item.get('name').upper(): _text(item) for item in element.iter('i')}
            elif tag == 'parameters':
                parameters = {item.get('name').upper(): _text(item) for item in element.iter('i')}
            elif tag == 'kpoints' and 'kpoints' not in run.settings:
                run.settings['kpoints'] = _kpoints(element)
            elif tag == 'atominfo':
                run.n_atoms = int(_text(element.find('atoms')))
                run.settings['potcars'] = [_text(row[-1]) for row in element.findall("array[@name='atomtypes']/set/rc")]
            elif tag == 'calculation':
                nelm = int(float(parameters.get('NELM', incar.get('NELM', 60))))
                run.converged.append(len(element.findall('scstep')) < nelm)
                forces = element.find("varray[@name='forces']")
                run.force_rows.append(len(forces) if forces is not None else 0)
                element.clear()  # long MD runs: keep memory flat
    except ET.ParseError:
        run.complete = False
    tags = {**parameters, **incar}
    if 'ENCUT' not in tags and 'ENMAX' in parameters:
        tags['ENCUT'] = parameters['ENMAX']
    run.settings.update(_theory(tags))
    return run


def inspect_outcar(path) -> VaspRun:
    with open(path, encoding='latin-1') as handle:
        text = handle.read()
    nelm = int(_search(r'NELM\s*=\s*(\d+)', text) or 60)
    scf: dict[int, int] = {}
    for ionic, electronic in re.findall(r'Iteration\s+(\d+)\(\s*(\d+)\)', text):
        scf[int(ionic)] = max(scf.get(int(ionic), 0), int(electronic))
    finished = text.count('TOTAL-FORCE')  # the force block closes an ionic step
    tags = {tag: _search(rf'\b{tag}\s*=\s*([^\s;]+)', text) for tag in THEORY_TAGS}
    settings = {'version': _search(r'^\s*vasp\.(\S+)', text), **_theory({k: v for k, v in tags.items() if v is not None}),
                'kpoints': {'count': int(_search(r'NKPTS\s*=\s*(\d+)', text) or 0)}, 'potcars': list(dict.fromkeys(re.findall(r'POTCAR:\s*(.+?)\s*$', text, re.M)))}
    ions = _search(r'NIONS\s*=\s*(\d+)', text)
    return VaspRun(complete='General timing and accounting' in text, converged=[scf.get(step, 0) < nelm for step in range(1, finished + 1)],
                   force_rows=[], n_atoms=int(ions) if ions else None, settings=settings)


def inspect(path, fmt: str) -> VaspRun | None:
    """The inspection for ``fmt`` ('vasp-xml', 'vasp-out'); None for other formats."""
    return {'vasp-xml': inspect_vasprun, 'vasp-out': inspect_outcar}.get(fmt, lambda _: None)(path)


def _theory(tags: dict) -> dict:
    return {tag: _number(tags[tag]) for tag in THEORY_TAGS if tag in tags and tags[tag] not in (None, '')}


def _kpoints(element) -> dict:
    generation = element.find('generation')
    if generation is not None and generation.find("v[@name='divisions']") is not None:
        return {'mesh': [int(x) for x in _text(generation.find("v[@name='divisions']")).split()], 'style': generation.get('param')}
    kpoints = element.find("varray[@name='kpointlist']")
    return {'count': len(kpoints) if kpoints is not None else None}


def _text(element) -> str:
    return (element.text or '').strip() if element is not None else ''


def _search(pattern: str, text: str) -> str | None:
    match = re.search(pattern, text, re.M)
    return match.group(1) if match else None


def _number(value):
    """A tag's value as VASP means it: a number (float, so 400 and 400.0 hash alike) or an upper-case word."""
    try:
        return float(value)
    except (TypeError, ValueError):
        return value.strip().upper() if isinstance(value, str) else value
