"""The build's view of the layer cache: lookups with --cache-ttl, pushes in the background.

Nothing the cache does may fail a build: a store that is down, answers 500 or denies access gives
one warning, and the cache is switched off for the rest of the build (so a dead registry costs one
round of retries, not one per step). Pushes run on one background thread while the build goes on,
and ``close()`` waits for them before the build's work directory (which holds the layers) is removed.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from kiln.build.cache.store import CacheEntry, CacheStore, entry_image
from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import Layer, Platform

log = logging.getLogger(__name__)

LOOKAHEAD_WORKERS = 4


def parse_created(text: str | None) -> datetime | None:
    """An RFC 3339 ``created`` (any fractional digits, ``Z`` or an offset) as an aware datetime."""
    if not text:
        return None
    value = text.strip().replace("Z", "+00:00").replace("z", "+00:00")
    head, dot, rest = value.partition(".")
    if dot:  # Python accepts at most 6 fractional digits
        digits = "".join(c for c in rest if c.isdigit())
        value = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def expired(created: str | None, ttl: timedelta, now: datetime) -> bool:
    """True when the entry is older than ``ttl`` (or its age cannot be told)."""
    when = parse_created(created)
    return when is None or now - when > ttl


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    pushed: int = 0
    push_failures: int = 0


class LayerCache:
    """Look up and fill one cache store for one build."""

    def __init__(
        self,
        store: CacheStore,
        ttl: timedelta,
        platform: Platform,
        push: bool = True,
        now: datetime | None = None,
    ) -> None:
        self.store = store
        self.ttl = ttl
        self.platform = platform
        self.push_enabled = push
        self.now = now
        self.stats = CacheStats()
        self._disabled = False
        self._queue: queue.Queue[tuple[Digest, Layer, str, str] | None] = queue.Queue()
        self._worker: threading.Thread | None = None
        self._ahead: dict[Digest, Future[CacheEntry | None]] = {}
        self._lookups: ThreadPoolExecutor | None = None

    def _now(self) -> datetime:
        return self.now or datetime.now(UTC)

    def _degrade(self, what: str, err: KilnError) -> None:
        if not self._disabled:
            log.warning(
                "layer cache %s: %s failed (%s); building without the cache",
                self.store.describe(),
                what,
                err.message,
            )
        self._disabled = True

    def look_ahead(self, keys: Sequence[Digest]) -> None:
        """Start looking ``keys`` up concurrently; ``lookup`` of one of them then waits for its answer.

        For the keys of the steps that follow, known before those steps run (consecutive RUNs): on a
        remote cache each lookup is a round trip or two, and a rebuild that hits throughout would
        otherwise wait for them one after the other.
        """
        if self._disabled:
            return
        for key in keys:
            if key in self._ahead:
                continue
            if self._lookups is None:
                self._lookups = ThreadPoolExecutor(LOOKAHEAD_WORKERS, thread_name_prefix="kiln-cache-lookup")
            self._ahead[key] = self._lookups.submit(self.store.lookup, key)

    def lookup(self, key: Digest) -> CacheEntry | None:
        """The cached entry for ``key`` when present and younger than --cache-ttl."""
        if self._disabled:
            return None
        ahead = self._ahead.pop(key, None)
        try:
            entry = ahead.result() if ahead is not None else self.store.lookup(key)
        except KilnError as err:
            self._degrade("lookup", err)
            return None
        if entry is not None and expired(entry.created, self.ttl, self._now()):
            log.info("cache entry %s is older than --cache-ttl %s: not used", key.hex[:12], self.ttl)
            entry = None
        if entry is None:
            self.stats.misses += 1
            log.info("no cached layer for key %s", key.hex[:12])
        else:
            self.stats.hits += 1
            log.info("using cached layer %s (key %s)", entry.layer.digest.short, key.hex[:12])
        return entry

    def push(self, key: Digest, layer: Layer, created_by: str) -> None:
        """Queue ``layer`` (which must stay on disk until ``close``) to be stored under ``key``."""
        if not self.push_enabled or self._disabled:
            return
        if self._worker is None:
            self._worker = threading.Thread(target=self._drain, name="kiln-cache-push", daemon=True)
            self._worker.start()
        created = self._now().strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._queue.put((key, layer, created_by, created))

    def _drain(self) -> None:
        while (item := self._queue.get()) is not None:
            key, layer, created_by, created = item
            if self._disabled:
                continue
            try:
                self.store.store(key, entry_image(layer, created_by, created, self.platform))
                self.stats.pushed += 1
            except KilnError as err:
                self.stats.push_failures += 1
                self._degrade("push", err)
            except Exception as err:  # a cache push must never fail the build
                self.stats.push_failures += 1
                self._degrade("push", KilnError(f"unexpected {type(err).__name__}"))

    def close(self) -> None:
        """Wait for queued pushes (the build's layers are deleted after this) and lookups still under way."""
        if self._lookups is not None:
            self._lookups.shutdown(wait=True, cancel_futures=True)
            self._lookups = None
            self._ahead.clear()
        if self._worker is not None:
            self._queue.put(None)
            self._worker.join()
            self._worker = None
