"""Where cached layers live: a registry repository or a local ``oci:`` layout, one image per key.

Each cache entry is a one-layer image tagged with the key's hex (the ``oci:`` layout uses the same
string as its ``org.opencontainers.image.ref.name``). Its config holds ``created`` (for --cache-ttl)
and one history entry whose ``created_by`` the build reuses on a hit.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import KilnError, RegistryError
from kiln.oci import History, Image, ImageConfig, Layer, Platform
from kiln.oci.mutate import new_image
from kiln.reference import Reference
from kiln.registry import RegistryClient, pull, push_image
from kiln.storage.layout import Layout


@dataclass(frozen=True)
class CacheEntry:
    """A cached step: its layer, the history text to record and when it was made."""

    layer: Layer
    created_by: str
    created: str | None


def entry_image(layer: Layer, created_by: str, created: str, platform: Platform) -> Image:
    config = ImageConfig(
        architecture=platform.architecture,
        os=platform.os,
        variant=platform.variant,
        created=created,
        history=(History(created=created, created_by=created_by),),
    )
    return new_image(config, (layer,))


def entry_of(image: Image) -> CacheEntry | None:
    """The entry an image holds, or None when it is not a one-layer cache image."""
    layers = image.layers()
    if len(layers) != 1:
        return None
    config = image.config()
    created_by = config.history[-1].created_by if config.history else ""
    return CacheEntry(layers[0], created_by, config.created)


class CacheStore(ABC):
    """Lookups return None on a miss; errors (registry down, denied) raise KilnError subclasses."""

    @abstractmethod
    def lookup(self, key: Digest) -> CacheEntry | None: ...

    @abstractmethod
    def store(self, key: Digest, image: Image) -> None: ...

    @abstractmethod
    def describe(self) -> str: ...


class RegistryStore(CacheStore):
    """``--cache-repo`` as a registry repository: tag = key hex."""

    def __init__(self, client: RegistryClient, repo: str, platform: Platform) -> None:
        self.client = client
        self.repo = Reference.parse(repo).context()
        self.platform = platform

    def _ref(self, key: Digest) -> Reference:
        return self.repo.with_tag(key.hex)

    def lookup(self, key: Digest) -> CacheEntry | None:
        try:
            image = pull(self.client, self._ref(key), self.platform)
            return entry_of(image)
        except RegistryError as err:
            if err.status == 404 or err.code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND"):
                return None
            raise

    def store(self, key: Digest, image: Image) -> None:
        push_image(self.client, image, [self._ref(key)])

    def describe(self) -> str:
        return str(self.repo)


class LayoutStore(CacheStore):
    """``--cache-repo=oci:/path``: an OCI image layout; writes are serialised within the build."""

    def __init__(self, path: Path, platform: Platform) -> None:
        self.layout = Layout(path)
        self.platform = platform
        self._lock = threading.Lock()
        self._ready = False

    def _init(self) -> None:
        if not self._ready:
            self.layout.init()
            self._ready = True

    def lookup(self, key: Digest) -> CacheEntry | None:
        with self._lock:
            if not (self.layout.root / "index.json").exists():
                return None
            try:
                image = self.layout.open_image(ref_name=key.hex, platform=self.platform)
            except KilnError:
                return None
        return entry_of(image)

    def store(self, key: Digest, image: Image) -> None:
        with self._lock:
            self._init()
            self.layout.append_image(image, {"org.opencontainers.image.ref.name": key.hex})

    def describe(self) -> str:
        return f"oci:{self.layout.root}"


def default_cache_repo(destinations: tuple[str, ...]) -> str:
    """kaniko's default: ``<first destination repository>/cache``; "" when there is no destination."""
    if not destinations:
        return ""
    return f"{Reference.parse(destinations[0]).context()}/cache"
