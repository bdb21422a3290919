"""Images that live in a registry: manifests fetched once, layers streamed (and verified) only when opened.

Why lazy: a FROM image's layers are often never needed (cache hits, metadata-only builds); accessors never hit
the network, only ``open_*`` does (the go-containerregistry lesson about hidden requests).
"""

from __future__ import annotations

import threading
from typing import BinaryIO

from kiln.digest import Digest
from kiln.errors import RegistryError
from kiln.oci import BlobLayer, Descriptor, Image, ImageIndex, Layer
from kiln.reference import Reference, Repository
from kiln.registry.client import FetchedManifest, RegistryClient

MAX_CONFIG_BYTES = 8 << 20


class RemoteLayer(BlobLayer):
    """A layer blob in a registry repository; its diff_id comes from the image config."""

    def __init__(self, client: RegistryClient, repo: Repository, desc: Descriptor, diff_id: Digest) -> None:
        self.repository = repo
        super().__init__(desc.digest, diff_id, desc.size, desc.media_type, self._open)
        self._client = client

    def _open(self) -> BinaryIO:
        return self._client.open_blob(self.repository, self.digest, self.size)  # type: ignore[return-value]


class RemoteImage(Image):
    """One image manifest in a registry (``source`` is where it was found: a mirror or the registry)."""

    def __init__(self, client: RegistryClient, fetched: FetchedManifest) -> None:
        self._client = client
        self.source = fetched.source
        self._raw = fetched.raw
        self._media_type = fetched.media_type
        self._digest = fetched.digest
        self._raw_config: bytes | None = None
        self._lock = threading.Lock()

    def raw_manifest(self) -> bytes:
        return self._raw

    def media_type(self) -> str:
        return self._media_type or self.manifest().media_type

    def digest(self) -> Digest:
        return self._digest

    def raw_config(self) -> bytes:
        with self._lock:
            if self._raw_config is None:
                desc = self.manifest().config
                if desc.size > MAX_CONFIG_BYTES:
                    raise RegistryError(f"image config of {self.source} is too large ({desc.size} bytes)")
                with self._client.open_blob(self.source, desc.digest, desc.size) as reader:
                    self._raw_config = reader.read()
            return self._raw_config

    def layers(self) -> tuple[Layer, ...]:
        diff_ids = self.config().rootfs_diff_ids
        descs = self.manifest().layers
        if len(diff_ids) != len(descs):
            raise RegistryError(
                f"image {self.source}@{self._digest} has {len(descs)} layers but its config lists {len(diff_ids)}",
                code="MANIFEST_INVALID",
            )
        return tuple(
            RemoteLayer(self._client, self.source, d, i) for d, i in zip(descs, diff_ids, strict=True)
        )


class RemoteIndex(ImageIndex):
    """An image index / manifest list in a registry; child images are fetched by digest when asked for."""

    def __init__(self, client: RegistryClient, fetched: FetchedManifest) -> None:
        self._client = client
        self.source = fetched.source
        self._raw = fetched.raw
        self._media_type = fetched.media_type
        self._digest = fetched.digest

    def raw_index(self) -> bytes:
        return self._raw

    def media_type(self) -> str:
        return self._media_type or self.index().media_type

    def digest(self) -> Digest:
        return self._digest

    def image(self, desc: Descriptor) -> Image:
        ref = Reference(self.source.registry, self.source.repository, None, desc.digest)
        return RemoteImage(self._client, self._client.fetch_manifest(self.source, ref))
