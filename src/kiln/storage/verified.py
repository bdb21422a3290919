"""Blob streams from local storage that are checked against their digest even when not read to the end.

A reader such as a tar extractor stops at the end-of-archive marker and never sees the last bytes of the
blob (tar padding, the gzip trailer), so a plain VerifyingReader would never reach EOF and never check.
Used in a ``with`` block, this stream reads what is left when the block ends without an error and raises
DigestMismatch then; after an error it only closes, so the first error is the one reported.
"""

from __future__ import annotations

from typing import IO, BinaryIO

from kiln.digest import CHUNK, Digest, VerifyingReader


class VerifiedBlob(VerifyingReader):
    def __init__(self, stream: IO[bytes] | BinaryIO, expected: Digest, size: int | None = None) -> None:
        super().__init__(stream, expected, size)

    def verify_rest(self) -> None:
        """Read to the end (hashing) so a damaged blob raises DigestMismatch."""
        while self.read(CHUNK):
            pass

    def __enter__(self) -> VerifiedBlob:
        return self

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                self.verify_rest()
        finally:
            self.close()


def open_verified(stream: IO[bytes] | BinaryIO, expected: Digest, size: int | None = None) -> BinaryIO:
    return VerifiedBlob(stream, expected, size)  # type: ignore[return-value]


__all__ = ["VerifiedBlob", "open_verified"]
