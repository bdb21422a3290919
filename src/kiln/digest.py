"""Content digests (``algorithm:hex``) and readers that hash while streaming."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import IO, BinaryIO

from kiln.errors import DigestMismatch, KilnError

_ALGORITHMS = {"sha256": 64, "sha384": 96, "sha512": 128}
_HEX = re.compile(r"^[a-f0-9]+$")
CHUNK = 1 << 20


@dataclass(frozen=True, order=True)
class Digest:
    """An OCI content digest such as ``sha256:abc...``; validated on construction."""

    algorithm: str
    hex: str

    def __post_init__(self) -> None:
        length = _ALGORITHMS.get(self.algorithm)
        if length is None:
            raise KilnError(f"unsupported digest algorithm {self.algorithm!r}", hint="use sha256")
        if len(self.hex) != length or not _HEX.match(self.hex):
            raise KilnError(f"invalid {self.algorithm} digest {self.hex!r}")

    @classmethod
    def parse(cls, text: str) -> Digest:
        algorithm, sep, hexpart = text.partition(":")
        if not sep:
            raise KilnError(f"invalid digest {text!r}", hint="expected algorithm:hex, e.g. sha256:<64 hex>")
        return cls(algorithm, hexpart)

    @classmethod
    def of_bytes(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        return cls(algorithm, hashlib.new(algorithm, data).hexdigest())

    @classmethod
    def of_stream(cls, stream: IO[bytes], algorithm: str = "sha256") -> tuple[Digest, int]:
        """Hash a stream to its end; returns the digest and the byte count."""
        h = hashlib.new(algorithm)
        size = 0
        while chunk := stream.read(CHUNK):
            h.update(chunk)
            size += len(chunk)
        return cls(algorithm, h.hexdigest()), size

    def hasher(self) -> hashlib._Hash:
        return hashlib.new(self.algorithm)

    @property
    def short(self) -> str:
        return self.hex[:12]

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class HashingWriter:
    """Counts and hashes what passes through to ``sink`` (a sha256 by default)."""

    def __init__(self, sink: IO[bytes] | None = None, algorithm: str = "sha256") -> None:
        self._sink = sink
        self._hash = hashlib.new(algorithm)
        self._algorithm = algorithm
        self.size = 0

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        if self._sink is not None:
            self._sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self._sink is not None:
            self._sink.flush()

    def digest(self) -> Digest:
        return Digest(self._algorithm, self._hash.hexdigest())


class VerifyingReader:
    """Reads ``stream`` while hashing; at EOF raises DigestMismatch on a wrong digest or size.

    Nothing read from it may be trusted until EOF has been reached without an error.
    """

    def __init__(self, stream: IO[bytes] | BinaryIO, expected: Digest, size: int | None = None) -> None:
        self._stream = stream
        self._expected = expected
        self._size = size
        self._hash = expected.hasher()
        self._read = 0
        self._done = False

    def read(self, n: int = -1) -> bytes:
        data = self._stream.read(n) if n is not None and n >= 0 else self._stream.read()
        if data:
            self._hash.update(data)
            self._read += len(data)
            if self._size is not None and self._read > self._size:
                raise DigestMismatch(str(self._expected), f"more than {self._size} bytes", "blob size")
        if not data or (n is None or n < 0):
            self._finish()
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        if self._size is not None and self._read != self._size:
            raise DigestMismatch(f"{self._size} bytes", f"{self._read} bytes", "blob size")
        actual = Digest(self._expected.algorithm, self._hash.hexdigest())
        if actual != self._expected:
            raise DigestMismatch(str(self._expected), str(actual))

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()

    def __enter__(self) -> VerifyingReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
