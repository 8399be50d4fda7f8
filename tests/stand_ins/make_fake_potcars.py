"""Fake POTCAR files for tests where the licensed VASP PAW datasets cannot be used.

The files written here hold no VASP data at all. They follow the layout of aiida-vasp's own test
POTCARs (``tests/test_data/potcar/*/POTCAR`` in the aiida-vasp repository): the header and the
``parameters from PSCTR are:`` ... ``END of PSCTR-controll parameters`` block that parsevasp
reads (TITEL, VRHFIN, LEXCH, ZVAL, POMASS, ENMAX, ...), with every number replaced by a
placeholder (``1.111``, ``11Jan1111``) except the two that a calculation needs to be meaningful:

* ``ZVAL``, the number of valence electrons, set to the valence used in the paper
  (Li_sv 3, P 5, S 6, Cl 7);
* ``POMASS``, the atomic mass, taken from ASE's table of standard atomic weights (public data).

The radial data section is replaced by one line that says the file is fake.

Usage from Python (a profile must be loaded for the upload)::

    from tests.stand_ins.make_fake_potcars import upload_fake_potcar_family
    family, mapping = upload_fake_potcar_family('SEI_FAKE_PBE')
    # builder.potential_family = family; builder.potential_mapping = mapping

or from the shell: ``python tests/stand_ins/make_fake_potcars.py DIRECTORY`` (writes the files only).
"""

from __future__ import annotations

import pathlib
import sys
import tempfile

#: element -> (POTCAR symbol, i.e. the folder name and ``full_name`` in aiida-vasp; valence ZVAL)
PAPER_POTCARS = {
    'Li': ('Li_sv', 3),
    'P': ('P', 5),
    'S': ('S', 6),
    'Cl': ('Cl', 7),
}

#: Placeholder plane-wave cutoff written as ENMAX/ENMIN (not the value of any VASP dataset).
FAKE_ENMAX = 111.111

DEFAULT_FAMILY = 'SEI_FAKE_PBE'

_TEMPLATE = """\
  PAW_PBE {symbol} 11Jan1111
   {zval:.13f}
 parameters from PSCTR are:
   VRHFIN ={element}: fake
   LEXCH  = PE
   EATOM  =   111.1111 eV,    1.1111 Ry

   TITEL  = PAW_PBE {symbol} 11Jan1111
   LULTRA =        F    use ultrasoft PP ?
   IUNSCR =        1    unscreen: 1-lin 1-nonlin 1-no
   RPACOR =    1.111    partial core radius
   POMASS = {pomass:8.3f}; ZVAL   = {zval:8.3f}    mass and valenz
   RCORE  =    1.111    outmost cutoff radius
   RWIGS  =    1.111; RWIGS  =    1.111    wigner-seitz radius (au A)
   ENMAX  = {enmax:8.3f}; ENMIN  = {enmax:8.3f} eV
   ICORE  =        1    local potential
   LCOR   =        T    correct aug charges
   LPAW   =        T    paw PP
   EAUG   =  111.111
   DEXC   =    1.111
   RMAX   =    1.111    core radius for proj-oper
   RAUG   =    1.111    factor for augmentation sphere
   RDEP   =    1.111    radius for radial grids
   RDEPT  =    1.111    core radius for aug-charge

   Atomic configuration
    1 entries
     n  l   j            E        occ.
     1  1  1.11       -11.1111   1.1111
   Description
     l       E           TYP  RCUT    TYP  RCUT
     1     -1.1111111     11  1.111
   Error from kinetic energy argument (eV)
   NDATA  =      111
   STEP   =   11.111   1.111
  1.11      1.11      1.11      1.11      1.11      1.11      1.11      1.11
END of PSCTR-controll parameters

 ... FAKE DATA: written by aiida-sei tests/stand_ins/make_fake_potcars.py, contains no VASP data ...

 End of Dataset
"""


def fake_potcar_text(element: str, symbol: str | None = None, zval: float | None = None) -> str:
    """The text of one fake POTCAR for ``element`` (symbol and valence default to :data:`PAPER_POTCARS`)."""
    from ase.data import atomic_masses, atomic_numbers  # noqa: PLC0415

    default_symbol, default_zval = PAPER_POTCARS.get(element, (element, None))
    symbol = symbol or default_symbol
    zval = zval if zval is not None else default_zval
    if zval is None:
        raise KeyError(f'no valence known for {element}: pass zval explicitly')
    return _TEMPLATE.format(
        symbol=symbol,
        element=element,
        zval=float(zval),
        pomass=float(atomic_masses[atomic_numbers[element]]),
        enmax=FAKE_ENMAX,
    )


def write_fake_potcar_family(
    directory, elements=('Li', 'P', 'S', 'Cl'), valences: dict | None = None, symbols: dict | None = None
) -> dict[str, str]:
    """Write ``directory/<symbol>/POTCAR`` for each element, the layout aiida-vasp uploads as a family.

    :param directory: folder to write into (created if missing).
    :param elements: chemical symbols; Li, P, S and Cl have defaults (:data:`PAPER_POTCARS`).
    :param valences: optional ``{element: ZVAL}`` overrides / additions.
    :param symbols: optional ``{element: POTCAR symbol}`` overrides / additions (e.g. ``{'Li': 'Li'}``).
    :returns: the potential mapping ``{element: symbol}`` to pass as ``potential_mapping``.
    """
    valences = valences or {}
    symbols = symbols or {}
    directory = pathlib.Path(directory)
    mapping = {}
    for element in elements:
        symbol = symbols.get(element, PAPER_POTCARS.get(element, (element, None))[0])
        text = fake_potcar_text(element, symbol=symbol, zval=valences.get(element))
        folder = directory / symbol
        folder.mkdir(parents=True, exist_ok=True)
        (folder / 'POTCAR').write_text(text, encoding='utf8')
        mapping[element] = symbol
    return mapping


def upload_fake_potcar_family(
    family_name: str = DEFAULT_FAMILY,
    elements=('Li', 'P', 'S', 'Cl'),
    description: str = 'Fake POTCARs for tests (aiida-sei stand-in, no VASP data)',
    valences: dict | None = None,
    symbols: dict | None = None,
) -> tuple[str, dict[str, str]]:
    """Write fake POTCARs to a temporary folder and upload them as a POTCAR family of the loaded profile.

    Uses aiida-vasp's own API, :meth:`aiida_vasp.data.potcar.PotcarData.upload_potcar_family`
    (what ``verdi data vasp-potcar uploadfamily`` / ``aiida-vasp potcar uploadfamily`` call). It is
    idempotent: files already in the database (same sha512) are reused and only added to the group.

    :returns: ``(family_name, mapping)``; ``mapping`` is ``{element: symbol}`` for ``potential_mapping``.
    """
    from aiida_vasp.data.potcar import PotcarData  # noqa: PLC0415

    with tempfile.TemporaryDirectory(prefix='fake_potcars_') as tmp:
        # aiida-vasp records the path relative to the grand-parent folder (family/Symbol/POTCAR)
        root = pathlib.Path(tmp) / family_name
        mapping = write_fake_potcar_family(root, elements, valences=valences, symbols=symbols)
        PotcarData.upload_potcar_family(
            str(root), family_name, group_description=description, stop_if_existing=False
        )
    return family_name, mapping


if __name__ == '__main__':
    target = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else 'fake_potcars')
    print(write_fake_potcar_family(target))
