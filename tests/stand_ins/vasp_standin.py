#!/usr/bin/env python
"""Stand-in for the VASP executable (``vasp_std``), for tests where VASP cannot run.

THIS IS NOT VASP. It lets the real aiida-vasp code path (``VaspCalculation`` -> ``vasp.vasp``
parser -> ``VaspWorkChain`` handlers) run end to end on a machine without a VASP licence. Set it
up as the executable of an ``InstalledCode`` whose default plugin is ``vasp.vasp``; AiiDA runs it
in the calculation's working directory, where aiida-vasp has written INCAR, POSCAR, KPOINTS and
POTCAR (the fake POTCARs of ``make_fake_potcars.py``: only TITEL and ZVAL are read from them).

What it does:

1. reads POSCAR (ASE), INCAR and KPOINTS (parsevasp), POTCAR headers (TITEL, ZVAL);
2. computes energy, forces and stress of the structure with a real ASE calculator, chosen by the
   environment variable ``SEI_STANDIN_CALCULATOR``:

   * ``gpaw`` (default): GPAW plane waves, PBE, cutoff = ENCUT of the INCAR capped at 400 eV
     (400 eV when ENCUT is absent), k-mesh of KPOINTS (Gamma-centred for ``Gamma``, ASE's
     Monkhorst-Pack otherwise; KSPACING/KGAMMA when there is no KPOINTS), smearing from
     ISMEAR/SIGMA (0 -> Gaussian = Methfessel-Paxton order 0, N>0 -> Methfessel-Paxton order N,
     -1 -> Fermi-Dirac, -4/-5 -> tetrahedron), ISPIN=2 -> spin-polarised with MAGMOM, NBANDS if
     given; GPAW's own PAW setups (so NELECT is GPAW's valence count, e.g. 1 for Li, not the
     POTCAR's ZVAL); GPAW's text output goes to ``gpaw.txt``;
   * ``lj``: ``ase.calculators.lj.LennardJones(sigma=2.5, epsilon=0.01, rc=6.0)``, fast; no
     eigenvalues (the vasprun.xml then has no <eigenvalues>/<dos>); NELECT = sum of POTCAR ZVALs.

   With NSW > 0 and IBRION 1, 2 or 3 it relaxes with ASE (BFGS for IBRION 1/2, FIRE for 3;
   ISIF 3 -> positions + cell, ISIF 4 -> positions + cell shape at constant volume, otherwise
   positions only; stop when max force < |EDIFFG| for EDIFFG < 0, or energy change < EDIFFG,
   at most NSW ionic steps, as VASP). Anything else (IBRION -1, 0, 5-8, ...) is a single point;
3. writes, in VASP 6 formats (version string 6.4.2): ``vasprun.xml`` (generator, incar, kpoints,
   parameters incl. NELM/NSW/IBRION/ISPIN/NBANDS, atominfo, initialpos, one <calculation> per ionic
   step with <scstep>s, structure, forces, stress (if ISIF > 0), energy, then eigenvalues and a
   total DOS with efermi when the calculator has them, finalpos), ``OUTCAR`` (parameter echo with
   NSW/IBRION/NELM/NBANDS=, ``Iteration N( M)`` blocks, stress ``in kB`` line, TOTAL-FORCE block,
   energies, timing and accounting block), ``CONTCAR``, the stdout ``vasp_output`` (aiida-vasp
   joins stdout and stderr into it) and, if LWAVE/LCHARG are not .FALSE. (VASP's default), small
   placeholder ``WAVECAR``/``CHGCAR`` files so that aiida-vasp's restart logic sees them.

Units and signs are VASP's: energies eV, forces eV/Angstrom (Cartesian), stress in kBar with
VASP's sign (positive = compressive, the cell wants to expand), i.e.
``stress_vasp_kB = -stress_ase / ase.units.GPa * 10`` and back ``stress_ase = -0.1 * GPa * stress_vasp``
(what ase.io.vasp does). Energies in <energy>: ``e_fr_energy`` = free energy (ASE
``force_consistent=True``), ``e_0_energy`` = energy(sigma->0) (ASE default), ``e_wo_entrp`` =
2 * e_0 - e_fr (exact for Gaussian smearing; all three equal for LJ).

Self-consistency is imitated: the number of SCF steps is GPAW's iteration count (10 for LJ)
clamped to [NELMIN, NELM - 1], the <scstep> energies converge onto the final energy.

Failure modes, environment variable ``SEI_STANDIN_FAIL``:

* ``scf``: an electronically non-converged run: every ionic step uses exactly NELM SCF steps
  (``Iteration 1(NELM)`` in OUTCAR, NELM <scstep>s in vasprun.xml, last SCF change > EDIFF) and
  stdout carries a WARNING box; the run otherwise finishes normally (timing block, closed XML).
  aiida-vasp 5.1 then reports ``run_status.electronic_converged = False`` and the calculation
  exits 701 ERROR_ELECTRONIC_NOT_CONVERGED. If ``SEI_STANDIN_FAIL_UNLESS_NELM_GE=N`` is also
  set, the run converges normally when the INCAR's NELM >= N (to test restart handlers that
  raise NELM, e.g. VaspWorkChain's handler_electronic_conv sets NELM = 150);
* ``crash``: writes the stdout with a VASP-style error box and a truncated OUTCAR (no
  iterations, no timing), no vasprun.xml and no CONTCAR, and exits with status 1.

Run it by hand in a folder with INCAR/POSCAR/KPOINTS: ``python vasp_standin.py``.
"""

from __future__ import annotations

import datetime
import math
import os
import re
import resource
import sys
import time
from pathlib import Path

import numpy as np

VASP_VERSION = '6.4.2'
VERSION_LINE = f'vasp.{VASP_VERSION} 20Jul23 (build Jan 01 2024 00:00:00) complex  [aiida-sei stand-in, not VASP]'
LJ_PARAMETERS = {'sigma': 2.5, 'epsilon': 0.01, 'rc': 6.0}
ENCUT_CAP = 400.0


# ----------------------------------------------------------------------------------------- inputs
def read_incar(path='INCAR') -> dict:
    """INCAR as a dict with lowercase keys (parsevasp, tag validation off)."""
    from parsevasp.incar import Incar  # noqa: PLC0415

    if not Path(path).exists():
        return {}
    return {key.lower(): value for key, value in Incar(file_path=path, validate_tags=False).get_dict().items()}


def read_kpoints(path='KPOINTS') -> dict | None:
    """KPOINTS as parsevasp's dict (mode, centering, divisions, shifts, points), None if absent."""
    from parsevasp.kpoints import Kpoints  # noqa: PLC0415

    if not Path(path).exists():
        return None
    return Kpoints(file_path=path).get_dict()


def read_potcar_headers(path='POTCAR') -> list[dict]:
    """TITEL and ZVAL of each dataset in the (concatenated) POTCAR, in order; [] if absent."""
    if not Path(path).exists():
        return []
    text = Path(path).read_text(encoding='utf8', errors='replace')
    titles = re.findall(r'TITEL\s*=\s*(.+)', text)
    zvals = [float(value) for value in re.findall(r'ZVAL\s*=\s*([-0-9.]+)', text)]
    return [{'titel': title.strip(), 'zval': zval} for title, zval in zip(titles, zvals)]


def expand_vasp_list(value, count: int, default: float) -> list[float]:
    """Expand a VASP list tag such as MAGMOM = '2*1.0 0.5' to ``count`` floats."""
    if value is None:
        return [default] * count
    if isinstance(value, (int, float)):
        return [float(value)] * count
    items = value if isinstance(value, (list, tuple)) else str(value).split()
    result = []
    for item in items:
        if isinstance(item, str) and '*' in item:
            repeat, number = item.split('*')
            result.extend([float(number)] * int(repeat))
        else:
            result.append(float(item))
    return (result + [default] * count)[:count]


def as_bool(value, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().strip('.').upper().startswith('T')


class Settings:
    """The INCAR tags the stand-in uses, with VASP's defaults."""

    def __init__(self, incar: dict, natoms: int):
        self.incar = incar
        self.nsw = int(incar.get('nsw', 0))
        self.ibrion = int(incar.get('ibrion', -1 if self.nsw in (0, 1) else 0))
        self.isif = int(incar.get('isif', 0 if self.ibrion == 0 else 2))
        self.nelm = int(incar.get('nelm', 60))
        self.nelmin = int(incar.get('nelmin', 2))
        self.nelmdl = int(incar.get('nelmdl', -5))
        self.ediff = float(incar.get('ediff', 1e-4))
        self.ediffg = float(incar.get('ediffg', 10 * self.ediff))
        self.ismear = int(incar.get('ismear', 1))
        self.sigma = float(incar.get('sigma', 0.2))
        self.ispin = int(incar.get('ispin', 1))
        self.encut = incar.get('encut')
        self.prec = str(incar.get('prec', 'Normal'))
        self.algo = str(incar.get('algo', 'Normal'))
        self.potim = float(incar.get('potim', 0.5))
        self.nbands = incar.get('nbands')
        self.magmom = expand_vasp_list(incar.get('magmom'), natoms, 1.0)
        self.lwave = as_bool(incar.get('lwave'), True)
        self.lcharg = as_bool(incar.get('lcharg'), True)
        self.system = str(incar.get('system', 'unknown system'))
        self.relax = self.nsw > 0 and self.ibrion in (1, 2, 3)


# ------------------------------------------------------------------------------------ calculators
def kpoint_mesh(atoms, kpoints: dict | None, incar: dict):
    """Return (gpaw kpts argument, description dict for the outputs)."""
    if kpoints is None or kpoints.get('mode') == 'automatic' and not kpoints.get('divisions'):
        spacing = float(incar.get('kspacing', 0.5))
        gamma = as_bool(incar.get('kgamma'), True)
        reciprocal = atoms.cell.reciprocal() * 2 * np.pi
        divisions = [max(1, math.ceil(np.linalg.norm(vector) / spacing)) for vector in reciprocal]
        return {'size': divisions, 'gamma': gamma}, {
            'mode': 'automatic',
            'divisions': divisions,
            'gamma': gamma,
            'shifts': [0.0, 0.0, 0.0],
        }
    mode = kpoints.get('mode')
    if mode == 'automatic':
        divisions = [int(value) for value in kpoints['divisions']]
        gamma = str(kpoints.get('centering', 'Gamma')).lower().startswith('g')
        shifts = [float(value) for value in (kpoints.get('shifts') or [0.0, 0.0, 0.0])]
        kpts = {'size': divisions, 'gamma': True} if gamma else {'size': divisions}
        return kpts, {'mode': 'automatic', 'divisions': divisions, 'gamma': gamma, 'shifts': shifts}
    if mode == 'explicit':
        points = np.array([point[0] for point in kpoints['points']], dtype=float)
        if not all(point[2] for point in kpoints['points']):  # Cartesian: convert to direct
            points = points @ atoms.cell.T / (2 * np.pi)
        weights = np.array([point[1] for point in kpoints['points']], dtype=float)
        return points, {'mode': 'explicit', 'points': points, 'weights': weights / weights.sum()}
    raise ValueError(f'KPOINTS mode {mode!r} is not supported by the stand-in')


def make_calculator(name: str, settings: Settings, kpts, atoms):
    if name == 'lj':
        from ase.calculators.lj import LennardJones  # noqa: PLC0415

        return LennardJones(**LJ_PARAMETERS)
    if name != 'gpaw':
        raise ValueError(f'SEI_STANDIN_CALCULATOR={name!r}: use gpaw or lj')
    from gpaw import GPAW, PW  # noqa: PLC0415

    encut = min(float(settings.encut), ENCUT_CAP) if settings.encut is not None else ENCUT_CAP
    if settings.ismear == 0:
        occupations = {'name': 'methfessel-paxton', 'width': settings.sigma, 'order': 0}
    elif settings.ismear > 0:
        occupations = {'name': 'methfessel-paxton', 'width': settings.sigma, 'order': settings.ismear}
    elif settings.ismear == -1:
        occupations = {'name': 'fermi-dirac', 'width': settings.sigma}
    else:
        occupations = {'name': 'improved-tetrahedron-method'}
    kwargs = {
        'mode': PW(encut),
        'xc': 'PBE',
        'kpts': kpts,
        'occupations': occupations,
        'txt': 'gpaw.txt',
    }
    if settings.ispin == 2:
        kwargs['spinpol'] = True
        atoms.set_initial_magnetic_moments(settings.magmom)
    if settings.nbands is not None:
        kwargs['nbands'] = int(settings.nbands)
    return GPAW(**kwargs)


def evaluate(atoms, calc_name: str, settings: Settings) -> dict:
    """Energies, forces and stress (VASP units/sign) of ``atoms`` with its attached calculator."""
    from ase.units import GPa  # noqa: PLC0415

    energy_0 = float(atoms.get_potential_energy())
    try:
        energy_free = float(atoms.get_potential_energy(force_consistent=True))
    except Exception:  # noqa: BLE001 - calculators without a free energy
        energy_free = energy_0
    forces = np.array(atoms.get_forces())
    stress_kb = None
    if settings.isif > 0 and all(atoms.pbc):
        voigt = -np.array(atoms.get_stress(voigt=True)) / GPa * 10.0  # xx yy zz yz xz xy, VASP sign
        stress_kb = np.array(
            [
                [voigt[0], voigt[5], voigt[4]],
                [voigt[5], voigt[1], voigt[3]],
                [voigt[4], voigt[3], voigt[2]],
            ]
        )
    magmom = 0.0
    if settings.ispin == 2:
        try:
            magmom = float(atoms.get_magnetic_moment())
        except Exception:  # noqa: BLE001 - calculators without magnetic moments
            magmom = 0.0
    iterations = 10
    if calc_name == 'gpaw':
        try:
            iterations = int(atoms.calc.get_number_of_iterations())
        except Exception:  # noqa: BLE001
            iterations = 10
    return {
        'cell': np.array(atoms.cell),
        'scaled_positions': atoms.get_scaled_positions(wrap=False),
        'positions': atoms.get_positions(),
        'energy_free': energy_free,
        'energy_0': energy_0,
        'energy_wo': 2.0 * energy_0 - energy_free,
        'forces': forces,
        'stress_kb': stress_kb,
        'iterations': iterations,
        'magmom': magmom,
    }


def electronic_structure(calc, calc_name: str):
    """IBZ k-points, weights, eigenvalues [spin][k][band], occupations (0..1), E_F, nbands, nelect."""
    if calc_name != 'gpaw':
        return None
    nspins = calc.get_number_of_spins()
    kpts = np.array(calc.get_ibz_k_points())
    weights = np.array(calc.get_k_point_weights())
    eigen = np.zeros((nspins, len(kpts), calc.get_number_of_bands()))
    occ = np.zeros_like(eigen)
    for spin in range(nspins):
        for k in range(len(kpts)):
            eigen[spin, k] = calc.get_eigenvalues(kpt=k, spin=spin)
            try:
                # raw=True: 0..1 per state. Without it GPAW 26.7 scales its internal occupation array
                # in place (occ_n *= weight), which corrupts a stress computed afterwards.
                occ[spin, k] = np.array(calc.get_occupation_numbers(kpt=k, spin=spin, raw=True))
            except TypeError:  # older GPAW without ``raw``
                occ[spin, k] = calc.get_occupation_numbers(kpt=k, spin=spin) / (weights[k] * (2.0 / nspins))
    return {
        'kpoints': kpts,
        'weights': weights / weights.sum(),
        'eigenvalues': eigen,
        'occupations': np.clip(occ, 0.0, 1.0),
        'efermi': float(calc.get_fermi_level()),
        'nbands': int(calc.get_number_of_bands()),
        'nelect': float(calc.get_number_of_electrons()),
    }


def full_mesh(description: dict):
    """k-points and weights without symmetry (used when the calculator has no k-points)."""
    if description['mode'] == 'explicit':
        return description['points'], description['weights']
    divisions = description['divisions']
    grids = []
    for n, shift in zip(divisions, description['shifts']):
        offset = 0.0 if description['gamma'] or n % 2 else 0.5
        grids.append([((i + offset + shift) / n + 0.5) % 1.0 - 0.5 for i in range(n)])
    points = np.array([[a, b, c] for c in grids[2] for b in grids[1] for a in grids[0]])
    return points, np.full(len(points), 1.0 / len(points))


def scf_energies(final: float, nsteps: int, ediff: float, natoms: int, converged: bool) -> list[float]:
    """A plausible sequence of SCF energies ending on ``final`` (converged) or off by > EDIFF."""
    start = 5.0 * max(natoms, 1)
    if converged:
        if nsteps == 1:
            return [final]
        ratio = (0.05 * ediff / start) ** (1.0 / (nsteps - 1))
        values = [final + start * ratio**k for k in range(nsteps)]
        values[-1] = final
        return values
    floor = 20.0 * ediff
    return [final + max(start * 0.5**k, floor) * (1 if k % 2 == 0 else -1) for k in range(nsteps)]


# ---------------------------------------------------------------------------------------- writers
def fmt_vec(values, width=16, prec=8) -> str:
    return ''.join(f'{float(value):{width}.{prec}f}' for value in values)


def xml_varray(name: str, rows, indent: str, prec: int = 8) -> list[str]:
    lines = [f'{indent}<varray name="{name}" >']
    lines += [f'{indent} <v>{fmt_vec(row, 16, prec)} </v>' for row in rows]
    lines.append(f'{indent}</varray>')
    return lines


def xml_structure(cell, scaled_positions, indent: str, name: str | None = None) -> list[str]:
    cell = np.asarray(cell)
    head = f'{indent}<structure name="{name}" >' if name else f'{indent}<structure>'
    lines = [head, f'{indent} <crystal>']
    lines += xml_varray('basis', cell, indent + '  ')
    lines.append(f'{indent}  <i name="volume">{abs(np.linalg.det(cell)):16.8f} </i>')
    lines += xml_varray('rec_basis', np.linalg.inv(cell).T, indent + '  ')
    lines.append(f'{indent} </crystal>')
    lines += xml_varray('positions', scaled_positions, indent + ' ')
    lines.append(f'{indent}</structure>')
    return lines


def xml_i(name: str, value, indent: str, kind: str | None = None) -> str:
    if kind == 'int':
        return f'{indent}<i type="int" name="{name}">{int(value):6d}</i>'
    if kind == 'string':
        return f'{indent}<i type="string" name="{name}">{value}</i>'
    if kind == 'logical':
        return f'{indent}<i type="logical" name="{name}"> {"T" if value else "F"}  </i>'
    return f'{indent}<i name="{name}">{float(value):16.8f}</i>'


def incar_kind(value) -> str | None:
    if isinstance(value, bool):
        return 'logical'
    if isinstance(value, int):
        return 'int'
    if isinstance(value, float):
        return None
    return 'string'


def write_vasprun(path, ctx: dict) -> None:
    s: Settings = ctx['settings']
    species = ctx['symbols']
    types = ctx['types']
    lines = [
        '<?xml version="1.0" encoding="ISO-8859-1"?>',
        '<modeling>',
        ' <generator>',
        '  <i name="program" type="string">vasp </i>',
        f'  <i name="version" type="string">{VASP_VERSION}  </i>',
        '  <i name="subversion" type="string">20Jul23 (build Jan 01 2024 00:00:00) complex  '
        f'aiida-sei stand-in ({ctx["calculator"]}), not VASP </i>',
        '  <i name="platform" type="string">LinuxGNU </i>',
        f'  <i name="date" type="string">{ctx["start"]:%Y %m %d} </i>',
        f'  <i name="time" type="string">{ctx["start"]:%H:%M:%S} </i>',
        ' </generator>',
        ' <incar>',
    ]
    for key, value in s.incar.items():
        kind = incar_kind(value)
        if kind == 'string' and not isinstance(value, str):
            value = ' '.join(str(item) for item in np.ravel(value))
        lines.append(xml_i(key.upper(), value, '  ', kind))
    lines.append(' </incar>')
    # k-points
    lines.append(' <kpoints>')
    kdesc = ctx['kdesc']
    if kdesc['mode'] == 'automatic':
        divisions = kdesc['divisions']
        lines.append(f'  <generation param="{"Gamma" if kdesc["gamma"] else "Monkhorst-Pack"}">')
        lines.append(f'   <v type="int" name="divisions">{"".join(f"{d:8d}" for d in divisions)} </v>')
        lines.append(f'   <v name="usershift">{fmt_vec(kdesc["shifts"])} </v>')
        for axis in range(3):
            vector = np.zeros(3)
            vector[axis] = 1.0 / divisions[axis]
            lines.append(f'   <v name="genvec{axis + 1}">{fmt_vec(vector)} </v>')
        lines.append(f'   <v name="shift">{fmt_vec(kdesc["shifts"])} </v>')
        lines.append('  </generation>')
    lines += xml_varray('kpointlist', ctx['kpoints'], '  ')
    lines.append('  <varray name="weights" >')
    lines += [f'   <v>{weight:16.8f} </v>' for weight in ctx['weights']]
    lines.append('  </varray>')
    lines.append(' </kpoints>')
    # parameters (what parsevasp reads: ispin, nbands, nelm, nsw, ...)
    lines += [
        ' <parameters>',
        '  <separator name="general" >',
        xml_i('SYSTEM', s.system, '   ', 'string'),
        '  </separator>',
        '  <separator name="electronic" >',
        xml_i('PREC', s.prec.lower(), '   ', 'string'),
        xml_i('ENMAX', ctx['encut'], '   '),
        xml_i('EDIFF', s.ediff, '   '),
        xml_i('NBANDS', ctx['nbands'], '   ', 'int'),
        xml_i('NELECT', ctx['nelect'], '   '),
        '   <separator name="electronic smearing" >',
        xml_i('ISMEAR', s.ismear, '    ', 'int'),
        xml_i('SIGMA', s.sigma, '    '),
        '   </separator>',
        '   <separator name="electronic spin" >',
        xml_i('ISPIN', s.ispin, '    ', 'int'),
        '   </separator>',
        '   <separator name="electronic convergence" >',
        xml_i('NELM', s.nelm, '    ', 'int'),
        xml_i('NELMDL', s.nelmdl, '    ', 'int'),
        xml_i('NELMIN', s.nelmin, '    ', 'int'),
        '   </separator>',
        '  </separator>',
        '  <separator name="ionic" >',
        xml_i('NSW', s.nsw, '   ', 'int'),
        xml_i('IBRION', s.ibrion, '   ', 'int'),
        xml_i('ISIF', s.isif, '   ', 'int'),
        xml_i('PSTRESS', 0.0, '   '),
        xml_i('EDIFFG', s.ediffg, '   '),
        xml_i('POTIM', s.potim, '   '),
        '  </separator>',
        ' </parameters>',
    ]
    # atominfo
    lines += [
        ' <atominfo>',
        f'  <atoms>{len(species):8d} </atoms>',
        f'  <types>{len(types):8d} </types>',
        '  <array name="atoms" >',
        '   <dimension dim="1">ion</dimension>',
        '   <field type="string">element</field>',
        '   <field type="int">atomtype</field>',
        '   <set>',
    ]
    type_index = {symbol: index + 1 for index, (symbol, _) in enumerate(types)}
    lines += [f'    <rc><c>{symbol:2s}</c><c>{type_index[symbol]:4d}</c></rc>' for symbol in species]
    lines += [
        '   </set>',
        '  </array>',
        '  <array name="atomtypes" >',
        '   <dimension dim="1">type</dimension>',
        '   <field type="int">atomspertype</field>',
        '   <field type="string">element</field>',
        '   <field>mass</field>',
        '   <field>valence</field>',
        '   <field type="string">pseudopotential</field>',
        '   <set>',
    ]
    for (symbol, count), header, mass in zip(types, ctx['potcars'], ctx['masses']):
        lines.append(
            f'    <rc><c>{count:4d}</c><c>{symbol:2s}</c><c>{mass:16.8f}</c>'
            f'<c>{header["zval"]:16.8f}</c><c> {header["titel"]:40s}</c></rc>'
        )
    lines += ['   </set>', '  </array>', ' </atominfo>']
    first = ctx['steps'][0]
    lines += xml_structure(ctx['initial_cell'], ctx['initial_scaled'], ' ', 'initialpos')
    # one <calculation> per ionic step
    for step in ctx['steps']:
        lines.append(' <calculation>')
        energies = step['scf']
        for k, energy in enumerate(energies):
            shift = energy - step['energy_free']
            lines += [
                '  <scstep>',
                f'   <time name="dav">{step["scf_time"]:8.2f}{step["scf_time"]:8.2f}</time>',
                f'   <time name="total">{step["scf_time"]:8.2f}{step["scf_time"]:8.2f}</time>',
                '   <energy>',
                f'    <i name="e_fr_energy">{step["energy_free"] + shift:16.8f} </i>',
                f'    <i name="e_wo_entrp">{step["energy_wo"] + shift:16.8f} </i>',
                f'    <i name="e_0_energy">{step["energy_0"] + shift:16.8f} </i>',
                '   </energy>',
                '  </scstep>',
            ]
        last_shift = energies[-1] - step['energy_free']
        lines += xml_structure(step['cell'], step['scaled_positions'], '  ')
        lines += xml_varray('forces', step['forces'], '  ')
        if step['stress_kb'] is not None:
            lines += xml_varray('stress', step['stress_kb'], '  ')
        lines += [
            '  <energy>',
            f'   <i name="e_fr_energy">{step["energy_free"] + last_shift:16.8f} </i>',
            f'   <i name="e_wo_entrp">{step["energy_wo"] + last_shift:16.8f} </i>',
            f'   <i name="e_0_energy">{step["energy_0"] + last_shift:16.8f} </i>',
            '  </energy>',
            f'  <time name="totalsc">{step["time"]:8.2f}{step["time"]:8.2f}</time>',
        ]
        if step is ctx['steps'][-1] and ctx['electronic'] is not None:
            lines += xml_eigenvalues_and_dos(ctx['electronic'], s)
        lines.append(' </calculation>')
    last = ctx['steps'][-1]
    lines += xml_structure(last['cell'], last['scaled_positions'], ' ', 'finalpos')
    lines.append('</modeling>')
    del first
    Path(path).write_text('\n'.join(lines) + '\n', encoding='latin-1')


def xml_eigenvalues_and_dos(electronic: dict, settings: Settings) -> list[str]:
    eigen, occ = electronic['eigenvalues'], electronic['occupations']
    lines = [
        '  <eigenvalues>',
        '   <array>',
        '    <dimension dim="1">band</dimension>',
        '    <dimension dim="2">kpoint</dimension>',
        '    <dimension dim="3">spin</dimension>',
        '    <field>eigene</field>',
        '    <field>occ</field>',
        '    <set>',
    ]
    for spin in range(eigen.shape[0]):
        lines.append(f'     <set comment="spin {spin + 1}">')
        for k in range(eigen.shape[1]):
            lines.append(f'      <set comment="kpoint {k + 1}">')
            lines += [f'       <r>{e:10.4f}{f:10.4f} </r>' for e, f in zip(eigen[spin, k], occ[spin, k])]
            lines.append('      </set>')
        lines.append('     </set>')
    lines += ['    </set>', '   </array>', '  </eigenvalues>']
    # total DOS: Gaussian-broadened eigenvalues on 301 points, with its integral
    width = max(settings.sigma, 0.05)
    grid = np.linspace(eigen.min() - 5.0, eigen.max() + 5.0, 301)
    weights = electronic['weights']
    lines += [
        '  <dos>',
        f'   <i name="efermi">{electronic["efermi"]:16.8f} </i>',
        '   <total>',
        '    <array>',
        '     <dimension dim="1">gridpoints</dimension>',
        '     <dimension dim="2">spin</dimension>',
        '     <field>energy</field>',
        '     <field>total</field>',
        '     <field>integrated</field>',
        '     <set>',
    ]
    spin_factor = 2.0 / eigen.shape[0]
    for spin in range(eigen.shape[0]):
        dos = np.zeros_like(grid)
        for k, weight in enumerate(weights):
            for energy in eigen[spin, k]:
                dos += spin_factor * weight * np.exp(-(((grid - energy) / width) ** 2)) / (width * math.sqrt(math.pi))
        integrated = np.cumsum(dos) * (grid[1] - grid[0])
        lines.append(f'      <set comment="spin {spin + 1}">')
        lines += [f'       <r>{e:11.4f}{d:12.4f}{n:12.4f} </r>' for e, d, n in zip(grid, dos, integrated)]
        lines.append('      </set>')
    lines += ['     </set>', '    </array>', '   </total>', '  </dos>']
    return lines


def write_outcar(path, ctx: dict, finished: bool = True) -> None:
    s: Settings = ctx['settings']
    nions = len(ctx['symbols'])
    lines = [
        f' {VERSION_LINE}',
        f' executed on             LinuxGNU date {ctx["start"]:%Y.%m.%d  %H:%M:%S}',
        ' running on    1 total cores',
        ' distrk:  each k-point on    1 cores,    1 groups',
        ' distr:  one band on NCORE=   1 cores,    1 groups',
        '',
        '',
        '--------------------------------------------------------------------------------------------------------',
        '',
        '',
        ' INCAR:',
    ]
    lines += [f'   POTCAR:    {header["titel"]}' for header in ctx['potcars']]
    lines += [f'   VRHFIN ={symbol}: fake' for symbol, _ in ctx['types']]
    lines += [
        '',
        ' POSCAR: ' + ' '.join(f'{symbol}{count}' for symbol, count in ctx['types']),
        '',
        ' Dimension of arrays:',
        f'   k-points           NKPTS = {len(ctx["kpoints"]):6d}   k-points in BZ     NKDIM = '
        f'{len(ctx["kpoints"]):6d}   number of bands    NBANDS= {ctx["nbands"]:6d}',
        f'   number of dos      NEDOS =    301   number of ions     NIONS = {nions:6d}',
        '',
        f' SYSTEM =  {s.system}',
        ' POSCAR =  ' + ' '.join(f'{symbol}{count}' for symbol, count in ctx['types']),
        '',
        '   Startparameter for this run:',
        '   NWRITE =      2    write-flag & timer',
        f'   PREC   = {s.prec.lower():8s} normal or accurate (medium, high low for compatibility)',
        '   ISTART =      0    job   : 0-new  1-cont  2-samecut',
        '   ICHARG =      2    charge: 1-file 2-atom 10-const',
        f'   ISPIN  = {s.ispin:6d}    spin polarized calculation?',
        '',
        '   Electronic Relaxation 1',
        f'   ENCUT  = {ctx["encut"]:6.1f} eV',
        f'   NELM   = {s.nelm:6d};   NELMIN={s.nelmin:3d}; NELMDL={s.nelmdl:3d}     # of ELM steps',
        f'   EDIFF  = {s.ediff:8.1E}   stopping-criterion for ELM',
        '',
        '   Ionic relaxation',
        f'   EDIFFG = {s.ediffg:8.1E}   stopping-criterion for IOM',
        f'   NSW    = {s.nsw:6d}    number of steps for IOM',
        '   NBLOCK =      1;   KBLOCK =      1    inner block; outer block',
        f'   IBRION = {s.ibrion:6d}    ionic relax: 0-MD 1-quasi-New 2-CG',
        f'   ISIF   = {s.isif:6d}    stress and relaxation',
        f'   POTIM  = {s.potim:8.4f}    time-step for ionic-motion',
        '',
        '   DOS related values:',
        f'   ISMEAR = {s.ismear:6d};   SIGMA  = {s.sigma:6.2f}  broadening in eV -4-tet -1-fermi 0-gaus',
        '',
        '   Electronic relaxation 2 (details)',
        f'   ALGO   = {s.algo}',
        '',
        f'   NELECT = {ctx["nelect"]:12.4f}    total number of electrons',
        '',
        '--------------------------------------------------------------------------------------------------------',
        '',
    ]
    for istep, step in enumerate(ctx['steps'] if finished else [], start=1):
        energies = step['scf']
        for k, energy in enumerate(energies, start=1):
            shift = energy - step['energy_free']
            lines += [
                '',
                f'----------------------------------------- Iteration {istep:6d}({k:4d})  '
                '---------------------------------------',
                '',
                f'      LOOP:  cpu time{step["scf_time"]:12.4f}: real time{step["scf_time"]:12.4f}',
                '',
                f'  eigenvalue-minimisations  : {8 * ctx["nbands"]:5d}',
                f'  total energy-change (2. order) :{energy - (energies[k - 2] if k > 1 else 0.0):15.7E}',
                f'  number of electron {ctx["nelect"]:15.7f} magnetization'
                + (f' {step["magmom"]:15.7f}' if s.ispin == 2 else ''),
                '',
                '  Free energy of the ion-electron system (eV)',
                '  ---------------------------------------------------',
                f'  free energy    TOTEN  = {step["energy_free"] + shift:18.8f} eV',
                '',
                f'  energy without entropy ={step["energy_wo"] + shift:18.8f}  energy(sigma->0) ='
                f'{step["energy_0"] + shift:18.8f}',
                '',
                '',
                '--------------------------------------------------------------------------------------------------------',
            ]
        lines += ['', '', f'     LOOP+:  cpu time{step["time"]:12.4f}: real time{step["time"]:12.4f}', '']
        if step['stress_kb'] is not None:
            kb = step['stress_kb']
            order = [kb[0, 0], kb[1, 1], kb[2, 2], kb[0, 1], kb[1, 2], kb[0, 2]]
            lines += [
                '  FORCE on cell =-STRESS in cart. coord.  units (eV):',
                '  Direction    XX          YY          ZZ          XY          YZ          ZX',
                '  --------------------------------------------------------------------------------------',
                '  in kB   ' + ''.join(f'{value:12.5f}' for value in order),
                f'  external pressure = {np.trace(kb) / 3:12.2f} kB  Pullay stress =        0.00 kB',
                '',
            ]
        lines += [
            ' VOLUME and BASIS-vectors are now :',
            ' -----------------------------------------------------------------------------',
            f'  volume of cell : {abs(np.linalg.det(step["cell"])):12.2f}',
            '      direct lattice vectors                 reciprocal lattice vectors',
        ]
        reciprocal = np.linalg.inv(step['cell']).T
        lines += [f'  {fmt_vec(a, 13, 9)}  {fmt_vec(b, 13, 9)}' for a, b in zip(step['cell'], reciprocal)]
        lines += [
            '',
            ' POSITION                                       TOTAL-FORCE (eV/Angst)',
            ' -----------------------------------------------------------------------------------',
        ]
        lines += [f' {fmt_vec(p, 12, 5)}   {fmt_vec(f, 14, 6)}' for p, f in zip(step['positions'], step['forces'])]
        lines += [
            ' -----------------------------------------------------------------------------------',
            f'    total drift:                         {fmt_vec(step["forces"].sum(axis=0), 14, 6)}',
            '',
            '',
            '--------------------------------------------------------------------------------------------------------',
            '',
            '',
            '  FREE ENERGIE OF THE ION-ELECTRON SYSTEM (eV)',
            '  ---------------------------------------------------',
            f'  free  energy   TOTEN  = {energies[-1]:18.8f} eV',
            '',
            f'  energy  without entropy= {step["energy_wo"] + energies[-1] - step["energy_free"]:18.8f}'
            f'  energy(sigma->0) = {step["energy_0"] + energies[-1] - step["energy_free"]:18.8f}',
            '',
            '',
            '--------------------------------------------------------------------------------------------------------',
            '',
        ]
    if finished:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        elapsed = time.time() - ctx['t0']
        lines += [
            '',
            ' General timing and accounting informations for this job:',
            ' ========================================================',
            '',
            f'                  Total CPU time used (sec):{usage.ru_utime + usage.ru_stime:13.3f}',
            f'                            User time (sec):{usage.ru_utime:13.3f}',
            f'                          System time (sec):{usage.ru_stime:13.3f}',
            f'                         Elapsed time (sec):{elapsed:13.3f}',
            '',
            f'                   Maximum memory used (kb):{float(usage.ru_maxrss):13.0f}.',
            '                   Average memory used (kb):          N/A',
            '',
            f'                          Minor page faults:{usage.ru_minflt:13d}',
            f'                          Major page faults:{usage.ru_majflt:13d}',
            f'                 Voluntary context switches:{usage.ru_nvcsw:13d}',
        ]
    Path(path).write_text('\n'.join(lines) + '\n', encoding='utf8')


def write_stdout(handle, ctx: dict, warning_nelm: bool) -> None:
    s: Settings = ctx['settings']
    for istep, step in enumerate(ctx['steps'], start=1):
        print('       N       E                     dE             d eps       ncg     rms          rms(c)', file=handle)
        previous = 0.0
        for k, energy in enumerate(step['scf'], start=1):
            print(
                f'DAV: {k:3d}    {energy:20.12E}   {energy - previous:12.5E}   {-(abs(energy - previous)) * 0.1:12.5E}'
                f'  {8 * ctx["nbands"]:5d}   {0.1 / k:8.3E}',
                file=handle,
            )
            previous = energy
        line = f'{istep:4d} F= {step["scf"][-1]:.8E} E0= {step["energy_0"] + step["scf"][-1] - step["energy_free"]:.8E}'
        line += f'  d E ={step["scf"][-1] - (ctx["steps"][istep - 2]["scf"][-1] if istep > 1 else 0.0):.6E}'
        print(line, file=handle)
        if warning_nelm:
            print(vasp_box('WARNING', [
                'The electronic self-consistency was not achieved in the given',
                'number of steps (NELM). The forces and other quantities evaluated',
                'might not be reliable so examine the results carefully.',
            ]), file=handle)
        if s.relax and istep < len(ctx['steps']):
            print(' BRION: g(F)=  0.000E+00 g(S)=  0.000E+00 retain N=  0 mean eig= 0.00', file=handle)
    if s.lwave:
        print(' writing wavefunctions', file=handle)


def vasp_box(kind: str, message: list[str]) -> str:
    """A VASP 6 message box as parsevasp's ``parse_vasp6_box`` recognises it."""
    banners = {
        'WARNING': [
            'W    W    AA    RRRRR   N    N  II  N    N   GGGG   !!!',
            'W    W   A  A   R    R  NN   N  II  NN   N  G    G  !!!',
            'W    W  A    A  R    R  N N  N  II  N N  N  G       !!!',
            'W WW W  AAAAAA  RRRRR   N  N N  II  N  N N  G  GGG   ! ',
            'WW  WW  A    A  R   R   N   NN  II  N   NN  G    G     ',
            'W    W  A    A  R    R  N    N  II  N    N   GGGG   !!!',
        ],
        'ERROR': [
            'EEEEEEE  RRRRRR   RRRRRR   OOOOOOO  RRRRRR      ###     ###     ###',
            'E        R     R  R     R  O     O  R     R     ###     ###     ###',
            'E        R     R  R     R  O     O  R     R     ###     ###     ###',
            'EEEEE    RRRRRR   RRRRRR   O     O  RRRRRR       #       #       # ',
            'E        R   R    R   R    O     O  R   R                          ',
            'E        R    R   R    R   O     O  R    R      ###     ###     ###',
            'EEEEEEE  R     R  R     R  OOOOOOO  R     R     ###     ###     ###',
        ],
    }
    width = 77
    rows = [' ' + '-' * width, '|' + ' ' * width + '|']
    rows += ['|     ' + banner.ljust(width - 5) + '|' for banner in banners[kind]]
    rows.append('|' + ' ' * width + '|')
    import textwrap  # noqa: PLC0415

    wrapped = [part for text in message for part in textwrap.wrap(text, width - 10) or ['']]
    rows += ['|     ' + text.ljust(width - 5) + '|' for text in wrapped]
    rows.append('|' + ' ' * width + '|')
    if kind == 'ERROR':
        rows.append('|       ---->  I REFUSE TO CONTINUE WITH THIS SICK JOB ... BYE!!! <----' .ljust(width + 1) + '|')
        rows.append('|' + ' ' * width + '|')
    rows.append(' ' + '-' * width)
    return '\n'.join(rows)


def banner(handle, ctx_calc: str) -> None:
    print(' running    1 mpi-ranks, with    1 threads/rank, on    1 nodes', file=handle)
    print(' distrk:  each k-point on    1 cores,    1 groups', file=handle)
    print(' distr:  one band on    1 cores,    1 groups', file=handle)
    print(f' {VERSION_LINE}', file=handle)
    print(f' aiida-sei VASP stand-in: ASE calculator {ctx_calc}; outputs imitate VASP {VASP_VERSION}', file=handle)
    print(' POSCAR, INCAR and KPOINTS ok, starting setup', file=handle)
    print(' entering main loop', file=handle)


# ------------------------------------------------------------------------------------------- main
def crash(handle, reason: str, ctx: dict | None = None) -> int:
    print(vasp_box('ERROR', [reason]), file=handle)
    handle.flush()
    if ctx is not None:
        write_outcar('OUTCAR', ctx, finished=False)
    for name in ('vasprun.xml', 'CONTCAR'):
        if Path(name).exists():
            Path(name).unlink()
    return 1


def main() -> int:  # noqa: PLR0915
    import ase.io  # noqa: PLC0415
    from ase.data import atomic_masses, atomic_numbers  # noqa: PLC0415

    t0 = time.time()
    start = datetime.datetime.now()
    calc_name = os.environ.get('SEI_STANDIN_CALCULATOR', 'gpaw').strip().lower() or 'gpaw'
    fail = os.environ.get('SEI_STANDIN_FAIL', '').strip().lower()
    handle = sys.stdout
    banner(handle, calc_name)

    atoms = ase.io.read('POSCAR', format='vasp')
    incar = read_incar()
    settings = Settings(incar, len(atoms))
    symbols = atoms.get_chemical_symbols()
    types = []
    for symbol in symbols:
        if types and types[-1][0] == symbol:
            types[-1] = (symbol, types[-1][1] + 1)
        else:
            types.append((symbol, 1))
    potcars = read_potcar_headers()
    if len(potcars) != len(types):
        potcars = [{'titel': f'PAW_PBE {symbol} (no POTCAR)', 'zval': 0.0} for symbol, _ in types]
    masses = [float(atomic_masses[atomic_numbers[symbol]]) for symbol, _ in types]
    nelect_potcar = sum(header['zval'] * count for header, (_, count) in zip(potcars, types))
    encut = min(float(settings.encut), ENCUT_CAP) if settings.encut is not None else ENCUT_CAP
    ctx = {
        'settings': settings,
        'symbols': symbols,
        'types': types,
        'potcars': potcars,
        'masses': masses,
        'calculator': calc_name,
        'start': start,
        't0': t0,
        'encut': encut,
        'kpoints': [],
        'nbands': int(settings.nbands or math.ceil(nelect_potcar / 2 + len(atoms) / 2)),
        'nelect': nelect_potcar,
        'steps': [],
        'initial_cell': np.array(atoms.cell),
        'initial_scaled': atoms.get_scaled_positions(wrap=False),
    }
    if fail == 'crash':
        return crash(handle, 'aiida-sei stand-in: simulated crash (SEI_STANDIN_FAIL=crash).', ctx)

    scf_fail = fail == 'scf'
    threshold = os.environ.get('SEI_STANDIN_FAIL_UNLESS_NELM_GE')
    if scf_fail and threshold and settings.nelm >= int(threshold):
        scf_fail = False

    try:
        kpts, kdesc = kpoint_mesh(atoms, read_kpoints(), incar)
        atoms.calc = make_calculator(calc_name, settings, kpts, atoms)
    except Exception as error:  # noqa: BLE001
        return crash(handle, f'aiida-sei stand-in: cannot set up the calculation: {error}', ctx)
    ctx['kdesc'] = kdesc

    # ionic loop
    optimizer = None
    target = atoms
    if settings.relax:
        from ase.filters import FrechetCellFilter  # noqa: PLC0415
        from ase.optimize import BFGS, FIRE  # noqa: PLC0415

        if settings.isif == 3:
            target = FrechetCellFilter(atoms)
        elif settings.isif == 4:
            target = FrechetCellFilter(atoms, constant_volume=True)
        optimizer = (FIRE if settings.ibrion == 3 else BFGS)(target, logfile=None)
    nsteps = settings.nsw if settings.relax else 1
    previous_energy = None
    for istep in range(1, nsteps + 1):
        t_step = time.time()
        try:
            record = evaluate(atoms, calc_name, settings)
        except Exception as error:  # noqa: BLE001
            return crash(handle, f'aiida-sei stand-in: the calculator failed: {error}', ctx)
        if scf_fail:
            nscf = settings.nelm
        else:
            nscf = min(max(record['iterations'], settings.nelmin, 1), max(settings.nelm - 1, 1))
        record['scf'] = scf_energies(record['energy_free'], nscf, settings.ediff, len(atoms), not scf_fail)
        record['time'] = max(time.time() - t_step, 0.01)
        record['scf_time'] = record['time'] / nscf
        ctx['steps'].append(record)
        if optimizer is None or istep == nsteps:
            break
        if settings.ediffg < 0:
            # as ASE's optimizers: with a cell filter the generalised forces include the stress
            fmax = np.sqrt((np.asarray(target.get_forces()) ** 2).sum(axis=1)).max()
            if fmax < abs(settings.ediffg):
                break
        elif previous_energy is not None and abs(record['energy_free'] - previous_energy) < settings.ediffg:
            break
        previous_energy = record['energy_free']
        optimizer.step()

    electronic = None
    try:
        electronic = electronic_structure(atoms.calc, calc_name)
    except Exception:  # noqa: BLE001 - eigenvalues are a bonus
        electronic = None
    ctx['electronic'] = electronic
    if electronic is not None:
        ctx['kpoints'], ctx['weights'] = electronic['kpoints'], electronic['weights']
        ctx['nbands'], ctx['nelect'] = electronic['nbands'], electronic['nelect']
    else:
        ctx['kpoints'], ctx['weights'] = full_mesh(kdesc)

    write_stdout(handle, ctx, warning_nelm=scf_fail)
    handle.flush()
    write_outcar('OUTCAR', ctx)
    ase.io.write('CONTCAR', atoms, format='vasp', direct=True, sort=False)
    placeholder = b'aiida-sei stand-in placeholder: not a VASP file\n'
    if settings.lwave:
        Path('WAVECAR').write_bytes(placeholder)
    if settings.lcharg:
        Path('CHGCAR').write_bytes(placeholder)
    write_vasprun('vasprun.xml', ctx)
    return 0


if __name__ == '__main__':
    sys.exit(main())
