"""Compressed blobs kept while the build first reads them, so local outputs need not fetch them again.

Why: a base image's layers (and cached layers) stream from the registry straight into the unpacker and
were gone afterwards; an ``--oci-layout-path`` or ``--tar-path`` output then downloaded every one of them a
second time (a 2 GiB base layer: 8 s of a 17 s build). ``KeptBlobs.tee`` copies the bytes to a file while
the first reader consumes them, in a thread of its own (the write runs on the spare core and releases
the GIL), and ``adopt`` links a file the prefetcher already downloaded.

Only complete reads are kept: a kept stream's source verifies the blob's digest and size when it reaches
the end (a registry or layout stream raises ``DigestMismatch`` there), so a stream that failed, or was
closed before its end, leaves nothing behind. A kept file is fsynced in its writer thread as soon as it is
complete, so an output that links it later finds it already on disk.
"""

from __future__ import annotations

import contextlib
import logging
import os
import queue
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO

from kiln.digest import Digest

log = logging.getLogger(__name__)

Opener = Callable[[], IO[bytes]]

_QUEUED_CHUNKS = 8  # chunks in flight between the reader and the writer thread (memory stays bounded)
_DONE = b""  # end of a complete read: the writer publishes the file
_ABORT = None  # the read failed or stopped early: the writer discards the file


class KeptBlobs:
    """A directory of blobs kept by digest during one build; ``path()`` is where a complete one is."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self._writers: dict[Digest, list[threading.Thread]] = {}
        self._lock = threading.Lock()

    def _final(self, digest: Digest) -> Path:
        return self.directory / f"{digest.algorithm}-{digest.hex}"

    def path(self, digest: Digest) -> Path | None:
        """The kept blob's file (waiting for its writer to finish), or None when it was not kept."""
        with self._lock:
            writers = list(self._writers.get(digest, ()))
        for writer in writers:
            writer.join()
        final = self._final(digest)
        return final if final.is_file() else None

    def tee(self, digest: Digest, opener: Opener) -> Opener:
        """``opener`` whose stream also keeps a copy of the blob once read to its end.

        Once the blob is kept, the opener reads the kept file instead of the source.
        """

        def open_kept() -> IO[bytes]:
            with self._lock:
                busy = any(w.is_alive() for w in self._writers.get(digest, ()))
            final = self._final(digest)
            if not busy and final.is_file():
                return open(final, "rb")
            return self._keeping(digest, opener())

        return open_kept

    def _keeping(self, digest: Digest, source: IO[bytes]) -> IO[bytes]:
        try:
            fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=".partial-")
        except OSError as err:  # no room to keep it: the output fetches it again, the build goes on
            log.debug("not keeping blob %s: %s", digest.short, err)
            return source
        chunks: queue.Queue[bytes | None] = queue.Queue(maxsize=_QUEUED_CHUNKS)
        writer = threading.Thread(
            target=_write_kept,
            args=(fd, Path(tmp), self._final(digest), chunks),
            name=f"kiln-keep-{digest.short}",
            daemon=True,
        )
        with self._lock:
            self._writers.setdefault(digest, []).append(writer)
        writer.start()
        return _TeeReader(source, chunks)  # type: ignore[return-value]

    def adopt(self, digest: Digest, path: Path) -> None:
        """Keep ``path`` (a complete, verified download of the blob) by linking it; best effort."""
        final = self._final(digest)
        if final.is_file():
            return
        try:
            os.link(path, final)
        except FileExistsError:
            return
        except OSError as err:
            log.debug("not keeping blob %s: %s", digest.short, err)
            return
        fsync = threading.Thread(target=_fsync_path, args=(final,), name="kiln-keep-sync", daemon=True)
        with self._lock:
            self._writers.setdefault(digest, []).append(fsync)
        fsync.start()

    def for_layers(self, digests: Sequence[Digest | None]) -> LayerKeeper:
        """A ``kiln.fs.prefetch.Keeper`` for one image's layers (None: a layer already on local disk)."""
        return LayerKeeper(self, tuple(digests))

    def close(self) -> None:
        """Wait for every writer (their files are complete or gone afterwards)."""
        with self._lock:
            writers = [w for group in self._writers.values() for w in group]
        for writer in writers:
            writer.join()


class LayerKeeper:
    """Keeps an image's layers by their index in the image (what the prefetcher knows them by)."""

    def __init__(self, kept: KeptBlobs, digests: tuple[Digest | None, ...]) -> None:
        self.kept = kept
        self.digests = digests

    def tee(self, index: int, opener: Opener) -> Opener:
        digest = self.digests[index]
        return opener if digest is None else self.kept.tee(digest, opener)

    def adopt(self, index: int, path: Path) -> None:
        digest = self.digests[index]
        if digest is not None:
            self.kept.adopt(digest, path)


class _TeeReader:
    """Hands every chunk read from ``source`` to the writer; tells it whether the read completed."""

    def __init__(self, source: IO[bytes], chunks: queue.Queue[bytes | None]) -> None:
        self._source = source
        self._chunks: queue.Queue[bytes | None] | None = chunks

    def read(self, n: int = -1) -> bytes:
        try:
            data = self._source.read(n) if n is not None and n >= 0 else self._source.read()
        except BaseException:
            self._finish(_ABORT)
            raise
        if self._chunks is not None:
            if data:
                self._chunks.put(data)
            if not data or n is None or n < 0:  # the source reached its end without raising: verified
                self._finish(_DONE)
        return data

    def readinto(self, buf: bytearray | memoryview) -> int:
        data = self.read(len(buf))
        buf[: len(data)] = data
        return len(data)

    def readable(self) -> bool:
        return True

    def _finish(self, last: bytes | None) -> None:
        if self._chunks is not None:
            self._chunks.put(last)
            self._chunks = None

    def close(self) -> None:
        try:
            self._source.close()
        finally:
            self._finish(_ABORT)  # a no-op after a complete read

    def __enter__(self) -> _TeeReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _write_kept(fd: int, tmp: Path, final: Path, chunks: queue.Queue[bytes | None]) -> None:
    """The writer thread: chunks to ``tmp``; on a complete read, fsync and rename to ``final``.

    It always drains the queue to its last item, whatever fails, so the reader never blocks on it; a
    failure only means the blob is not kept (the output then fetches it from its source).
    """
    out = os.fdopen(fd, "wb")
    ok = True
    last: bytes | None = None
    while True:
        last = chunks.get()
        if last is None or last == _DONE:
            break
        if ok:
            try:
                out.write(last)
            except OSError as err:
                log.debug("not keeping %s: %s", final.name, err)
                ok = False
    try:
        if ok and last == _DONE:
            out.flush()
            os.fsync(out.fileno())
            out.close()
            os.replace(tmp, final)
            return
    except OSError as err:
        log.debug("not keeping %s: %s", final.name, err)
    with contextlib.suppress(OSError):
        out.close()
    with contextlib.suppress(OSError):
        os.unlink(tmp)


def _fsync_path(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
