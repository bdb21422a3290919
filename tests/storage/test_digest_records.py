"""Reading digest files back (``kiln index --digests-from``): exactly what the writers produce, else an error."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.digest import Digest
from kiln.errors import UsageError
from kiln.reference import Reference
from kiln.storage.digest_files import read_digest_records, write_digest_file, write_image_name_files

A = Digest.parse("sha256:" + "a" * 64)
B = Digest.parse("sha256:" + "b" * 64)


def test_reads_back_what_the_writers_write(tmp_path: Path) -> None:
    amd, arm = tmp_path / "d" / "amd64", tmp_path / "d" / "arm64"
    amd.mkdir(parents=True)
    arm.mkdir()
    write_digest_file(str(amd / "digest"), A)
    dests = [Reference.parse("reg.example:5000/app:amd64"), Reference.parse("other.example/app:x")]
    write_image_name_files(str(arm / "names"), str(arm / "tags"), dests, B)
    (arm / ".hidden").write_text("ignored")
    records = read_digest_records([str(tmp_path / "d")])
    assert [(r.digest, r.name and str(r.name.context())) for r in records] == [
        (A, None),
        (B, "reg.example:5000/app"),
        (B, "other.example/app"),
        (B, "reg.example:5000/app"),
        (B, "other.example/app"),
    ]
    assert records[0].origin == f"{amd / 'digest'}:1"
    assert records[4].origin == f"{arm / 'tags'}:2"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "is empty"),
        ("hello\n", "'hello' is not a digest"),
        ("reg.example/app:1\n", "is not a digest"),
        ("reg.example/app@sha256:123\n", "is not algorithm:hex"),
        ("\xff", "not text"),
    ],
)
def test_anything_else_is_an_error_naming_the_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "digest"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(UsageError) as err:
        read_digest_records([str(path)])
    assert message in str(err.value)
    assert str(path) in str(err.value)


def test_missing_file_and_empty_directory(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="does not exist"):
        read_digest_records([str(tmp_path / "nope")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no digest files in"):
        read_digest_records([str(tmp_path / "empty")])
