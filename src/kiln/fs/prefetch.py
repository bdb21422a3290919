"""Download a base image's later layers while the first one is being unpacked.

Why: layers must be applied in order, but fetching them need not wait. The first layer streams
straight into the unpacker (no extra copy); layers 2..n are copied to files in a scratch dir by a
bounded pool of threads while that happens, and each is handed to the unpacker, in order, as soon as
its download is complete. Bytes go from socket to file in fixed-size chunks, so memory stays flat
whatever the layer sizes. A download that failed is not fatal: that layer is opened from the source
again when its turn comes (which is also what a retry of a half-applied layer does). ``keep`` is told of
each complete download before its scratch file goes (kiln.fs.kept links it for the build's outputs).
"""

from __future__ import annotations

import contextlib
import functools
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO, Protocol

CHUNK = 1 << 20
DEFAULT_WORKERS = 3
# A layer bigger than this streams into the unpacker when its turn comes instead: downloading it whole
# first would serialise its download and its unpacking (measured: +5 s on a 2 GiB layer behind busybox).
MAX_PREFETCH = 256 << 20

Opener = Callable[[], IO[bytes]]


class Keeper(Protocol):
    """Keeps the compressed layers for later (kiln.fs.kept): each layer is either streamed or fetched ahead."""

    def tee(self, index: int, opener: Opener) -> Opener:
        """``opener`` of a streamed layer, keeping a copy while it is read."""

    def adopt(self, index: int, path: Path) -> None:
        """A layer fetched ahead, complete, whose file is about to be removed."""


def _download(opener: Opener, directory: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=directory, prefix="layer-")
    try:
        with os.fdopen(fd, "wb") as out, contextlib.closing(opener()) as stream:
            while chunk := stream.read(CHUNK):
                out.write(chunk)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


class _Prefetched:
    """Opens the downloaded copy once; later calls (retries) or a failed download go to the source."""

    def __init__(self, source: Opener, future: Future[Path], keep: Callable[[Path], None] | None) -> None:
        self.source = source
        self.future = future
        self.keep = keep
        self.used = False

    def __call__(self) -> IO[bytes]:
        if self.used:
            return self.source()
        self.used = True
        try:
            path = self.future.result()
        except Exception:  # the source is asked again: its error is the one reported
            return self.source()
        stream = open(path, "rb")  # noqa: SIM115 - the caller closes it
        if self.keep is not None:
            self.keep(path)
        os.unlink(path)  # the open file stays readable; nothing is left behind
        return stream


@contextlib.contextmanager
def prefetch(
    openers: Sequence[Opener],
    scratch: Path,
    workers: int = DEFAULT_WORKERS,
    sizes: Sequence[int] | None = None,
    max_size: int = MAX_PREFETCH,
    keep: Keeper | None = None,
) -> Iterator[list[Opener]]:
    """``openers`` with layers 2..n fetched ahead into ``scratch`` (removed on exit) by ``workers`` threads.

    ``sizes`` (bytes per layer, when known): layers over ``max_size`` are not fetched ahead but streamed.
    ``keep``: told of every layer, streamed or fetched ahead (kiln.fs.kept).
    """
    ahead = [i for i in range(1, len(openers)) if sizes is None or sizes[i] <= max_size]
    if not ahead or workers < 1:
        yield [o if keep is None else keep.tee(i, o) for i, o in enumerate(openers)]
        return
    scratch.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiln-prefetch")
    futures = {i: pool.submit(_download, openers[i], scratch) for i in ahead}
    try:
        yield [
            _Prefetched(o, futures[i], None if keep is None else functools.partial(keep.adopt, i))
            if i in futures
            else (o if keep is None else keep.tee(i, o))
            for i, o in enumerate(openers)
        ]
    finally:
        for future in futures.values():
            future.cancel()
        pool.shutdown(wait=True)
        shutil.rmtree(scratch, ignore_errors=True)
