"""Zip archives of models are checked before torch or nequip unpack them (no profile)."""

import io
import zipfile

import pytest

from aiida_sei.science.archives import ArchiveError, check_zip


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, 'w', compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_plain_model_archive_passes():
    check_zip(zipped({'model/data.pkl': bytes(range(256)) * 64, 'model/package_metadata.txt': b'type_names: [Li]'}))


@pytest.mark.parametrize(('members', 'message'), [
    ({'../outside.txt': b'x'}, "member '../outside.txt' would be written outside"),
    ({'/etc/cron.d/x': b'x'}, "member '/etc/cron.d/x' would be written outside"),
    ({'model/zeros.bin': bytes(20 * 1024**2)}, r"unpacks \d+-fold \(a zip bomb\?\)"),
])
def test_escaping_members_and_zip_bombs_are_refused(members, message):
    with pytest.raises(ArchiveError, match=message):
        check_zip(zipped(members), 'compiled model')


def test_a_file_that_is_not_a_zip_is_refused():
    with pytest.raises(ArchiveError, match='not a zip archive'):
        check_zip(b'half a model', 'model package')
