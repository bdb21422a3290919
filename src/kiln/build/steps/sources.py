"""Which files a COPY/ADD source names, and where each lands: BuildKit's path rules, no I/O outside roots.

* A source may be a glob (Go ``filepath.Match`` per path component; ``*`` matches dotfiles too).
* A source directory copies its *contents*; a file copies itself.
* The destination is a directory when it ends in ``/``, when there are several sources (or a glob
  matched several), or when it already is a directory in the rootfs; otherwise it is the file name.
* Context paths excluded by .dockerignore do not exist for COPY.
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
        nxt: list[str] = []
        for base in found:
            directory = safepath.resolve(root, base) if base else root
            if not has_glob(part):
                candidate = posixpath.join(base, part) if base else part
                if os.path.lexists(safepath.resolve(root, candidate)):
                    nxt.append(candidate)
                continue
            try:
                names = sorted(os.listdir(directory))
            except OSError:
                continue
            nxt.extend(posixpath.join(base, n) if base else n for n in names if fnmatchcase(n, part))
        found = nxt
    return [p for p in found if ignored is None or not ignored(p)]


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
