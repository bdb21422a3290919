"""A stage's filesystem on disk: the base image unpacked, a snapshotter over it, layers committed from it."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

from kiln.compression import Compression
from kiln.errors import DigestMismatch, LayerError, RegistryError
from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import WrittenLayer
from kiln.fs.unpack import apply_layer
from kiln.oci import FileLayer, Layer, mediatypes
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.walk import Mode, WalkSnapshotter

log = logging.getLogger(__name__)


def choose_snapshotter(base: Path, scratch: Path, ignore: IgnoreList, mode: Mode) -> Snapshotter:
    """overlay where this process can mount it (cost follows changed files), else kaniko's walk."""
    if os.geteuid() == 0 and overlay_supported(scratch / "probe"):
        return OverlaySnapshotter(base, scratch / "overlay", ignore)
    log.info("overlayfs is not available here: using the walk snapshotter (--snapshot-mode=%s)", mode)
    return WalkSnapshotter(base, ignore, mode)


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
        """Apply the base image's layers, retrying the whole extraction (--image-fs-extract-retry)."""
        for attempt in range(self.extract_retries + 1):
            try:
                for i, layer in enumerate(layers, 1):
                    started = time.monotonic()
                    with layer.open_compressed() as blob:
                        apply_layer(self.base, blob, mediatypes.layer_compression(layer.media_type))
                    log.debug(
                        "unpacked layer %d/%d %s in %.2fs",
                        i,
                        len(layers),
                        layer.digest.short,
                        time.monotonic() - started,
                    )
                return
            except (LayerError, DigestMismatch, RegistryError) as err:
                if attempt >= self.extract_retries:
                    raise
                delay = 2**attempt
                log.warning("extracting the base image failed (%s); retrying in %ds", err, delay)
                time.sleep(delay)
                shutil.rmtree(self.base)
                self.base.mkdir()

    def start(self) -> Path:
        self._snap = choose_snapshotter(self.base, self.work / "snap", self.ignore, self.mode)
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
