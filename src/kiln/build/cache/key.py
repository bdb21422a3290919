"""Cache keys: one digest per step that names every input able to change the step's layer.

A key is the sha256 of a canonical JSON document (sorted keys, no whitespace, UTF-8), so two
documents that differ in any field -- even a field holding the empty string versus a missing one --
serialise differently and never share a key. The document carries a version (``KEY_VERSION``);
bump it whenever the rules change so old cache entries simply miss instead of being reused wrongly.

Keys chain: each step's key includes its parent's key (the base image's key for the first step),
so changing an earlier instruction changes every later key. See docs/cache.md for the full rules.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from kiln.digest import Digest
from kiln.errors import CacheError
from kiln.fs import safepath

KEY_VERSION = "kiln-layer-cache/v1"
_CHUNK = 1 << 20

Ignored = Callable[[str], bool]


def _digest_of(document: Mapping[str, object]) -> Digest:
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Digest.of_bytes(text.encode("utf-8"))


def base_key(base: Digest | None, platform: str) -> Digest:
    """The key of a stage's starting point: the base image's manifest digest (None = scratch)."""
    return _digest_of(
        {"v": KEY_VERSION, "kind": "base", "image": str(base) if base else "scratch", "platform": platform}
    )


def step_key(
    parent: Digest,
    instruction: str,
    build_args: Mapping[str, str],
    env: Mapping[str, str],
    sources: Digest | None = None,
    extra: Mapping[str, str] | None = None,
) -> Digest:
    """The key of one step.

    ``instruction`` is the instruction's text after variable expansion; ``build_args`` are the ARGs
    the step can see (with their values), ``env`` the image ENV it runs with; ``sources`` is
    ``source_digest`` of the files a COPY/ADD copies (None for other steps); ``extra`` is for other
    inputs that change the result (the user, the working directory, the shell, ``--chown``...).
    """
    return _digest_of(
        {
            "v": KEY_VERSION,
            "kind": "step",
            "parent": str(parent),
            "instruction": instruction,
            "args": dict(build_args),
            "env": dict(env),
            "sources": str(sources) if sources is not None else None,
            "extra": dict(extra or {}),
        }
    )


@dataclass(frozen=True)
class SourceEntry:
    """One file a COPY/ADD would copy, as the key sees it."""

    path: str  # relative to the source root, slash-separated
    kind: str  # "file", "dir", "symlink", "other"
    mode: int  # permission bits incl. setuid/setgid/sticky
    uid: int
    gid: int
    content: str  # sha256 hex of a file's bytes, a symlink's target, "" otherwise

    def as_list(self) -> list[object]:
        return [self.path, self.kind, self.mode, self.uid, self.gid, self.content]


def _hash_file(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                h.update(chunk)
    except OSError as err:
        raise CacheError(f"cannot read {path} to compute its cache key: {err.strerror}") from None
    return h.hexdigest()


def _entry(root: Path, rel: str) -> SourceEntry:
    host = safepath.resolve(root, rel, follow_final=False) if rel else root
    try:
        info = os.lstat(host)
    except OSError as err:
        raise CacheError(f"cannot stat {rel or '.'} to compute its cache key: {err.strerror}") from None
    mode = stat.S_IMODE(info.st_mode)
    if stat.S_ISREG(info.st_mode):
        return SourceEntry(rel, "file", mode, info.st_uid, info.st_gid, _hash_file(host))
    if stat.S_ISLNK(info.st_mode):
        return SourceEntry(rel, "symlink", mode, info.st_uid, info.st_gid, os.readlink(host))
    if stat.S_ISDIR(info.st_mode):
        return SourceEntry(rel, "dir", mode, info.st_uid, info.st_gid, "")
    return SourceEntry(rel, "other", mode, info.st_uid, info.st_gid, str(stat.S_IFMT(info.st_mode)))


def shallow_entries(root: Path, paths: Sequence[str]) -> list[list[object]]:
    """Name, type, mode, owner (and content) of each path itself, its children not walked.

    For directories whose metadata a step copies without their content: ``COPY --parents``
    recreates the parents of each match.
    """
    return [_entry(root, rel).as_list() for rel in paths]


def source_entries(
    root: Path, matched: Sequence[str], ignored: Ignored | None = None
) -> Iterator[SourceEntry]:
    """Every entry below each matched source (sorted, depth first), skipping ignored paths.

    ``matched`` are the relative paths a COPY source pattern matched (see ``match_sources``); a
    directory is walked without following symlinks, as COPY copies it.
    """
    for top in matched:
        stack = [top]
        while stack:
            rel = stack.pop()
            entry = _entry(root, rel)
            yield entry
            if entry.kind != "dir":
                continue
            host = safepath.resolve(root, rel, follow_final=False) if rel else root
            try:
                names = sorted(os.listdir(host), reverse=True)
            except OSError as err:
                raise CacheError(
                    f"cannot list {rel or '.'} to compute its cache key: {err.strerror}"
                ) from None
            for name in names:
                child = f"{rel}/{name}" if rel else name
                if ignored is None or not ignored(child):
                    stack.append(child)


def source_digest(
    root: Path, sources: Sequence[tuple[str, Sequence[str]]], ignored: Ignored | None = None
) -> Digest:
    """The digest of what a COPY/ADD copies: per source pattern, the names, modes, owners, content.

    ``sources`` is ``(pattern as written, paths it matched)`` in instruction order, so a pattern
    matching nothing still counts (and the order of sources, which decides overwrites, counts too).
    Streams each file in chunks; nothing is held in memory beyond one running hash.
    """
    h = hashlib.sha256()
    h.update(KEY_VERSION.encode() + b"\0sources\0")
    for pattern, matched in sources:
        h.update(json.dumps(["pattern", pattern], ensure_ascii=False).encode() + b"\n")
        for entry in source_entries(root, matched, ignored):
            h.update(json.dumps(entry.as_list(), ensure_ascii=False).encode() + b"\n")
    return Digest("sha256", h.hexdigest())
