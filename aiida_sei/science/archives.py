"""Checks of zip archives (packaged and compiled models) before anything unpacks them. No AiiDA here.

torch's loader extracts a ``.pt2`` in the process that loads it: a member named ``../x`` lands
outside its folder and a zip bomb fills the disk. A model from someone else's archive is read
only after its listing passes these checks.
"""

from __future__ import annotations

import io
import pathlib
import zipfile

#: Largest uncompressed model we unpack (the paper's Allegro model compiles to tens of MB).
MAX_UNPACKED_BYTES = 2 * 1024**3
#: Largest compression ratio of one member (weights compress little; bombs by thousands).
MAX_RATIO = 100


class ArchiveError(ValueError):
    """A zip archive that is not safe to unpack (the message names the member and why)."""


def check_zip(source, what: str = 'archive') -> None:
    """Refuse ``source`` (a path or bytes) unless it is a zip whose members stay inside the
    folder they are extracted to, and whose unpacked size and compression ratios are sane."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(source) if isinstance(source, bytes) else source)
    except zipfile.BadZipFile as exception:
        raise ArchiveError(f'{what}: not a zip archive ({exception})') from None
    with archive:
        total = 0
        for member in archive.infolist():
            name = pathlib.PurePosixPath(member.filename)
            if name.is_absolute() or '..' in name.parts or '\\' in member.filename:
                raise ArchiveError(f'{what}: member {member.filename!r} would be written outside the folder it is unpacked into')
            total += member.file_size
            if member.compress_size and member.file_size / member.compress_size > MAX_RATIO and member.file_size > 1024**2:
                raise ArchiveError(f'{what}: member {member.filename!r} unpacks {member.file_size / member.compress_size:.0f}-fold (a zip bomb?)')
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f'{what}: unpacks to {total / 1024**3:.1f} GiB (more than {MAX_UNPACKED_BYTES / 1024**3:.0f} GiB)')
