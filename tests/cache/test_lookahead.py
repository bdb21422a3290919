"""The lookups of consecutive RUNs start together, and each step gets the answer for its own key.

The store is a real ``oci:`` layout (LayoutStore) wrapped to hold its first lookups at a barrier: if the
lookups were made one after the other, the first one would wait there until the barrier times out.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import cast

from kiln.build.cache.hooks import StageCache
from kiln.build.cache.layer_cache import LayerCache
from kiln.build.cache.store import CacheEntry, CacheStore, LayoutStore
from kiln.build.state import StageState
from kiln.build.steps.base import StageFiles, StepContext
from kiln.digest import Digest
from kiln.dockerfile import GlobalArgs, parse_dockerfile
from kiln.dockerfile.instructions import Instruction, parse_instruction
from kiln.oci import Image, ImageConfig, Platform

DOCKERFILE = "RUN echo one\nRUN echo two\nRUN echo three\nENV X=1\nRUN echo four\n"


class HeldStore(CacheStore):
    """A real store whose first ``together`` lookups must all be in flight before any answers."""

    def __init__(self, inner: CacheStore, together: int) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(together, timeout=20)
        self.held = together
        self.calls: list[Digest] = []
        self.lock = threading.Lock()

    def lookup(self, key: Digest) -> CacheEntry | None:
        with self.lock:
            self.calls.append(key)
            hold = len(self.calls) <= self.held
        if hold:
            self.barrier.wait()
        return self.inner.lookup(key)

    def store(self, key: Digest, image: Image) -> None:
        self.inner.store(key, image)

    def describe(self) -> str:
        return "held " + self.inner.describe()


def _instructions() -> list[Instruction]:
    parsed = parse_dockerfile(DOCKERFILE, "Dockerfile")
    return [parse_instruction(node, parsed.filename) for node in parsed.nodes]


def _context(tmp_path: Path) -> StepContext:
    state = StageState(
        config=ImageConfig(architecture="amd64", os="linux"),
        root=tmp_path,
        escape="\\",
        build_args={},
        global_args=GlobalArgs({}, frozenset()),
        created=None,
    )
    return StepContext(
        state=state,
        context_dir=tmp_path,
        ignore=None,
        runner=None,
        sources=cast(StageFiles, None),
        work_dir=tmp_path,
        cache_dir=tmp_path,
    )


def test_the_runs_after_a_run_are_looked_up_at_once(tmp_path: Path) -> None:
    platform = Platform.parse("linux/amd64")
    store = HeldStore(LayoutStore(tmp_path / "cache", platform), together=3)
    cache = LayerCache(store, timedelta(days=1), platform)
    stage = StageCache.for_base(cache, None, platform, run_layers=True, copy_layers=False)
    ctx = _context(tmp_path)
    instructions = _instructions()

    key1, entry1 = stage.before(instructions[0], ctx, instructions[1:])
    assert entry1 is None
    # one, two and three were all in flight together (the barrier let them through); the threads may have
    # reached the store in any order
    assert len(store.calls) == 3 and key1 in store.calls and len(set(store.calls)) == 3
    stage.after(instructions[0], ctx.state, key1, None, "RUN echo one", hit=True)  # as if it had hit
    key2, _ = stage.before(instructions[1], ctx, instructions[2:])
    stage.after(instructions[1], ctx.state, key2, None, "RUN echo two", hit=True)
    key3, _ = stage.before(instructions[2], ctx, instructions[3:])
    # the keys looked up ahead are the steps' own keys, each asked once
    assert sorted(store.calls) == sorted([key1, key2, key3]) and len(store.calls) == 3
    cache.close()
