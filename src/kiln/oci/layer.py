"""Layers: re-openable streams with digests known up front (no hidden network calls in accessors)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from kiln.compression import decompress
from kiln.digest import Digest
from kiln.oci import mediatypes
from kiln.oci.descriptor import Descriptor
from kiln.oci.streams import UncompressedStream

__all__ = ["BlobLayer", "FileLayer", "Layer", "decompress"]


class Layer(ABC):
    @property
    @abstractmethod
    def digest(self) -> Digest:
        """Digest of the (compressed) blob."""

    @property
    @abstractmethod
    def diff_id(self) -> Digest:
        """Digest of the uncompressed tar."""

    @property
    @abstractmethod
    def size(self) -> int:
        """Size of the blob in bytes."""

    @property
    @abstractmethod
    def media_type(self) -> str: ...

    @abstractmethod
    def open_compressed(self) -> BinaryIO:
        """A fresh stream of the blob's bytes."""

    def open_uncompressed(self) -> BinaryIO:
        """A fresh stream of the uncompressed tar.

        Read to its end, it has also read the whole blob, so a source that verifies digests has checked
        it; bytes that do not decompress raise LayerError (or DigestMismatch when the blob is corrupt).
        """
        return UncompressedStream.open(
            self.digest, self.open_compressed(), mediatypes.layer_compression(self.media_type)
        )

    def descriptor(self) -> Descriptor:
        return Descriptor(self.media_type, self.digest, self.size)


class BlobLayer(Layer):
    """A layer whose bytes come from ``opener`` (a registry, a layout, a cache)."""

    def __init__(
        self, digest: Digest, diff_id: Digest, size: int, media_type: str, opener: Callable[[], BinaryIO]
    ) -> None:
        self._digest = digest
        self._diff_id = diff_id
        self._size = size
        self._media_type = media_type
        self._opener = opener

    @property
    def digest(self) -> Digest:
        return self._digest

    @property
    def diff_id(self) -> Digest:
        return self._diff_id

    @property
    def size(self) -> int:
        return self._size

    @property
    def media_type(self) -> str:
        return self._media_type

    def open_compressed(self) -> BinaryIO:
        return self._opener()


class FileLayer(BlobLayer):
    """A compressed layer blob in a file on local disk (a built or cached layer)."""

    def __init__(self, path: Path, digest: Digest, diff_id: Digest, size: int, media_type: str) -> None:
        self.path = Path(path)
        super().__init__(digest, diff_id, size, media_type, lambda: open(self.path, "rb"))  # noqa: SIM115


def with_media_type(layer: Layer, media_type: str) -> Layer:
    """The same bytes under another media type of the same compression (OCI <-> Docker)."""
    if media_type == layer.media_type:
        return layer
    if isinstance(layer, FileLayer):
        return FileLayer(layer.path, layer.digest, layer.diff_id, layer.size, media_type)
    return BlobLayer(layer.digest, layer.diff_id, layer.size, media_type, layer.open_compressed)
