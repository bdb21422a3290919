"""This process's mount table, read from ``/proc/self/mountinfo``.

Several places must not touch what is mounted: the inplace ignore list (every mount point is kept out
of the image), and the deletion of work dirs (deleting through a leftover bind mount would delete what
it shows). They all read the table here, with mountinfo's octal escapes undone byte-exactly, so a mount
point with a space or a non-ASCII name is the same path everywhere.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence

MOUNTINFO = "/proc/self/mountinfo"
_OCTAL = re.compile(rb"\\([0-7]{3})")


def unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as ``\\ooo`` octal escapes."""
    raw = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), field.encode("utf-8", "surrogateescape"))
    return raw.decode("utf-8", "surrogateescape")


def mount_table(mountinfo: str) -> tuple[str, ...]:
    """Every mount point (field 5) in ``/proc/self/mountinfo`` text, in table order."""
    return tuple(unescape(fields[4]) for fields in map(str.split, mountinfo.splitlines()) if len(fields) > 4)


def read_mount_table(mountinfo: str = MOUNTINFO) -> tuple[str, ...]:
    """:func:`mount_table` of a mountinfo file; empty where there is none."""
    try:
        with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
            return mount_table(f.read())
    except OSError:
        return ()


def busy_below(
    path: str | os.PathLike[str], mountinfo: str = MOUNTINFO, table: Sequence[str] | None = None
) -> str | None:
    """A mount point at or below ``path`` (symlinks resolved), or None; ``table``: one already read."""
    real = os.path.realpath(path)
    prefix = real.rstrip("/") + "/"
    for point in read_mount_table(mountinfo) if table is None else table:
        if point == real or point.startswith(prefix):
            return point
    return None
