"""Layer compression: detection by magic bytes and streaming (de)compressors.

A leaf beside ``digest`` so the image model (reading layers) and the filesystem engine (writing them)
share one implementation. gzip goes through isal's igzip (several times faster than zlib) with the
stdlib as fallback; zstd through ``zstandard``.
"""

from __future__ import annotations

import gzip
import io
from typing import IO, BinaryIO, Literal

from kiln.errors import KilnError

Compression = Literal["gzip", "zstd", "none"]

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"

try:  # isal is a declared dependency; the fallback keeps a broken wheel from stopping builds
    from isal import igzip as _igzip

    HAVE_ISAL = True
except ImportError:  # pragma: no cover - exercised only without isal
    HAVE_ISAL = False


def detect(head: bytes) -> Compression:
    """The compression of a stream whose first bytes are ``head`` (4 bytes suffice)."""
    if head.startswith(GZIP_MAGIC):
        return "gzip"
    if head.startswith(ZSTD_MAGIC):
        return "zstd"
    return "none"


class _Peeked(io.RawIOBase):
    """Replays bytes already read from the head of a stream, then the rest of it."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self._head = head
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        if self._head:
            n = min(len(buf), len(self._head))
            buf[:n] = self._head[:n]
            self._head = self._head[n:]
            return n
        data = self._stream.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
        super().close()


def peek(stream: IO[bytes]) -> tuple[Compression, BinaryIO]:
    """Detect the compression of ``stream`` and return a stream that still starts at its first byte."""
    head = b""
    while len(head) < 4:
        chunk = stream.read(4 - len(head))
        if not chunk:
            break
        head += chunk
    return detect(head), io.BufferedReader(_Peeked(head, stream), 1 << 20)


def decompress(stream: IO[bytes], compression: Compression | None = None) -> BinaryIO:
    """A reader of the uncompressed bytes of ``stream``; ``None`` detects the compression."""
    if compression is None:
        compression, stream = peek(stream)
    if compression == "gzip":
        if HAVE_ISAL:
            return _igzip.IGzipFile(fileobj=stream, mode="rb")  # type: ignore[no-untyped-call,return-value]
        return gzip.GzipFile(fileobj=stream, mode="rb")  # type: ignore[return-value]
    if compression == "zstd":
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(stream, read_size=1 << 20, closefd=True)  # type: ignore[no-any-return]
    if compression == "none":
        return stream  # type: ignore[return-value]
    raise KilnError(f"unknown layer compression {compression!r}")


GZIP_BLOCK = 1 << 20  # igzip_threaded compresses fixed blocks: the bytes depend on this, not on threads


def compressor(sink: IO[bytes], kind: Compression, level: int = -1, threads: int = 2) -> IO[bytes]:
    """A writer that compresses into ``sink``; closing it flushes but leaves ``sink`` open.

    gzip output is stable across runs and thread counts (fixed block size, mtime 0); level -1 means
    kaniko's default (gzip level 1, zstd level 3).
    """
    if kind == "gzip":
        lvl = 1 if level < 0 else min(level, 3 if HAVE_ISAL else 9)
        if HAVE_ISAL:
            from isal import igzip_threaded

            return igzip_threaded.open(  # type: ignore[no-any-return,no-untyped-call]
                _NoClose(sink),
                "wb",
                compresslevel=min(lvl, 3),
                threads=max(1, threads),
                block_size=GZIP_BLOCK,
            )
        return gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=lvl, mtime=0)  # type: ignore[return-value]
    if kind == "zstd":
        import zstandard

        lvl = 3 if level < 0 else level
        return zstandard.ZstdCompressor(level=lvl).stream_writer(sink, closefd=False)  # type: ignore[no-any-return]
    if kind == "none":
        return _NoClose(sink)  # type: ignore[return-value]
    raise KilnError(f"unknown compression {kind!r}", hint="use gzip or zstd")


class _NoClose(io.RawIOBase):
    """Passes writes through and keeps the underlying file open on close."""

    def __init__(self, sink: IO[bytes]) -> None:
        self._sink = sink

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        self._sink.flush()
