"""Download a base image's later layers while the first one is being unpacked.

Why: layers must be applied in order, but fetching them need not wait. The first layer streams
straight into the unpacker (no extra copy); layers 2..n are copied to files in a scratch dir by a
bounded pool of threads while that happens, and each is handed to the unpacker, in order, as soon as
its download is complete. Bytes go from socket to file in fixed-size chunks, so memory stays flat
whatever the layer sizes. A download that failed is not fatal: that layer is opened from the source
again when its turn comes (which is also what a retry of a half-applied layer does).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import IO

CHUNK = 1 << 20
DEFAULT_WORKERS = 3

Opener = Callable[[], IO[bytes]]


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

    def __init__(self, source: Opener, future: Future[Path]) -> None:
        self.source = source
        self.future = future
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
        os.unlink(path)  # the open file stays readable; nothing is left behind
        return stream


@contextlib.contextmanager
def prefetch(
    openers: Sequence[Opener], scratch: Path, workers: int = DEFAULT_WORKERS
) -> Iterator[list[Opener]]:
    """``openers`` with layers 2..n fetched ahead into ``scratch`` (removed on exit) by ``workers`` threads."""
    if len(openers) < 2 or workers < 1:
        yield list(openers)
        return
    scratch.mkdir(parents=True, exist_ok=True)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="kiln-prefetch")
    futures = [pool.submit(_download, opener, scratch) for opener in openers[1:]]
    try:
        yield [openers[0], *(_Prefetched(o, f) for o, f in zip(openers[1:], futures, strict=True))]
    finally:
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        shutil.rmtree(scratch, ignore_errors=True)
