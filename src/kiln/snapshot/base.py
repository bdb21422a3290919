"""The snapshotter interface: run steps on a root, then turn what they changed into a layer."""

from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path

from kiln.compression import Compression
from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Entry, WrittenLayer, write_layer


class Snapshotter(ABC):
    """One stage's root filesystem and the record of what changed since the last snapshot."""

    def __init__(self, ignore: IgnoreList) -> None:
        self.ignore = ignore

    @property
    @abstractmethod
    def root(self) -> Path:
        """Where the stage's filesystem is visible and where steps change it."""

    @abstractmethod
    def changes(self, mode: str | None = None) -> list[Entry]:
        """What changed since the previous snapshot (or since ``start``), and mark it as seen.

        ``mode`` overrides how a comparing snapshotter decides what changed, for this snapshot only
        (``--use-new-run``: ``time`` after RUN); one that knows its changes without comparing
        (overlay: the upper directory) ignores it.
        """

    def accept(self) -> None:
        """Mark every change so far as seen without a layer (they are in the image already: cached layers)."""
        self.changes()

    def start(self) -> None:  # noqa: B027 - optional hook
        """Called once after the base image is in place, before the first step."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release mounts and scratch space; the root must stay readable until then."""

    def take(
        self,
        out_path: Path,
        compression: Compression = "gzip",
        level: int = -1,
        mtime: int | None = None,
        threads: int = 2,
        *,
        mode: str | None = None,
        allow_empty: bool = False,
    ) -> WrittenLayer | None:
        """Write the changes since the last snapshot as a layer; None when nothing changed.

        ``allow_empty`` writes an empty layer instead of None (``--force-build-metadata``).
        """
        entries = [e for e in self.changes(mode) if not self.ignore.ignored(e.path)]
        if not entries and not allow_empty:
            return None
        return write_layer(entries, out_path, compression, level, mtime, threads)
