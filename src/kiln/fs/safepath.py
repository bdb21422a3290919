"""Resolving image paths inside a root directory without ever leaving it.

Symlinks met on the way are followed as the container would see them: an absolute target restarts
at the root, and ``..`` never climbs above it. This is how base-image layers, COPY destinations and
users' files are reached safely.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from kiln.errors import KilnError

MAX_LINKS = 255


def clean(path: str) -> str:
    """A lexically cleaned absolute path (``/a/b``), ``..`` clamped at ``/``."""
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts:
                parts.pop()
            continue
        parts.append(part)
    return "/" + "/".join(parts)


def resolve(root: Path, path: str, follow_final: bool = True) -> Path:
    """The host path for ``path`` as seen from inside ``root`` (which must be absolute)."""
    root_s = os.fspath(root)
    pending = [p for p in path.split("/") if p not in ("", ".")]
    pending.reverse()
    done: list[str] = []
    base = root_s.rstrip("/")
    prefixes = [base]  # prefixes[i] is root joined with done[:i]: no re-joining of deep paths at every step
    links = 0
    while pending:
        part = pending.pop()
        if part == "..":
            if done:
                done.pop()
                prefixes.pop()
            continue
        candidate = prefixes[-1] + "/" + part
        if not pending and not follow_final:
            done.append(part)
            break
        try:
            st = os.lstat(candidate)
        except (FileNotFoundError, NotADirectoryError):
            done.append(part)
            prefixes.append(candidate)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > MAX_LINKS:
                raise KilnError(f"too many levels of symbolic links resolving {path!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
                prefixes = [base]
            more = [p for p in target.split("/") if p not in ("", ".")]
            pending.extend(reversed(more))
            continue
        done.append(part)
        prefixes.append(candidate)
    return Path(root_s, *done)


def rel(path: str) -> str:
    """``/a/b`` -> ``a/b`` (the form tar entries use)."""
    return clean(path).lstrip("/")
