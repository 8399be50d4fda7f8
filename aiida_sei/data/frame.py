"""``sei.frame``: one labelled frame as a node, its metadata as queryable attributes."""

from __future__ import annotations

import hashlib
import io

import numpy as np
from aiida.common.links import LinkType
from aiida.orm import ArrayData
from aiida.orm.nodes.caching import NodeCaching
from aiida.orm.nodes.links import NodeLinks
from aiida.orm.utils.links import validate_link
from ase.data import chemical_symbols

from aiida_sei.science.frames import Frame, FrameError, check_frame, structure_hash, theory_hash

#: Queryable attributes a frame may carry beyond the derived ones.
METADATA_KEYS = ('system', 'condition', 'origin', 'trigger', 'settings_hash', 'backend', 'is_dft', 'converged', 'source_complete', 'settings')

#: What an import of frames labelled elsewhere assumes unless told otherwise (Python and CLI alike).
IMPORT_DEFAULTS = {'origin': 'imported', 'is_dft': True}

#: The one repository file of a frame: every array in one uncompressed ``.npz``.
ARRAYS_FILE = 'frame.npz'
#: Attribute holding the SHA-256 of :data:`ARRAYS_FILE` (absent on frames stored one ``.npy`` per array).
ARRAYS_HASH = 'arrays_sha256'


class FrameIntegrityError(ValueError):
    """A frame's stored arrays no longer match the hash recorded when it was stored."""


class FrameCaching(NodeCaching):
    """Hashes a frame from its attributes, which hold the SHA-256 of its arrays file.

    Why: AiiDA's default hashes the repository by asking the object store about each file, and
    disk-objectstore reopens its index for each question; that was most of the cost of storing a
    frame. Frames stored in the older one-file-per-array layout keep the default.
    """

    def get_objects_to_hash(self) -> dict:
        node = self._node
        digest = node.base.attributes.get(ARRAYS_HASH, None)
        if digest is None:
            return super().get_objects_to_hash()
        ignored = set(node._hash_ignored_attributes) | set(node._updatable_attributes)
        attributes = {key: value for key, value in node.base.attributes.items() if key not in ignored}
        return {'class': str(node.__class__), 'attributes': attributes, 'repository_hash': digest, 'computer_uuid': None}


class FrameLinks(NodeLinks):
    """Validates the CREATE link into a new frame without AiiDA's cycle query.

    Why: that query (is the creator a descendant of the frame?) cannot find anything for a frame
    that is not stored yet, and it cost as much as storing the frame; an import of 10^4 frames
    made 10^4 of them. Every other check of AiiDA's ``validate_link`` still runs.
    """

    def validate_incoming(self, source, link_type: LinkType, link_label: str) -> None:
        if link_type is LinkType.CREATE and not self._node.is_stored:
            validate_link(source, self._node, link_type, link_label, backend=self._node.backend)
            return
        super().validate_incoming(source, link_type, link_label)


class FrameData(ArrayData):
    """A configuration with its energy (eV), forces (eV/Å) and stress (eV/Å^3, ASE sign).

    Arrays (one ``frame.npz`` in the repository, its SHA-256 in ``arrays_sha256``): numbers,
    positions, cell, pbc, forces, stress. Frames stored before that layout hold one ``.npy`` per
    array and load the same way.
    Attributes (queryable): energy, energy_per_atom, n_atoms, formula, elements,
    structure_hash, and the metadata: system (e.g. 'Li6PS5Cl'), condition (dict: temperature K,
    pressure GPa, strain), origin ('active_learning', 'refinement_md', 'aimd', 'imported', ...),
    settings_hash (labelling settings), backend ('gpaw', 'vasp', ...), is_dft, converged (False:
    the SCF stopped at NELM, imported only on request), source_complete (False: from a file cut
    off mid-run), trigger (why active learning labelled it: reason 'first frame' or 'uncertainty',
    with max_uncertainty, threshold and md_step), settings (what labelled it, e.g. VASP's version,
    ENCUT, GGA, k-points, POTCARs)
    and, derived from them, theory_hash (the settings without the k-point mesh: the level of theory).
    """

    _CLS_NODE_CACHING = FrameCaching
    _CLS_NODE_LINKS = FrameLinks

    def __init__(self, frame: Frame | None = None, **kwargs):
        metadata = {key: kwargs.pop(key) for key in METADATA_KEYS if key in kwargs}
        super().__init__(**kwargs)
        if frame is not None:
            self._set_frame(check_frame(frame))
            known = {k: v for k, v in frame.info.items() if k in METADATA_KEYS}
            self.set_metadata(**{**known, **metadata})
            settings, backend = self.base.attributes.get('settings', None), self.base.attributes.get('backend', None)
            if settings is not None and backend:
                self.base.attributes.set('theory_hash', theory_hash(backend, settings))

    def _set_frame(self, frame: Frame) -> None:
        arrays = {
            'numbers': np.asarray(frame.numbers, dtype=np.int64),
            'positions': np.asarray(frame.positions, float),
            'cell': np.asarray(frame.cell, float),
            'pbc': np.asarray(frame.pbc, bool),
            'forces': np.asarray(frame.forces, float),
            'stress': np.asarray(frame.stress, float),
        }
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        content = buffer.getvalue()
        self.base.repository.put_object_from_bytes(content, ARRAYS_FILE)
        self._frame_arrays = arrays
        symbols = [chemical_symbols[z] for z in frame.numbers]
        counts = {s: symbols.count(s) for s in sorted(set(symbols))}
        self.base.attributes.set_many(
            {
                **{f'{self.array_prefix}{name}': list(array.shape) for name, array in arrays.items()},
                ARRAYS_HASH: hashlib.sha256(content).hexdigest(),
                'energy': float(frame.energy),
                'energy_per_atom': float(frame.energy) / frame.n_atoms,
                'n_atoms': frame.n_atoms,
                'has_stress': frame.has_stress,  # False: labelled with energy and forces only
                'formula': ''.join(f'{s}{n}' for s, n in counts.items()),
                'elements': sorted(counts),
                'structure_hash': structure_hash(frame.numbers, frame.positions, frame.cell),
            }
        )

    def _single_file(self) -> bool:
        return self.base.attributes.get(ARRAYS_HASH, None) is not None

    def _arrays(self) -> dict[str, np.ndarray]:
        """All arrays of the single-file layout, read once and checked against their hash."""
        if getattr(self, '_frame_arrays', None) is None:
            content = self.base.repository.get_object_content(ARRAYS_FILE, mode='rb')
            if hashlib.sha256(content).hexdigest() != self.base.attributes.get(ARRAYS_HASH):
                raise FrameIntegrityError(f'frame<{self.pk}>: {ARRAYS_FILE} does not match its recorded SHA-256 (damaged or edited)')
            with np.load(io.BytesIO(content), allow_pickle=False) as archive:
                self._frame_arrays = {name: archive[name] for name in archive.files}
        return self._frame_arrays

    def get_array(self, name: str | None = None) -> np.ndarray:
        if name is None or not self._single_file():
            return super().get_array(name)
        try:
            return self._arrays()[name]
        except KeyError:
            raise KeyError(f'Array with name `{name}` not found in FrameData<{self.pk}>') from None

    def _arraynames_from_files(self) -> list[str]:
        return list(self._arrays()) if self._single_file() else super()._arraynames_from_files()

    def set_metadata(self, **metadata) -> None:
        """Set the queryable metadata (only :data:`METADATA_KEYS`; others are refused)."""
        unknown = set(metadata) - set(METADATA_KEYS)
        if unknown:
            raise ValueError(f'unknown frame metadata {sorted(unknown)}; allowed: {", ".join(METADATA_KEYS)}')
        self.base.attributes.set_many(metadata)

    @property
    def energy(self) -> float:
        return self.base.attributes.get('energy')

    def metadata(self) -> dict:
        return {key: self.base.attributes.get(key, None) for key in METADATA_KEYS}

    def get_frame(self) -> Frame:
        """The frame, checked as when it was stored, and against its own attributes (a frame
        edited in someone's archive is refused here, not exported or trained on)."""
        where = f'frame<{self.pk}>'
        energy = self.energy
        if not isinstance(energy, (int, float)) or isinstance(energy, bool):
            raise FrameError(f'{where}: energy attribute is {energy!r}, not a number')
        frame = check_frame(Frame(
            numbers=self.get_array('numbers'),
            positions=self.get_array('positions'),
            cell=self.get_array('cell'),
            pbc=self.get_array('pbc'),
            energy=float(energy),
            forces=self.get_array('forces'),
            stress=self.get_array('stress'),
            info={k: v for k, v in self.metadata().items() if isinstance(v, (str, int, float, bool))},
        ), where)
        attributes = self.base.attributes
        elements = sorted({chemical_symbols[z] for z in frame.numbers})
        if attributes.get('n_atoms', None) != frame.n_atoms or attributes.get('elements', None) != elements:
            raise FrameError(f'{where}: attributes n_atoms/elements {attributes.get("n_atoms", None)}/{attributes.get("elements", None)} '
                             f'disagree with its arrays ({frame.n_atoms} atoms of {elements})')
        return frame

    def get_atoms(self):
        """ASE atoms with a single-point calculator holding energy, forces and stress."""
        return self.get_frame().to_atoms()
