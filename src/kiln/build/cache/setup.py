"""Build the layer cache a build asked for (``--cache``, ``--cache-repo``, ``--cache-ttl``...)."""

from __future__ import annotations

import logging
from pathlib import Path

from kiln.build.cache.layer_cache import LayerCache
from kiln.build.cache.store import CacheStore, LayoutStore, RegistryStore, default_cache_repo
from kiln.build.options import BuildOptions
from kiln.oci import Platform
from kiln.registry import RegistryClient

log = logging.getLogger(__name__)


class OpenCache:
    """The cache and the registry client it owns; ``close()`` joins pushes, then the client."""

    def __init__(self, cache: LayerCache, client: RegistryClient | None) -> None:
        self.cache = cache
        self._client = client

    def close(self) -> None:
        try:
            self.cache.close()
        finally:
            if self._client is not None:
                self._client.close()


def open_cache(options: BuildOptions, platform: Platform) -> OpenCache | None:
    """None unless --cache is on (and there is somewhere to cache: --cache-repo or a destination)."""
    if not options.cache:
        return None
    client: RegistryClient | None = None
    store: CacheStore
    if options.cache_repo.startswith("oci:"):
        store = LayoutStore(Path(options.cache_repo[len("oci:") :]), platform)
    else:
        repo = options.cache_repo or default_cache_repo(options.destinations)
        if not repo:
            log.warning("--cache is set but there is no --cache-repo and no --destination: not caching")
            return None
        client = RegistryClient(options.registry)
        store = RegistryStore(client, repo, platform)
    log.info(
        "layer cache: %s (ttl %s%s)",
        store.describe(),
        options.cache_ttl,
        ", no push" if options.no_push_cache else "",
    )
    cache = LayerCache(store, options.cache_ttl, platform, push=not options.no_push_cache)
    return OpenCache(cache, client)
