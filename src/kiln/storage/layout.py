"""OCI image layout directories: write images (atomically, blobs before index.json) and read them back.

Used for ``--oci-layout-path``, the base-image cache (``--cache-dir``) and ``oci:`` cache repos, so
several writers may share one layout: blobs are content-addressed and renamed into place, and every
index.json update happens under a lock.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path
from typing import IO, BinaryIO

from kiln.digest import CHUNK, Digest, VerifyingReader
from kiln.errors import DigestMismatch, KilnError
from kiln.oci import Descriptor, Image, ImageIndex, Index, Platform, mediatypes
from kiln.oci.layer import BlobLayer, FileLayer, Layer
from kiln.storage.atomic import atomic_file, atomic_link, atomic_write, locked
from kiln.storage.verified import open_verified

LAYOUT_FILE = "oci-layout"
INDEX_FILE = "index.json"
LOCK_FILE = ".kiln.lock"
REF_NAME = "org.opencontainers.image.ref.name"
_LAYOUT_BYTES = b'{"imageLayoutVersion":"1.0.0"}'
_MAX_NESTING = 4
LAYER_WORKERS = 4


class Layout:
    """One OCI image layout directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing -------------------------------------------------------------------------------
    def init(self, fresh: bool = False) -> None:
        """Create the layout (``fresh``: with an empty index, as kaniko's --oci-layout-path does)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not (self.root / LAYOUT_FILE).exists():
            atomic_write(self.root / LAYOUT_FILE, _LAYOUT_BYTES)
        if fresh or not (self.root / INDEX_FILE).exists():
            with locked(self.root / LOCK_FILE):
                self._write_index(Index(mediatypes.OCI_INDEX, ()))

    def blob_path(self, digest: Digest) -> Path:
        return self.root / "blobs" / digest.algorithm / digest.hex

    def has_blob(self, digest: Digest, size: int | None = None) -> bool:
        try:
            actual = self.blob_path(digest).stat().st_size
        except FileNotFoundError:
            return False
        return size is None or actual == size

    def blob_is_intact(self, digest: Digest) -> bool:
        """Whether the blob file exists and hashes to its name (reads it all)."""
        try:
            with open(self.blob_path(digest), "rb") as f:
                return Digest.of_stream(f, digest.algorithm)[0] == digest
        except FileNotFoundError:
            return False

    def write_blob(
        self,
        digest: Digest,
        opener: Callable[[], IO[bytes] | BinaryIO],
        size: int | None = None,
        verify_existing: bool = False,
    ) -> None:
        """Copy a blob in, verifying its digest while streaming; present blobs are skipped.

        ``verify_existing`` re-hashes a present blob and replaces it when damaged: what a cache does after
        a read failed with DigestMismatch, since a same-sized damaged blob would otherwise stay forever.
        """
        if self.has_blob(digest, size) and (not verify_existing or self.blob_is_intact(digest)):
            return
        path = self.blob_path(digest)
        with atomic_file(path) as out, opener() as src:
            reader = VerifyingReader(src, digest, size)
            while chunk := reader.read(CHUNK):
                out.write(chunk)

    def link_blob(self, digest: Digest, path: Path, size: int) -> bool:
        """Put a local file (a layer kiln wrote or kept, its digest known) in as a blob by a hard link.

        No copy, no second hash: on the same filesystem a 2 GiB layer goes in at the cost of an fsync
        (usually already done by whoever wrote it). False when it cannot be linked (another filesystem,
        a size that does not match): the caller copies it instead.
        """
        if self.has_blob(digest, size):
            return True
        try:
            if os.stat(path).st_size != size:
                return False
            atomic_link(path, self.blob_path(digest))
        except OSError:
            return False
        return True

    def write_bytes_blob(self, data: bytes) -> Digest:
        digest = Digest.of_bytes(data)
        if not self.has_blob(digest, len(data)):
            atomic_write(self.blob_path(digest), data)
        return digest

    def write_image(self, image: Image, verify_existing: bool = False) -> Descriptor:
        """Every blob of ``image``, then its config and manifest; returns the manifest descriptor.

        Layers go in concurrently (``LAYER_WORKERS`` at a time: downloads from a registry overlap), each
        blob atomically; the config and manifest only once every layer is in.
        """

        def put(layer: Layer) -> None:
            if (
                isinstance(layer, FileLayer)
                and not verify_existing
                and self.link_blob(layer.digest, layer.path, layer.size)
            ):
                return
            self.write_blob(layer.digest, layer.open_compressed, layer.size, verify_existing)

        layers = image.layers()
        if len(layers) > 1:
            with ThreadPoolExecutor(
                min(LAYER_WORKERS, len(layers)), thread_name_prefix="kiln-layout"
            ) as pool:
                for _ in pool.map(put, layers):  # raises the first layer's error, after all have stopped
                    pass
        else:
            for layer in layers:
                put(layer)
        self.write_bytes_blob(image.raw_config())
        self.write_bytes_blob(image.raw_manifest())
        return image.descriptor()

    def add_to_index(self, desc: Descriptor, replace_ref: bool = True) -> None:
        """Append ``desc`` to index.json (after its blobs are in); a ref name moves from older entries.

        One manifest may stay listed under several ref names (tags); the same digest under the same
        name (or with no name) is listed once.
        """
        with locked(self.root / LOCK_FILE):
            index = self.index()
            ref = _ref_name(desc)
            kept = [
                d
                for d in index.manifests
                if not (d.digest == desc.digest and _ref_name(d) == ref)
                and not (replace_ref and ref and _ref_name(d) == ref)
            ]
            self._write_index(Index(index.media_type, (*kept, desc), index.annotations))

    def write_index(self, index: ImageIndex) -> Descriptor:
        """Every image of ``index`` (nested indexes too), then the index blob; returns its descriptor."""
        for child in index.index().manifests:
            if mediatypes.is_index(child.media_type):
                self.write_index(index.child_index(child))
            else:
                self.write_image(index.image(child))
        raw = index.raw_index()
        self.write_bytes_blob(raw)
        return Descriptor(index.media_type(), Digest.of_bytes(raw), len(raw))

    def append_index(self, index: ImageIndex, annotations: Mapping[str, str] | None = None) -> Descriptor:
        desc = self.write_index(index)
        if annotations:
            desc = Descriptor(desc.media_type, desc.digest, desc.size, annotations=dict(annotations))
        self.add_to_index(desc)
        return desc

    def append_image(self, image: Image, annotations: Mapping[str, str] | None = None) -> Descriptor:
        desc = self.write_image(image)
        if annotations:
            desc = Descriptor(desc.media_type, desc.digest, desc.size, annotations=dict(annotations))
        self.add_to_index(desc)
        return desc

    def remove_from_index(self, digest: Digest) -> None:
        with locked(self.root / LOCK_FILE):
            index = self.index()
            kept = tuple(d for d in index.manifests if d.digest != digest)
            self._write_index(Index(index.media_type, kept, index.annotations))

    def _write_index(self, index: Index) -> None:
        atomic_write(self.root / INDEX_FILE, index.to_bytes())

    # -- reading -------------------------------------------------------------------------------
    def index(self) -> Index:
        path = self.root / INDEX_FILE
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raise KilnError(f"{self.root} is not an OCI image layout: no index.json") from None
        return Index.from_bytes(raw)

    def open_blob(self, digest: Digest, size: int | None = None) -> BinaryIO:
        """A stream of a blob that raises DigestMismatch at EOF (or at the end of its ``with`` block) if the
        file was corrupted."""
        try:
            f = open(self.blob_path(digest), "rb")  # noqa: SIM115
        except FileNotFoundError:
            raise KilnError(f"blob {digest} is missing from the OCI layout {self.root}") from None
        return open_verified(f, digest, size)

    def read_blob(self, digest: Digest, limit: int = 16 << 20) -> bytes:
        path = self.blob_path(digest)
        try:
            if path.stat().st_size > limit:
                raise KilnError(f"blob {digest} in {self.root} is larger than {limit} bytes")
            data = path.read_bytes()
        except FileNotFoundError:
            raise KilnError(f"blob {digest} is missing from the OCI layout {self.root}") from None
        actual = Digest.of_bytes(data, digest.algorithm)
        if actual != digest:
            raise DigestMismatch(str(digest), str(actual))
        return data

    def find(self, *, digest: Digest | None = None, ref_name: str | None = None) -> Descriptor:
        for desc in self.index().manifests:
            if digest is not None and desc.digest == digest:
                return desc
            if ref_name is not None and (desc.annotations or {}).get(REF_NAME) == ref_name:
                return desc
        wanted = str(digest) if digest is not None else repr(ref_name)
        raise KilnError(f"no image {wanted} in the OCI layout {self.root}")

    def image(self, desc: Descriptor) -> LayoutImage:
        return LayoutImage(self, desc)

    def open_image(
        self,
        *,
        digest: Digest | None = None,
        ref_name: str | None = None,
        platform: Platform | None = None,
    ) -> LayoutImage:
        """The image named by digest or ref name; an index resolves to its image for ``platform``.

        ``platform`` defaults to the host's, as for a base image pulled from a registry.
        """
        desc = self.find(digest=digest, ref_name=ref_name)
        wanted = platform or Platform.host()
        for _ in range(_MAX_NESTING):
            if not mediatypes.is_index(desc.media_type):
                return LayoutImage(self, desc)
            desc = self.image_index(desc).index().select(wanted)
        raise KilnError(f"indexes in {self.root} nest deeper than {_MAX_NESTING} levels")

    def image_index(self, desc: Descriptor) -> LayoutIndex:
        return LayoutIndex(self, desc)

    def images(self) -> list[Descriptor]:
        return list(self.index().manifests)

    def delete(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


class LayoutImage(Image):
    """An image read from a layout; layers are verified against their digests as they stream."""

    def __init__(self, layout: Layout, desc: Descriptor) -> None:
        if not mediatypes.is_image_manifest(desc.media_type):
            raise KilnError(f"{desc.digest} in {layout.root} is not an image manifest ({desc.media_type})")
        self._layout = layout
        self._desc = desc
        self._raw = layout.read_blob(desc.digest)

    def raw_manifest(self) -> bytes:
        return self._raw

    def raw_config(self) -> bytes:
        return self._raw_config

    @cached_property
    def _raw_config(self) -> bytes:
        return self._layout.read_blob(self.manifest().config.digest)

    def layers(self) -> tuple[Layer, ...]:
        diff_ids = self.config().rootfs_diff_ids
        descs = self.manifest().layers
        if len(diff_ids) != len(descs):
            raise KilnError(f"image {self._desc.digest}: {len(descs)} layers but {len(diff_ids)} diff_ids")
        return tuple(self._layer(d, diff) for d, diff in zip(descs, diff_ids, strict=True))

    def _layer(self, desc: Descriptor, diff_id: Digest) -> Layer:
        layout = self._layout
        return BlobLayer(
            desc.digest, diff_id, desc.size, desc.media_type, lambda: layout.open_blob(desc.digest, desc.size)
        )


class LayoutIndex(ImageIndex):
    def __init__(self, layout: Layout, desc: Descriptor) -> None:
        if not mediatypes.is_index(desc.media_type):
            raise KilnError(f"{desc.digest} in {layout.root} is not an image index ({desc.media_type})")
        self._layout = layout
        self._raw = layout.read_blob(desc.digest)

    def raw_index(self) -> bytes:
        return self._raw

    def image(self, desc: Descriptor) -> Image:
        return LayoutImage(self._layout, desc)

    def child_index(self, desc: Descriptor) -> ImageIndex:
        return LayoutIndex(self._layout, desc)


def _ref_name(desc: Descriptor) -> str | None:
    return (desc.annotations or {}).get(REF_NAME)


def parse_layout_reference(text: str) -> tuple[Path, str | None]:
    """``oci:DIR[:NAME]`` as skopeo reads it -> (DIR, NAME): split at the first colon after ``oci:``.

    So, as with skopeo, DIR cannot hold a colon. (kaniko's ``--cache-repo oci:DIR`` is different: the whole
    rest is the directory; strip the prefix for that instead.)
    """
    if not text.startswith("oci:"):
        raise KilnError(f"{text!r} is not an OCI layout reference", hint="write oci:<directory>[:<name>]")
    path, sep, name = text[len("oci:") :].partition(":")
    if not path:
        raise KilnError(f"{text!r} names no directory", hint="write oci:<directory>[:<name>]")
    return Path(path), (name or None) if sep else None


def write_oci_layout(path: Path, image: Image, ref_name: str | None = None) -> Descriptor:
    """kaniko's ``--oci-layout-path``: a layout whose index holds exactly this image."""
    layout = Layout(path)
    layout.init(fresh=False)
    desc = layout.write_image(image)
    if ref_name:
        desc = Descriptor(desc.media_type, desc.digest, desc.size, annotations={REF_NAME: ref_name})
    with locked(layout.root / LOCK_FILE):
        layout._write_index(Index(mediatypes.OCI_INDEX, (desc,)))
    return desc


__all__ = ["Layout", "LayoutImage", "LayoutIndex", "parse_layout_reference", "write_oci_layout"]
