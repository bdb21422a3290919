"""Shared by every archive scheme: spool the download to disk, then unpack it with the fs engine's extractor.

Why spool first: object-store SDKs retry and resume by range, which needs a seekable sink, and a half-read
network stream must not leave a half-extracted context behind. Extraction goes through
``kiln.fs.unpack.apply_layer``, which refuses ``..``, absolute names and links out of the root, so a hostile
context tarball cannot write outside the context directory.

The extractor reads every byte of the archive (past the tar's end marker to EOF), and a hash is taken of
those bytes on the way: the archive's sha256 for the provenance statement, without a second read.
"""

from __future__ import annotations

import errno
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, BinaryIO

from kiln.compression import peek
from kiln.context.base import ContextSource, ContextSpec, apply_sub_path
from kiln.digest import Digest, HashingWriter
from kiln.errors import ContextError, KilnError
from kiln.fs.unpack import UnpackOptions, apply_layer

CHUNK = 1 << 20
ARCHIVE_NAME = "context.tar.gz"
ROOT_NAME = "context"


def copy_stream(source: IO[bytes], sink: IO[bytes]) -> int:
    """Copy in 1 MiB chunks (never the whole archive in memory); the number of bytes copied."""
    total = 0
    while chunk := source.read(CHUNK):
        sink.write(chunk)
        total += len(chunk)
    return total


class _Hashed:
    """Reads ``stream`` and feeds every byte read into ``hasher`` (the archive, as the extractor sees it)."""

    def __init__(self, stream: IO[bytes], hasher: HashingWriter) -> None:
        self._stream = stream
        self._hasher = hasher

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n)
        self._hasher.write(data)
        return data


def extract_tar_gz(stream: IO[bytes], dest: Path, label: str) -> Digest:
    """Unpack a gzip-compressed tar from ``stream`` into ``dest``; ``label`` names it in errors. Returns the
    sha256 of the archive's bytes (every byte of ``stream``, hashed as the extractor read them)."""
    hasher = HashingWriter()
    hashed = _Hashed(stream, hasher)
    kind, reader = peek(hashed)  # type: ignore[arg-type]  # only read() is used
    if kind != "gzip":
        raise ContextError(
            f"build context {label} is not a gzip-compressed tar archive",
            hint="create it with: tar -czf context.tar.gz -C DIR .",
        )
    dest.mkdir(parents=True, exist_ok=True)
    # Device nodes have no place in a build context; ownership is kept as root would (COPY --chown decides later).
    options = UnpackOptions(devices=False)
    try:
        apply_layer(dest, reader, "gzip", options)
    except KilnError as err:
        raise ContextError(f"build context {label}: {err.message}", hint=err.hint) from None
    while hashed.read(CHUNK):  # apply_layer reads to EOF already; this only guards the digest's completeness
        pass
    return hasher.digest()


@dataclass(frozen=True)
class Extracted:
    """A fetched archive context: the (sub-path) root it was unpacked to and the archive's sha256."""

    root: Path
    digest: Digest


def spool_and_extract(
    workdir: Path, label: str, download: Callable[[BinaryIO], object], sub_path: str
) -> Extracted:
    """Run ``download`` into a file below ``workdir``, extract it; the (sub-path) context root and the digest
    of the archive (hashed while extracting: an SDK may seek and rewrite the spool file while downloading)."""
    archive = workdir / ARCHIVE_NAME
    root = workdir / ROOT_NAME
    try:
        try:
            with open(archive, "wb") as sink:
                download(sink)
        except OSError as err:
            if err.errno in (errno.ENOSPC, errno.EDQUOT):
                raise ContextError(f"no space left while downloading build context {label}") from None
            raise
        with open(archive, "rb") as source:
            digest = extract_tar_gz(source, root, label)
    finally:
        archive.unlink(missing_ok=True)  # a failed or finished download never lingers beside the context
    return Extracted(apply_sub_path(root, sub_path), digest)


class ArchiveSource(ContextSource):
    """A context that arrives as a gzip-compressed tar (tar, s3, gs, azure, https): once unpacked, its
    ``archive_digest`` is the archive's sha256."""

    _spec: ContextSpec

    def spooled(self, workdir: Path, label: str, download: Callable[[BinaryIO], object]) -> Path:
        """:func:`spool_and_extract` with this context's sub-path; records the archive's digest."""
        extracted = spool_and_extract(workdir, label, download, self._spec.sub_path)
        self.archive_digest = extracted.digest
        return extracted.root
