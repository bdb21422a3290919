"""The cache as one stage sees it: a key per step, chained from the base image's digest.

Which steps use the cache: RUN without ``--mount`` (a mount's contents -- a secret, a cache
directory, a bind from the context -- are not part of the key, so such a RUN always runs). Every
other step still advances the key chain so later keys name the state exactly: metadata steps by
their text, args and env, and steps that changed files without the cache by the diff_id of the
layer they produced.

After a RUN *miss* the step's layer on disk is new, so no later step of the stage is looked up (a
cached layer made on top of the old layer need not fit the new one), but keys are still computed
and new layers still pushed, so the next identical build hits them all. See docs/cache.md.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field

from kiln.build.cache.key import base_key, shallow_entries, source_digest, step_key
from kiln.build.cache.layer_cache import LayerCache
from kiln.build.cache.store import CacheEntry
from kiln.build.state import StageState
from kiln.build.steps.base import StepContext
from kiln.build.steps.copy import Copier
from kiln.build.steps.sources import kept_parents, match_parents, match_sources, split_pivot
from kiln.digest import Digest
from kiln.dockerfile import PROXY_ARGS
from kiln.dockerfile.instructions import Copy, Instruction, Run
from kiln.oci import Image, Layer, Platform

log = logging.getLogger(__name__)

LOOKAHEAD = 8  # RUN steps whose cache lookups may be in flight ahead of the step that runs


@dataclass
class StageCache:
    """Keys and lookups for one stage."""

    cache: LayerCache
    parent: Digest
    run_layers: bool = True
    copy_layers: bool = False
    diverged: bool = False
    keys: list[str] = field(default_factory=list)  # hex of each step's key, for tests and logs

    @classmethod
    def for_base(
        cls, cache: LayerCache, base: Image | None, platform: Platform, run_layers: bool, copy_layers: bool
    ) -> StageCache:
        parent = base_key(base.digest() if base is not None else None, str(platform))
        return cls(cache, parent, run_layers, copy_layers)

    def _key(
        self,
        instruction: Instruction,
        state: StageState,
        extra: dict[str, str] | None = None,
        sources: Digest | None = None,
        parent: Digest | None = None,
    ) -> Digest:
        proxies = {k: v for k, v in state.build_args.items() if k in PROXY_ARGS}
        context = {
            "user": state.run.user,
            "workdir": state.run.working_dir,
            "shell": json.dumps(list(state.shell())),
            **(extra or {}),
        }
        return step_key(
            parent if parent is not None else self.parent,
            instruction.original.strip(),
            {**proxies, **state.args},
            state.env_map(),
            sources,
            context,
        )

    def cacheable(self, instruction: Instruction) -> bool:
        if isinstance(instruction, Run):
            return self.run_layers and not instruction.mounts
        if isinstance(instruction, Copy):
            # ADD (URLs, archives, git), --exclude and here-documents are not keyed yet
            plain = all(instruction.heredoc_for(s) is None for s in instruction.sources)
            return self.copy_layers and plain and not (instruction.is_add or instruction.excludes)
        return False

    def _copy_key(self, ins: Copy, ctx: StepContext) -> Digest:
        state = ctx.state
        expanded = ins.expand(state.expansion_env(), state.escape)
        ignored = None
        if expanded.from_:
            root = ctx.sources.root_of(expanded.from_)
        else:
            root = ctx.context_dir
            if ctx.ignore is not None:
                ignored = Copier(state.root, None, False, None, root, ctx.ignore).excluded_rel
        extra = {"kind": "copy", "from": expanded.from_ or ""}
        if expanded.parents:
            # the instruction text holds each pivot; the paths matched and the parents recreated count too
            matched: list[tuple[str, list[str]]] = []
            parents: set[str] = set()
            for source in expanded.sources:
                pivot, pattern = split_pivot(source)
                found = match_parents(root, pivot, pattern, ignored)
                matched.append((source, found))
                parents.update(p for m in found for p in kept_parents(m, pivot))
            extra["parents"] = json.dumps(shallow_entries(root, sorted(parents)))
        else:
            matched = [(s, match_sources(root, s, ignored)) for s in expanded.sources]
        digest = source_digest(root, matched, ignored)
        return self._key(ins, state, extra, digest)

    def before(
        self, instruction: Instruction, ctx: StepContext, following: Sequence[Instruction] = ()
    ) -> tuple[Digest | None, CacheEntry | None]:
        """The step's key (None when the step does not use the cache) and the cached entry, if any.

        ``following``: the stage's next instructions. The keys of the RUNs that directly follow a RUN are
        known now (a RUN changes no config, so each key only chains the previous one), and their lookups
        start at once, concurrently.
        """
        if not self.cacheable(instruction):
            return None, None
        if isinstance(instruction, Copy):
            key = self._copy_key(instruction, ctx)
        else:
            key = self._key(instruction, ctx.state, {"kind": "run"})
        self.keys.append(key.hex)
        if self.diverged:
            log.info("no cached layer looked up for key %s: an earlier RUN of this stage ran", key.hex[:12])
            return key, None
        if isinstance(instruction, Run):
            self.cache.look_ahead([key, *self._run_keys_after(key, following, ctx)])
        return key, self.cache.lookup(key)

    def _run_keys_after(
        self, key: Digest, following: Sequence[Instruction], ctx: StepContext
    ) -> list[Digest]:
        """The keys of the cacheable RUNs right after the one keyed ``key`` (up to LOOKAHEAD), as if each hit."""
        keys: list[Digest] = []
        for instruction in following[:LOOKAHEAD]:
            if not (isinstance(instruction, Run) and self.cacheable(instruction)):
                break
            key = self._key(instruction, ctx.state, {"kind": "run"}, parent=key)
            keys.append(key)
        return keys

    def after(
        self,
        instruction: Instruction,
        state: StageState,
        key: Digest | None,
        layer: Layer | None,
        created_by: str,
        hit: bool,
    ) -> None:
        """Advance the chain past a step; after a cacheable miss, queue its layer for the cache."""
        if key is not None:
            if not hit and layer is not None:
                self.cache.push(key, layer, created_by)
                # a rebuilt RUN layer differs from the one later entries were made on; a COPY's does not
                self.diverged = self.diverged or isinstance(instruction, Run)
            self.parent = key
            return
        extra = {"layer": str(layer.diff_id) if layer is not None else ""}
        self.parent = self._key(instruction, state, extra)
