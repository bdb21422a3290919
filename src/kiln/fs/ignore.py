"""The ignore list: image paths whose trees never go into a layer (kaniko's rules)."""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase

from kiln.fs.safepath import clean

DEFAULT_IGNORED = ("/proc", "/sys", "/dev", "/kaniko", "/etc/mtab")


def mount_points(mountinfo: str, root: str) -> tuple[str, ...]:
    """Image paths of the mounts below ``root`` (host path) listed in ``/proc/self/mountinfo`` text."""
    root = os.path.abspath(root)
    out = []
    for line in mountinfo.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].encode().decode("unicode_escape")
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
    ) -> IgnoreList:
        paths = [*defaults, *extra, *mounts]
        if ignore_var_run:
            paths.append("/var/run")
        return cls(tuple(sorted({clean(p) for p in paths if p and clean(p) != "/"})))

    def ignored(self, path: str) -> bool:
        """Whether the image path ``path`` is, or is below, an ignored path."""
        parts = clean(path).split("/")[1:]
        for ignored in self.paths:
            pattern = ignored.split("/")[1:]
            if len(parts) >= len(pattern) and all(
                fnmatchcase(part, pat) for part, pat in zip(parts, pattern, strict=False)
            ):
                return True
        return False
