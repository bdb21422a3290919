"""A stage's filesystem on disk: the base image unpacked, a snapshotter over it, layers committed from it.

Two places for it: a directory under kiln's work dir (``StageRoot``, for --isolation=chroot, where
RUN is chrooted into it), or ``/`` of kiln's own container (``InplaceRoot``, kaniko's model for
unprivileged pods: RUN executes directly, so the image must be where the command looks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import BinaryIO, Protocol

from kiln.compression import Compression
from kiln.fs.clear import clear_root
from kiln.fs.ignore import IgnoreList
from kiln.fs.kept import KeptBlobs
from kiln.fs.prefetch import DEFAULT_WORKERS, prefetch
from kiln.fs.tarwriter import WrittenLayer
from kiln.fs.unpack import UnpackOptions, unpack_layers
from kiln.oci import FileLayer, Image, Layer, mediatypes
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.select import open_snapshotter
from kiln.snapshot.walk import Mode, WalkSnapshotter

log = logging.getLogger(__name__)


class StageRoot:
    """One stage's root directory under kiln's work dir.

    ``kept``: where the base's compressed layers are kept while they are unpacked, when the build has a
    local output that needs them again (kiln.fs.kept). Cached layers a step reuses are not applied at
    once but ``defer``red: nothing may need them on disk (a rebuild whose remaining steps all hit the
    cache), and ``ready()`` applies them before anything reads or changes the tree.
    """

    def __init__(
        self,
        work: Path,
        ignore: IgnoreList,
        mode: Mode,
        extract_retries: int = 0,
        base: Path | None = None,
        kept: KeptBlobs | None = None,
    ) -> None:
        self.work = work
        self.kept = kept
        self.base = base or work / "rootfs"
        self.layers_dir = work / "layers"
        self.ignore = ignore
        self.mode = mode
        self.extract_retries = extract_retries
        self.base.mkdir(parents=True, exist_ok=True)
        self.layers_dir.mkdir(parents=True, exist_ok=True)
        self._snap: Snapshotter | None = None
        self._count = 0
        self._deferred: list[Layer] = []

    def unpack(self, layers: Sequence[Layer]) -> None:
        """Apply the base image's layers; a layer that fails part-way is fetched again (--image-fs-extract-retry).

        Layers not on local disk are downloaded ahead, concurrently, while earlier ones are applied (very
        large ones stream in their turn instead).
        """
        openers = [layer.open_compressed for layer in layers]
        workers = 0 if all(isinstance(layer, FileLayer) for layer in layers) else DEFAULT_WORKERS
        sizes = [layer.size for layer in layers]
        keep = None
        if self.kept is not None:
            keep = self.kept.for_layers([None if isinstance(x, FileLayer) else x.digest for x in layers])
        with prefetch(openers, self.work / "prefetch", workers, sizes, keep=keep) as ahead:  # type: ignore[arg-type]
            unpack_layers(self.base, ahead, retries=self.extract_retries)

    def defer(self, layer: Layer) -> None:
        """A cached layer that replaces a step: applied by ``ready()``, only if something needs the tree."""
        self._deferred.append(layer)

    def ready(self) -> Path:
        """The stage's tree with every deferred layer applied (each marked seen, so no snapshot repeats it)."""
        root = self.root
        if self._deferred:
            assert self._snap is not None
            log.info("applying %d cached layers the next step needs on disk", len(self._deferred))
            for layer in self._deferred:
                opener = self._kept_opener(layer)
                unpack_layers(root, [opener], retries=self.extract_retries, options=self._unpack_options())  # type: ignore[list-item]
            self._deferred.clear()
            self._snap.accept()  # what the cached layers changed is in the image already
        return root

    def _unpack_options(self) -> UnpackOptions | None:
        return None

    def _kept_opener(self, layer: Layer) -> Callable[[], BinaryIO]:
        """The layer's stream, keeping a copy for the outputs when they need one."""
        if self.kept is None or isinstance(layer, FileLayer):
            return layer.open_compressed
        return self.kept.tee(layer.digest, layer.open_compressed)  # type: ignore[return-value,arg-type]

    def start(self) -> Path:
        self._snap = open_snapshotter(self.base, self.work / "snap", self.ignore, mode=self.mode)
        self._snap.start()
        return self._snap.root

    def files(self, image: Image) -> Path:
        """Where the finished stage's files can be read (``COPY --from``) until ``close()``."""
        return self.ready()

    @property
    def root(self) -> Path:
        if self._snap is None:
            raise RuntimeError("StageRoot.start() was not called")
        return self._snap.root

    def commit(
        self,
        compression: str,
        level: int,
        mtime: int | None,
        docker: bool,
        *,
        mode: Mode | None = None,
        allow_empty: bool = False,
    ) -> FileLayer | None:
        """The changes since the last commit as a layer on disk; None when nothing changed.

        ``mode`` overrides the walk's comparison for this commit (``--use-new-run``: ``time`` after
        RUN); ``allow_empty`` makes an empty layer rather than None (``--force-build-metadata``).
        """
        if self._snap is None:
            raise RuntimeError("StageRoot.start() was not called")
        if self._deferred:
            raise RuntimeError("StageRoot.ready() was not called before the step changed the tree")
        self._count += 1
        kind: Compression = "zstd" if compression == "zstd" and not docker else "gzip"
        written: WrittenLayer | None = self._snap.take(
            self.layers_dir / f"layer-{self._count}", kind, level, mtime, mode=mode, allow_empty=allow_empty
        )
        if written is None:
            return None
        media_type = mediatypes.layer_media_type(written.compression, docker)
        return FileLayer(written.path, written.digest, written.diff_id, written.size, media_type)

    def close(self) -> None:
        if self._snap is not None:
            self._snap.close()


class InplaceRoot(StageRoot):
    """The stage's root is ``/``: the base is unpacked over it, snapshots walk it past the ignore list.

    ``clear`` empties ``/`` first (every stage but the first one built, as kaniko's DeleteFilesystem
    between stages), except ignored paths. Overlay cannot be mounted on ``/``, so snapshots always walk.
    Once the next stage clears ``/``, a finished stage's files exist only in its image: ``files()``
    unpacks that image into the stage's work dir the first time a later step reads it.
    """

    def __init__(
        self,
        work: Path,
        ignore: IgnoreList,
        mode: Mode,
        extract_retries: int = 0,
        *,
        clear: bool,
        kept: KeptBlobs | None = None,
    ) -> None:
        super().__init__(work, ignore, mode, extract_retries, base=Path("/"), kept=kept)
        self.clear = clear
        self._saved: Path | None = None

    def unpack(self, layers: Sequence[Layer]) -> None:
        if self.clear:
            log.info("clearing / for the next stage (ignored paths stay)")
            clear_root("/", self.ignore)
            self.clear = False
        openers = [self._kept_opener(layer) for layer in layers]
        unpack_layers(self.base, openers, retries=self.extract_retries, options=self._unpack_options())  # type: ignore[arg-type]

    def _unpack_options(self) -> UnpackOptions:
        return UnpackOptions(skip=self.ignore)  # what kiln runs from, mounts, ... stay as they are

    def start(self) -> Path:
        if self.clear:  # FROM scratch: nothing to unpack, but the previous stage's files must go
            self.unpack(())
        self._snap = WalkSnapshotter(self.base, self.ignore, self.mode)
        self._snap.start()
        return self._snap.root

    def files(self, image: Image) -> Path:
        if self._saved is None:
            saved = self.work / "saved"
            saved.mkdir(parents=True, exist_ok=True)
            openers = [self._kept_opener(layer) for layer in image.layers()]
            unpack_layers(saved, openers, retries=self.extract_retries)  # type: ignore[arg-type]
            self._saved = saved
        return self._saved


class RootFactory(Protocol):
    """Makes the root of the next stage to build, given that stage's work dir."""

    def __call__(self, work: Path) -> StageRoot: ...


class InplaceRoots:
    """``InplaceRoot`` for each stage: the first one built keeps the container's ``/``, later ones clear it."""

    def __init__(
        self, ignore: IgnoreList, mode: Mode, extract_retries: int = 0, kept: KeptBlobs | None = None
    ) -> None:
        self.ignore = ignore
        self.mode = mode
        self.extract_retries = extract_retries
        self.kept = kept
        self._used = False

    def __call__(self, work: Path) -> StageRoot:
        root = InplaceRoot(
            work, self.ignore, self.mode, self.extract_retries, clear=self._used, kept=self.kept
        )
        self._used = True
        return root
