"""Are the sei nodes of a profile what they claim? Run after `verdi archive import` of someone
else's archive: an archive carries attributes as written, and nothing re-checks them on import.

Frames are re-checked as when they were stored (species, shapes, finite values) and against
their own attributes and array hash; datasets must name frames that exist.
"""

from __future__ import annotations

from collections.abc import Iterator

from aiida.orm import QueryBuilder

from aiida_sei.data import DatasetData, FrameData


def problems() -> Iterator[str]:
    """One line per frame or dataset that is not what it claims."""
    known = set()
    for (frame,) in QueryBuilder().append(FrameData).iterall(batch_size=500):  # a profile may hold 10^4 frames
        known.add(frame.uuid)
        try:
            frame.get_frame()
        except (ValueError, KeyError, OSError) as exception:  # FrameError, FrameIntegrityError, unreadable arrays
            yield str(exception)
    for dataset in QueryBuilder().append(DatasetData).all(flat=True):
        uuids = dataset.frame_uuids or []
        missing = [uuid for uuid in uuids if uuid not in known]
        if missing:
            yield f'dataset<{dataset.pk}>: names {len(missing)} frame(s) that do not exist (first: {missing[0]})'
        if len(uuids) != dataset.base.attributes.get('n_frames', None):
            yield f'dataset<{dataset.pk}>: n_frames is {dataset.base.attributes.get("n_frames", None)} for {len(uuids)} frame UUIDs'
