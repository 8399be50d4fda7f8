"""``sei.dataset``: an ordered set of frames, by reference.

A dataset stores the UUIDs of its frames, not their arrays, so a new version of a dataset
(appended, merged, de-duplicated, split) costs one small node however many frames it holds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from aiida.orm import Data, QueryBuilder

from .frame import FrameData

#: Frames fetched per query (keeps each SQL IN-list short).
CHUNK = 500


class DatasetData(Data):
    """Frames by UUID, with counts per system and per element set as queryable attributes."""

    def __init__(self, frames=(), **kwargs):
        super().__init__(**kwargs)
        frames = list(frames)
        if any(not isinstance(frame, FrameData) for frame in frames):
            raise ValueError('a dataset holds FrameData nodes only')
        uuids = [frame.uuid for frame in frames]
        if len(set(uuids)) != len(uuids):
            raise ValueError('a frame appears twice in the dataset')
        systems = Counter(frame.base.attributes.get('system', None) or 'unknown' for frame in frames)
        elements = sorted({e for frame in frames for e in frame.base.attributes.get('elements')})
        self.base.attributes.set_many(
            {
                'frame_uuids': uuids,
                'n_frames': len(uuids),
                'n_atoms_total': sum(frame.base.attributes.get('n_atoms') for frame in frames),
                'systems': dict(systems),
                'elements': elements,
                'all_dft': all(frame.base.attributes.get('is_dft', False) for frame in frames),
                # frames imported on request although their SCF did not converge, or from a cut-off file
                'unconverged_frames': sum(frame.base.attributes.get('converged', True) is False for frame in frames),
                'frames_without_stress': sum(frame.base.attributes.get('has_stress', True) is False for frame in frames),
                'from_truncated_files': sum(frame.base.attributes.get('source_complete', True) is False for frame in frames),
                'settings_hashes': dict(Counter(frame.base.attributes.get('settings_hash', None) or 'unknown' for frame in frames)),
                'theories': dict(Counter(frame.base.attributes.get('theory_hash', None) or 'unknown' for frame in frames)),
            }
        )

    def __len__(self) -> int:
        return self.base.attributes.get('n_frames')

    @property
    def frame_uuids(self) -> list[str]:
        return self.base.attributes.get('frame_uuids')

    @property
    def elements(self) -> list[str]:
        return self.base.attributes.get('elements')

    def iter_frames(self) -> Iterator[FrameData]:
        """The frames, in dataset order, loaded in chunks of :data:`CHUNK`."""
        uuids = self.frame_uuids
        for start in range(0, len(uuids), CHUNK):
            chunk = uuids[start : start + CHUNK]
            found = dict(QueryBuilder().append(FrameData, filters={'uuid': {'in': chunk}}, project=['uuid', '*']).all())
            for uuid in chunk:
                yield found[uuid]
