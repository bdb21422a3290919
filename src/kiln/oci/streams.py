"""The uncompressed side of a layer blob, with decompression failures turned into kiln errors."""

from __future__ import annotations

import io
import zlib
from typing import BinaryIO

from kiln.compression import Compression, decompress
from kiln.digest import CHUNK, Digest
from kiln.errors import KilnError, LayerError


def _decode_errors() -> tuple[type[BaseException], ...]:
    """What gzip (stdlib or isal) and zstd decoders raise on bytes they cannot decode."""
    errors: list[type[BaseException]] = [OSError, EOFError, ValueError, zlib.error]
    try:
        from isal.isal_zlib import error as isal_error

        errors.append(isal_error)  # type: ignore[arg-type]  # the stub calls the class an instance
    except ImportError:  # pragma: no cover - isal is a declared dependency
        pass
    try:
        from zstandard import ZstdError

        errors.append(ZstdError)
    except ImportError:  # pragma: no cover - zstandard is a declared dependency
        pass
    return tuple(errors)


_DECODE_ERRORS = _decode_errors()


class UncompressedStream(io.RawIOBase):
    """Decompresses ``source`` as it is read.

    Why the care: gzip and zstd decoders may stop before the end of the blob (trailing bytes, end of
    frame), and a verifying source only checks its digest at EOF. So at the end of the uncompressed data
    the rest of the blob is drained, and a decoder error first drains the blob too: a corrupt blob is
    then reported as the DigestMismatch it is, anything else as a LayerError naming the layer.
    """

    def __init__(self, digest: Digest, source: BinaryIO, compression: Compression | None) -> None:
        self._digest = digest
        self._source = source
        self._inner = decompress(source, compression)

    @classmethod
    def open(cls, digest: Digest, source: BinaryIO, compression: Compression | None) -> BinaryIO:
        return io.BufferedReader(cls(digest, source, compression), CHUNK)  # type: ignore[return-value]

    def readable(self) -> bool:
        return True

    def readinto(self, buf: bytearray | memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buf))
        except KilnError:
            raise
        except _DECODE_ERRORS as err:
            self._drain_source()
            raise LayerError(
                f"layer {self._digest} does not decompress: {err}",
                hint="the blob is damaged; pull it again (or clear the cache holding it)",
            ) from None
        if not data:
            self._drain_source()
            return 0
        buf[: len(data)] = data
        return len(data)

    def _drain_source(self) -> None:
        if self._inner is self._source:
            return
        try:
            while self._source.read(CHUNK):
                pass
        except (OSError, ValueError):
            pass  # already closed by the decoder; nothing left to verify through it

    def close(self) -> None:
        if not self.closed:
            try:
                self._inner.close()
            finally:
                if self._inner is not self._source:
                    self._source.close()
        super().close()
