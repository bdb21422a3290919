"""Images and indexes as small read-only interfaces; helpers derive the rest from a few accessors."""

from __future__ import annotations

from abc import ABC, abstractmethod
from functools import cached_property

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import mediatypes
from kiln.oci.config import ImageConfig
from kiln.oci.descriptor import Descriptor
from kiln.oci.layer import Layer
from kiln.oci.manifest import Index, Manifest
from kiln.oci.platform import Platform


class Image(ABC):
    """An image: implement ``raw_manifest``, ``raw_config`` and ``layers``; the rest is derived."""

    @abstractmethod
    def raw_manifest(self) -> bytes: ...

    @abstractmethod
    def raw_config(self) -> bytes: ...

    @abstractmethod
    def layers(self) -> tuple[Layer, ...]:
        """The layers in manifest order."""

    @cached_property
    def _manifest(self) -> Manifest:
        return Manifest.from_bytes(self.raw_manifest())

    @cached_property
    def _config(self) -> ImageConfig:
        return ImageConfig.from_bytes(self.raw_config())

    def manifest(self) -> Manifest:
        return self._manifest

    def config(self) -> ImageConfig:
        return self._config

    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw_manifest())

    def media_type(self) -> str:
        return self.manifest().media_type

    def is_docker(self) -> bool:
        return mediatypes.is_docker(self.media_type())

    def config_descriptor(self) -> Descriptor:
        return self.manifest().config

    def descriptor(self) -> Descriptor:
        raw = self.raw_manifest()
        return Descriptor(self.media_type(), Digest.of_bytes(raw), len(raw))

    def platform(self) -> Platform:
        """The platform the config declares (what an index entry for this image should carry)."""
        cfg = self.config()
        return Platform.normalised(
            cfg.os or "linux", cfg.architecture or "unknown", cfg.variant, cfg.os_version
        )

    def layer_by_digest(self, digest: Digest) -> Layer:
        for layer in self.layers():
            if layer.digest == digest:
                return layer
        raise KilnError(f"image {self.digest()} has no layer {digest}")


class ImageIndex(ABC):
    """An index / manifest list: implement ``raw_index`` and ``image``."""

    @abstractmethod
    def raw_index(self) -> bytes: ...

    @abstractmethod
    def image(self, desc: Descriptor) -> Image:
        """The image a descriptor of this index points at."""

    def child_index(self, desc: Descriptor) -> ImageIndex:
        """The index a descriptor of this index points at (indexes may nest); sources override."""
        raise KilnError(
            f"{type(self).__name__} cannot open the nested index {desc.digest}",
            hint="nested indexes are read from OCI layouts; flatten the index with skopeo copy --all",
        )

    def index(self) -> Index:
        return Index.from_bytes(self.raw_index())

    def images(self) -> tuple[Image, ...]:
        """Every image manifest directly in this index (attestations included), in index order."""
        return tuple(
            self.image(d) for d in self.index().manifests if mediatypes.is_image_manifest(d.media_type)
        )

    def digest(self) -> Digest:
        return Digest.of_bytes(self.raw_index())

    def media_type(self) -> str:
        return self.index().media_type


class StaticImage(Image):
    """An image assembled in memory from its manifest, config and layers (built or mutated)."""

    def __init__(self, manifest: Manifest, config: ImageConfig, layers: tuple[Layer, ...]) -> None:
        if len(manifest.layers) != len(layers):
            raise KilnError("internal: manifest and layer list differ in length")
        self._raw_manifest = manifest.to_bytes()
        self._raw_config = config.to_bytes()
        self._layers = layers
        self.__dict__["_manifest"] = manifest
        self.__dict__["_config"] = config

    def raw_manifest(self) -> bytes:
        return self._raw_manifest

    def raw_config(self) -> bytes:
        return self._raw_config

    def layers(self) -> tuple[Layer, ...]:
        return self._layers


class StaticIndex(ImageIndex):
    """An index assembled in memory from images (and nested indexes) it owns."""

    def __init__(self, index: Index, children: dict[Digest, Image | ImageIndex]) -> None:
        missing = [str(d.digest) for d in index.manifests if d.digest not in children]
        if missing:
            raise KilnError(f"internal: index entries without an image: {', '.join(missing)}")
        self._raw = index.to_bytes()
        self._children = children

    def raw_index(self) -> bytes:
        return self._raw

    def image(self, desc: Descriptor) -> Image:
        child = self._children[desc.digest]
        if not isinstance(child, Image):
            raise KilnError(f"{desc.digest} is an index, not an image")
        return child

    def child_index(self, desc: Descriptor) -> ImageIndex:
        child = self._children[desc.digest]
        if not isinstance(child, ImageIndex):
            raise KilnError(f"{desc.digest} is an image, not an index")
        return child
