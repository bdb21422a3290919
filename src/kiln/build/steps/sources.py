"""Which files a COPY/ADD source names, and where each lands: BuildKit's path rules, no I/O outside roots.

* A source may be a glob (Go ``filepath.Match`` per path component; ``*`` matches dotfiles too).
* A source directory copies its *contents*; a file copies itself.
* The destination is a directory when it ends in ``/``, when there are several sources (or a glob
  matched several), or when it already is a directory in the rootfs; otherwise it is the file name.
* Context paths excluded by .dockerignore do not exist for COPY.
* ``COPY --parents`` (BuildKit, Dockerfile 1.7-labs, stable syntax since): each match keeps its path
  relative to the source root below the destination, or relative to a ``/./`` pivot in the source
  when there is one (rsync's ``--relative``: ``./x/./y/*.txt`` keeps ``y/...``); ``**`` matches any
  number of path components, none included; the destination is always a directory.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from kiln.fs import safepath

_GLOB = re.compile(r"[*?\[]")

Ignored = Callable[[str], bool]


def has_glob(pattern: str) -> bool:
    return bool(_GLOB.search(pattern))


def match_sources(root: Path, pattern: str, ignored: Ignored | None = None) -> list[str]:
    """Paths below ``root`` (relative, slash-separated, sorted) that ``pattern`` names; [] if none."""
    clean = safepath.clean(pattern).lstrip("/")
    if not clean:
        return [""]
    if not has_glob(clean):
        host = safepath.resolve(root, clean)
        if not os.path.lexists(host) or (ignored is not None and ignored(clean)):
            return []
        return [clean]
    found = [""]
    for part in clean.split("/"):
        found = _match_part(root, found, part)
    return [p for p in found if ignored is None or not ignored(p)]


PIVOT = "/./"


def split_pivot(source: str) -> tuple[str, str]:
    """``--parents``: (the directory kept paths are relative to, the pattern below it), both clean.

    The first ``/./`` in the source is the pivot; without one it is the source root (``""``). A leading
    ``./`` is only the usual relative marker.
    """
    head, sep, tail = source.partition(PIVOT)
    if not sep:
        return "", safepath.clean(source).lstrip("/")
    return safepath.clean(head).lstrip("/"), safepath.clean(tail).lstrip("/")


def match_parents(root: Path, pivot: str, pattern: str, ignored: Ignored | None = None) -> list[str]:
    """Paths below ``root`` matching ``pivot/pattern`` where ``**`` spans any number of components."""
    found = [pivot]
    if pivot and not os.path.lexists(safepath.resolve(root, pivot)):
        return []
    parts = pattern.split("/") if pattern else []
    for index, part in enumerate(parts):
        if part == "**":
            dirs_only = index < len(parts) - 1  # a later component can only continue below a directory
            nxt = [b for base in found for b in (base, *_descendants(root, base, dirs_only))]
        else:
            nxt = _match_part(root, found, part)
        found = list(dict.fromkeys(nxt))
    return sorted(p for p in found if ignored is None or not p or not ignored(p))


def _match_part(root: Path, found: list[str], part: str) -> list[str]:
    """Each path of ``found`` extended by one pattern component: a literal name that exists, or a glob."""
    nxt: list[str] = []
    for base in found:
        if not has_glob(part):
            candidate = posixpath.join(base, part) if base else part
            if os.path.lexists(safepath.resolve(root, candidate)):
                nxt.append(candidate)
            continue
        directory = safepath.resolve(root, base) if base else root
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            continue
        nxt.extend(posixpath.join(base, n) if base else n for n in names if fnmatchcase(n, part))
    return nxt


def _descendants(root: Path, base: str, dirs_only: bool = False) -> list[str]:
    """Every path below ``base`` (symlinks not followed; only directories if ``dirs_only``), sorted."""
    top = safepath.resolve(root, base) if base else root
    if not top.is_dir():
        return []
    out = []
    for dirpath, dirnames, filenames in os.walk(top):
        rel_dir = os.path.relpath(dirpath, top)
        for name in dirnames if dirs_only else dirnames + filenames:
            rel = name if rel_dir == "." else f"{rel_dir}/{name}"
            out.append(posixpath.join(base, rel) if base else rel)
    return sorted(out)


def kept_path(match: str, pivot: str) -> str:
    """``--parents``: the part of ``match`` that is recreated below the destination (``""``: the pivot)."""
    if match == pivot:
        return ""
    return posixpath.relpath(match, pivot) if pivot else match


def kept_parents(match: str, pivot: str) -> list[str]:
    """``--parents``: the source directories between the pivot and ``match`` (outermost first)."""
    parts = kept_path(match, pivot).split("/")
    return [posixpath.join(pivot, *parts[:i]) for i in range(1, len(parts))]


@dataclass(frozen=True)
class Placement:
    """One matched source and the image path it is copied to (``contents_of`` for a directory)."""

    source: str
    dest: str
    contents_of: bool


def destination_is_dir(dest: str, sources: int, existing_dir: bool) -> bool:
    return dest.endswith("/") or dest.endswith("/.") or dest in (".", "/") or sources > 1 or existing_dir


def absolute_dest(dest: str, workdir: str) -> str:
    """A relative destination is below WORKDIR; the trailing slash is kept (it carries meaning)."""
    joined = dest if dest.startswith("/") else posixpath.join(workdir or "/", dest)
    cleaned = safepath.clean(joined)
    names_dir = dest.endswith("/") or dest in (".", "..") or dest.endswith(("/.", "/.."))
    return cleaned + "/" if names_dir and cleaned != "/" else cleaned


def place(matches: list[tuple[str, bool]], dest: str, dest_is_dir: bool) -> list[Placement]:
    """``matches`` is (relative source, is_directory); returns where each goes."""
    out = []
    base = dest.rstrip("/") or "/"
    for source, is_dir in matches:
        if is_dir:
            out.append(Placement(source, base, True))
        elif dest_is_dir:
            out.append(Placement(source, posixpath.join(base, posixpath.basename(source) or "."), False))
        else:
            out.append(Placement(source, base, False))
    return out
