"""``.dockerignore`` with Docker's semantics: ordered patterns, last match wins, ``!`` re-includes.

Patterns are relative to the context root (a leading ``/`` is dropped), cleaned like Go's
``filepath.Clean``; ``*``/``?`` stop at ``/``, ``**`` spans directories, ``\\`` escapes.  A
path is also excluded when a pattern matches one of its parent directories.  A
``<Dockerfile>.dockerignore`` next to the Dockerfile takes precedence over the context's.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kiln.errors import DockerfileError, Location

_REGEX_SPECIAL = frozenset(".+()|{}$^")


@dataclass(frozen=True)
class IgnorePattern:
    text: str
    exclusion: bool
    regex: re.Pattern[str]
    parts: tuple[str, ...]

    def match(self, path: str) -> bool:
        return self.regex.match(path) is not None


def go_clean(path: str) -> str:
    """Go's filepath.Clean for slash paths ("" -> ".", no trailing slash, ".." resolved)."""
    if not path:
        return "."
    cleaned = posixpath.normpath(path)
    if cleaned.startswith("//"):
        cleaned = "/" + cleaned.lstrip("/")
    return cleaned


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i = 0
    n = len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append("\\\\")
        elif ch in _REGEX_SPECIAL:
            out.append("\\" + ch)
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                raise re.error("missing closing ]")
            body = pattern[i:end].replace("\\", "\\\\")
            # literal in Go's classes; Python would read "[" and doubled "&~|" as set syntax
            for literal in "[&~|":
                body = body.replace(literal, "\\" + literal)
            out.append("[" + body + "]")
            i = end + 1
        elif ch == "]":
            out.append("\\]")
        else:
            out.append(re.escape(ch) if not ch.isalnum() else ch)
    out.append("$")
    return re.compile("".join(out), re.DOTALL)


class IgnoreMatcher:
    """Decides which context paths are excluded (``matches`` True) from the build."""

    def __init__(self, patterns: Iterable[str], source: str = ".dockerignore") -> None:
        compiled: list[IgnorePattern] = []
        for number, raw in enumerate(patterns, start=1):
            text = raw.strip()
            if not text:
                continue
            exclusion = text.startswith("!")
            if exclusion:
                text = text[1:].strip()
                if not text:
                    raise DockerfileError('illegal exclusion pattern: "!"', Location(source, number, number))
            text = go_clean(text)
            if len(text) > 1 and text.startswith("/"):
                text = text[1:]
            try:
                regex = _compile(text)
            except re.error as exc:
                raise DockerfileError(
                    f"syntax error in pattern {raw.strip()!r}: {exc}", Location(source, number, number)
                ) from None
            compiled.append(IgnorePattern(text, exclusion, regex, tuple(text.split("/"))))
        self.patterns = tuple(compiled)
        self.has_exclusions = any(p.exclusion for p in compiled)

    def matches(self, relpath: str) -> bool:
        """True when ``relpath`` (slash-separated, relative to the context) is ignored."""
        path = go_clean(relpath.replace(os.sep, "/")).lstrip("/")
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for pattern in self.patterns:
            if pattern.exclusion != matched:
                continue
            hit = pattern.match(path)
            if not hit and parents:
                hit = any(pattern.match("/".join(parents[: i + 1])) for i in range(len(parents)))
            if hit:
                matched = not pattern.exclusion
        return matched

    def may_reinclude_under(self, reldir: str) -> bool:
        """Whether some ``!`` pattern could re-include a path below an excluded directory."""
        dir_parts = reldir.strip("/").split("/")
        for pattern in self.patterns:
            if pattern.exclusion and _prefix_compatible(pattern.parts, dir_parts):
                return True
        return False

    def walk(self, context_dir: str | os.PathLike[str]) -> Iterator[str]:
        """Included paths (files, links and directories) below the context, sorted, slash-separated.

        An excluded directory is not yielded, but is still descended into when a ``!``
        pattern may re-include something inside it.
        """
        root = Path(context_dir)
        yield from self._walk(root, "")

    def _walk(self, root: Path, prefix: str) -> Iterator[str]:
        # An explicit stack, not recursion: a context may nest deeper than Python's recursion limit.
        stack = [_listing(root, prefix)]
        while stack:
            try:
                entry, rel = next(stack[-1])
            except StopIteration:
                stack.pop()
                continue
            excluded = self.matches(rel)
            is_dir = entry.is_dir(follow_symlinks=False)
            if not excluded:
                yield rel
            if is_dir and (not excluded or (self.has_exclusions and self.may_reinclude_under(rel))):
                stack.append(_listing(root, rel))


def _listing(root: Path, prefix: str) -> Iterator[tuple[os.DirEntry[str], str]]:
    """The entries of one context directory, sorted by name, with their context-relative paths."""
    try:
        entries = sorted(os.scandir(root / prefix if prefix else root), key=lambda e: e.name)
    except OSError as exc:
        raise DockerfileError(f"cannot read context directory {root / prefix}: {exc.strerror}") from None
    return iter([(entry, f"{prefix}/{entry.name}" if prefix else entry.name) for entry in entries])


def _prefix_compatible(pattern_parts: tuple[str, ...], dir_parts: list[str]) -> bool:
    for part, name in zip(pattern_parts, dir_parts, strict=False):
        if "**" in part:
            return True
        if not _compile(part).match(name):
            return False
    return True


def ignore_file_for(
    context_dir: str | os.PathLike[str], dockerfile_path: str | os.PathLike[str] | None
) -> Path:
    """``<Dockerfile>.dockerignore`` beside the Dockerfile if it exists, else ``<context>/.dockerignore``."""
    if dockerfile_path is not None:
        specific = Path(f"{dockerfile_path}.dockerignore")
        if specific.is_file():
            return specific
    return Path(context_dir) / ".dockerignore"


def read_patterns(text: str) -> list[str]:
    """Lines of a .dockerignore minus comments (``#`` in column one); blank lines kept for numbering."""
    if text.startswith("\ufeff"):
        text = text[1:]
    return ["" if line.startswith("#") else line for line in text.splitlines()]


def load_ignore(
    context_dir: str | os.PathLike[str], dockerfile_path: str | os.PathLike[str] | None = None
) -> IgnoreMatcher:
    """The matcher for a build; no ignore file means nothing is ignored."""
    path = ignore_file_for(context_dir, dockerfile_path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return IgnoreMatcher(())
    except OSError as exc:
        raise DockerfileError(f"cannot read {path}: {exc.strerror}") from None
    return IgnoreMatcher(read_patterns(text), str(path))
