"""A stage's filesystem on disk: the base image unpacked, a snapshotter over it, layers committed from it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kiln.compression import Compression
from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import WrittenLayer
from kiln.fs.unpack import unpack_layers
from kiln.oci import FileLayer, Layer, mediatypes
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.select import open_snapshotter
from kiln.snapshot.walk import Mode


class StageRoot:
    """One stage's root directory under kiln's work dir."""

    def __init__(self, work: Path, ignore: IgnoreList, mode: Mode, extract_retries: int = 0) -> None:
        self.work = work
        self.base = work / "rootfs"
        self.layers_dir = work / "layers"
        self.ignore = ignore
        self.mode = mode
        self.extract_retries = extract_retries
        self.base.mkdir(parents=True, exist_ok=True)
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        self._snap: Snapshotter | None = None
        self._count = 0

    def unpack(self, layers: Sequence[Layer]) -> None:
        """Apply the base image's layers; a layer that fails part-way is fetched again (--image-fs-extract-retry)."""
        openers = [layer.open_compressed for layer in layers]
        unpack_layers(self.base, openers, retries=self.extract_retries)  # type: ignore[arg-type]

    def start(self) -> Path:
        self._snap = open_snapshotter(self.base, self.work / "snap", self.ignore, mode=self.mode)
        self._snap.start()
        return self._snap.root

    @property
    def root(self) -> Path:
        if self._snap is None:
            raise RuntimeError("StageRoot.start() was not called")
        return self._snap.root

    def commit(self, compression: str, level: int, mtime: int | None, docker: bool) -> FileLayer | None:
        """The changes since the last commit as a layer on disk; None when nothing changed."""
        if self._snap is None:
            raise RuntimeError("StageRoot.start() was not called")
        self._count += 1
        kind: Compression = "zstd" if compression == "zstd" and not docker else "gzip"
        written: WrittenLayer | None = self._snap.take(
            self.layers_dir / f"layer-{self._count}", kind, level, mtime
        )
        if written is None:
            return None
        media_type = mediatypes.layer_media_type(written.compression, docker)
        return FileLayer(written.path, written.digest, written.diff_id, written.size, media_type)

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()
