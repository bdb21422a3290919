"""Blobs kept while the build reads them: only complete, verified reads are kept, and never half a file."""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path
from typing import IO

import pytest

from kiln.digest import Digest, VerifyingReader
from kiln.errors import DigestMismatch
from kiln.fs.kept import KeptBlobs

DATA = os.urandom(3 << 20)  # several chunks: the writer thread sees more than one
DIGEST = Digest.of_bytes(DATA)


def _source(data: bytes = DATA, digest: Digest = DIGEST) -> IO[bytes]:
    """As a registry or layout blob: verifies digest and size when it reaches the end."""
    return VerifyingReader(io.BytesIO(data), digest, len(DATA))  # type: ignore[return-value]


def _read_all(stream: IO[bytes], size: int = 1 << 20) -> bytes:
    parts = []
    with stream:
        while chunk := stream.read(size):
            parts.append(chunk)
    return b"".join(parts)


def test_a_complete_read_is_kept_and_later_opens_read_the_kept_file(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    calls: list[int] = []

    def opener() -> IO[bytes]:
        calls.append(1)
        return _source()

    tee = kept.tee(DIGEST, opener)
    assert _read_all(tee()) == DATA
    path = kept.path(DIGEST)
    assert path is not None and path.read_bytes() == DATA
    assert _read_all(tee()) == DATA and calls == [1]  # the second open read the kept copy, not the source
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [path.name]  # no partial file left


def test_a_read_that_stops_early_keeps_nothing(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    with kept.tee(DIGEST, _source)() as stream:
        assert len(stream.read(1000)) == 1000
    kept.close()
    assert kept.path(DIGEST) is None
    assert list((tmp_path / "kept").iterdir()) == []


def test_a_blob_whose_digest_is_wrong_is_not_kept(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    damaged = bytearray(DATA)
    damaged[12345] ^= 1
    stream = kept.tee(DIGEST, lambda: _source(bytes(damaged)))()
    with pytest.raises(DigestMismatch):
        _read_all(stream)
    kept.close()
    assert kept.path(DIGEST) is None
    assert list((tmp_path / "kept").iterdir()) == []


def test_a_read_all_at_once_is_kept(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    with kept.tee(DIGEST, _source)() as stream:
        assert stream.read() == DATA
    path = kept.path(DIGEST)
    assert path is not None and Digest.of_bytes(path.read_bytes()) == DIGEST


def test_adopt_links_a_downloaded_file(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    download = tmp_path / "download"
    download.write_bytes(DATA)
    kept.adopt(DIGEST, download)
    download.unlink()  # the prefetcher removes its scratch file: the kept link stays
    path = kept.path(DIGEST)
    assert path is not None and path.read_bytes() == DATA


def test_no_room_to_keep_still_reads_the_source(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    (tmp_path / "kept").rmdir()  # mkstemp fails: the build reads on, the output will fetch it again
    assert _read_all(kept.tee(DIGEST, _source)()) == DATA
    assert kept.path(DIGEST) is None


def test_two_reads_of_one_blob_at_once_keep_it_whole(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    first, second = kept.tee(DIGEST, _source)(), kept.tee(DIGEST, _source)()
    with first, second:  # interleaved reads: two writers of the same digest, both complete
        while True:
            a, b = first.read(1 << 18), second.read(1 << 18)
            if not a and not b:
                break
    kept.close()
    path = kept.path(DIGEST)
    assert path is not None and path.read_bytes() == DATA
    assert [p.name for p in (tmp_path / "kept").iterdir()] == [path.name]


def test_a_kept_copy_that_cannot_be_finished_is_dropped_quietly(tmp_path: Path) -> None:
    kept = KeptBlobs(tmp_path / "kept")
    with kept.tee(DIGEST, _source)() as stream:
        assert len(stream.read(1 << 20)) == 1 << 20
        shutil.rmtree(tmp_path / "kept")  # the rename into place will fail: the read must not
        rest = _read_all(stream)
    assert len(rest) == len(DATA) - (1 << 20)
    kept.close()
    assert kept.path(DIGEST) is None
