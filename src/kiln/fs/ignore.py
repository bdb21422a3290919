"""The ignore list: image paths whose trees never go into a layer (kaniko's rules)."""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cached_property

from kiln.fs.mounts import MOUNTINFO, mount_table, read_mount_table
from kiln.fs.safepath import clean

_GLOB = re.compile(r"[*?\[]")
DEFAULT_IGNORED = ("/proc", "/sys", "/dev", "/kaniko", "/etc/mtab")
# A chroot stage root is a directory of its own, not kiln's container: /kaniko in it is image content
# (kiln's own image is built that way), unlike kaniko, whose /kaniko is always its own.
CHROOT_IGNORED = tuple(p for p in DEFAULT_IGNORED if p != "/kaniko")
# What a container runtime puts into a container's ``/``: with --isolation=inplace it is not the image's.
RUNTIME_FILES = ("/etc/resolv.conf", "/etc/hosts", "/etc/hostname", "/var/run/secrets")


def mount_points(mountinfo: str, root: str) -> tuple[str, ...]:
    """Image paths of the mounts below ``root`` (host path) listed in ``/proc/self/mountinfo`` text."""
    return _below(mount_table(mountinfo), root)


def read_mount_points(root: str, mountinfo: str = MOUNTINFO) -> tuple[str, ...]:
    """:func:`mount_points` of this process's mount table (empty where there is none)."""
    return _below(read_mount_table(mountinfo), root)


def _below(points: Iterable[str], root: str) -> tuple[str, ...]:
    root = os.path.abspath(root)
    out = []
    for point in points:
        if point == root:
            continue
        if root == "/":
            out.append(point)
        elif point.startswith(root + "/"):
            out.append(point[len(root) :])
    return tuple(sorted(set(out)))


@dataclass(frozen=True)
class IgnoreList:
    """Exact paths and their descendants; a component may be a glob (``--ignore-path``)."""

    paths: tuple[str, ...]

    @classmethod
    def build(
        cls,
        extra: Iterable[str] = (),
        ignore_var_run: bool = True,
        mounts: Iterable[str] = (),
        defaults: Iterable[str] = DEFAULT_IGNORED,
        work_dir: str | None = None,
    ) -> IgnoreList:
        """kaniko's list: the defaults, ``--ignore-path`` values, mount points, kiln's work dir, /var/run."""
        paths = [*defaults, *extra, *mounts]
        if work_dir:
            paths.append(work_dir)
        if ignore_var_run:
            paths.append("/var/run")
        return cls(tuple(sorted({clean(p) for p in paths if p and clean(p) != "/"})))

    @cached_property
    def _exact(self) -> frozenset[str]:
        return frozenset(p for p in self.paths if not _GLOB.search(p))

    @cached_property
    def _globs(self) -> tuple[tuple[str, ...], ...]:
        return tuple(tuple(p.split("/")[1:]) for p in self.paths if _GLOB.search(p))

    def ignored(self, path: str) -> bool:
        """Whether the image path ``path`` is, or is below, an ignored path."""
        path = clean(path)
        probe = path
        while probe != "/":
            if probe in self._exact:
                return True
            probe = probe.rpartition("/")[0] or "/"
        if not self._globs:
            return False
        parts = path.split("/")[1:]
        return any(
            len(parts) >= len(pattern) and all(map(fnmatchcase, parts, pattern)) for pattern in self._globs
        )

    def prunes(self, path: str) -> bool:
        """Whether a walk must skip the clean path ``path`` whose parent it did not skip (the fast check)."""
        if path in self._exact:
            return True
        if not self._globs:
            return False
        parts = path.split("/")[1:]
        return any(
            len(parts) == len(pattern) and all(map(fnmatchcase, parts, pattern)) for pattern in self._globs
        )

    def guards(self, path: str) -> bool:
        """Whether an ignored path lies strictly below the clean path ``path``.

        A directory that guards one must be emptied entry by entry, never removed whole: removing it
        would remove what the ignore list protects (kiln's work dir, a mounted volume).
        """
        prefix = path.rstrip("/") + "/"
        if any(p.startswith(prefix) for p in self._exact):
            return True
        parts = [p for p in path.split("/") if p]
        return any(
            len(pattern) > len(parts) and all(map(fnmatchcase, parts, pattern[: len(parts)]))
            for pattern in self._globs
        )
