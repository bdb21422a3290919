"""Streams for blob transfers: resumable downloads and sized upload bodies sent in big writes."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import IO, BinaryIO
from urllib.parse import quote

import requests
import urllib3

from kiln.digest import CHUNK
from kiln.errors import RegistryError

log = logging.getLogger(__name__)


class ResumingBody:
    """A blob download that, when the connection drops, asks again from where it stopped (HTTP Range).

    Up to ``retries`` resumptions (``--image-download-retry``); the bytes are hashed by the VerifyingReader
    around it, so a resumed download is still checked end to end.
    """

    def __init__(
        self,
        fetch: Callable[[int], requests.Response],
        retries: int,
        what: str,
        sleep: Callable[[float], None],
        base_delay: float,
    ) -> None:
        self._fetch = fetch
        self._retries = retries
        self._what = what
        self._sleep = sleep
        self._base_delay = base_delay
        self._offset = 0
        self._at_end = False
        self._resp = self._open(0)

    def _open(self, offset: int) -> requests.Response:
        resp = self._fetch(offset)
        resp.raw.decode_content = False
        if offset and resp.status_code == 416:  # cut after the last byte: nothing is left to fetch
            resp.close()  # (distribution answers 416 with a Content-Length it never sends: do not read it)
            self._at_end = True
            return resp
        if offset and resp.status_code == 200:  # the server ignored Range: skip what we already have
            remaining = offset
            while remaining:
                skipped = resp.raw.read(min(CHUNK, remaining))
                if not skipped:
                    break
                remaining -= len(skipped)
        return resp

    def read(self, n: int = -1) -> bytes:
        attempt = 0
        while True:
            if self._at_end:
                return b""  # the VerifyingReader around this checks size and digest as for any EOF
            try:
                data: bytes = self._resp.raw.read(n if n is not None and n >= 0 else None)
            except (requests.RequestException, OSError, urllib3.exceptions.HTTPError) as err:
                self._resp.close()
                if attempt >= self._retries:
                    raise RegistryError(
                        f"{self._what}: download interrupted after {self._offset} bytes ({type(err).__name__})",
                        code="CONNECTION",
                        temporary=True,
                        hint="retry, or raise --image-download-retry",
                    ) from None
                delay = self._base_delay * (2**attempt)
                attempt += 1
                log.info(
                    "%s: connection lost at byte %d, resuming (%d/%d)",
                    self._what,
                    self._offset,
                    attempt,
                    self._retries,
                )
                self._sleep(delay)
                self._resp = self._open(self._offset)
                continue
            self._offset += len(data)
            return data

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._resp.close()


class SizedStream:
    """A stream with a known length (so requests sends Content-Length, not chunked encoding), sent in big writes."""

    def __init__(self, stream: IO[bytes] | BinaryIO, size: int) -> None:
        self._stream = stream
        self._size = size

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        # 1 MiB writes: http.client's default 8 KiB reads of a file-like body halve upload throughput
        while chunk := self._stream.read(CHUNK):
            yield chunk


def with_query(url: str, params: dict[str, str]) -> str:
    sep = "&" if "?" in url else "?"
    return url + sep + "&".join(f"{quote(k)}={quote(v, safe='')}" for k, v in params.items())


def read_exactly(stream: IO[bytes] | BinaryIO, n: int) -> bytes:
    """``n`` bytes (fewer only at EOF), in one allocation when the stream delivers them at once (a file)."""
    first = stream.read(n)
    if len(first) == n or not first:
        return first
    parts, total = [first], len(first)
    while total < n:
        data = stream.read(min(CHUNK, n - total))
        if not data:
            break
        parts.append(data)
        total += len(data)
    return b"".join(parts)
