"""The walk snapshotter for unprivileged pods: compare the tree with the index of the previous walk.

kaniko's modes: ``full`` reads a file's content only when its metadata changed, and a file whose
content hash from an earlier snapshot is unchanged (a ``touch``) makes no layer entry; ``redo`` trusts
mtime, size, mode, owner and inode; ``time`` trusts mtime alone. Deleted paths become whiteouts (the
topmost one only), and a directory that was deleted and made again (new inode) becomes an opaque
directory.

The walk is the whole cost, so it is kept lean: one ``lstat`` per entry (``scandir``), the index holds
plain tuples compared in C, and the ignore list is checked once per entry, never per ancestor.
"""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import Literal

from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Add, Entry, Opaque, Whiteout
from kiln.snapshot.base import Snapshotter

Mode = Literal["full", "redo", "time"]
MODES: tuple[Mode, ...] = ("full", "redo", "time")

# (st_mode, uid, gid, size, mtime_ns, ino): what each mode compares is a slice of it
_Stat = tuple[int, int, int, int, int, int]
_MODE, _SIZE, _MTIME, _INO = 0, 3, 4, 5


def _hash(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


class WalkSnapshotter(Snapshotter):
    """Snapshots by walking ``root``; cost grows with the tree, but only changed files are read."""

    def __init__(self, root: Path, ignore: IgnoreList, mode: Mode = "full") -> None:
        super().__init__(ignore)
        if mode not in MODES:
            raise ValueError(f"unknown snapshot mode {mode!r}")
        self._root = Path(root)
        self._prefix = os.fspath(self._root).rstrip("/")  # "" for "/" (--isolation=inplace)
        self.mode = mode
        self._index: dict[str, _Stat] = {}
        self._hashes: dict[str, bytes] = {}  # full mode: content of files added by earlier snapshots
        self._fresh: set[str] = set()

    @property
    def root(self) -> Path:
        return self._root

    def start(self) -> None:
        self._index = self._walk()
        self._hashes = {}

    def _walk(self) -> dict[str, _Stat]:
        out: dict[str, _Stat] = {}
        prunes = self.ignore.prunes
        stack = [("", os.fspath(self._root))]
        while stack:
            rel_dir, host_dir = stack.pop()
            try:
                it = os.scandir(host_dir)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            with it:
                for entry in it:
                    path = f"{rel_dir}/{entry.name}"
                    if prunes(path):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    out[path] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ino)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((path, entry.path))
        return out

    def _changed(self, path: str, old: _Stat, new: _Stat, mode: str) -> bool:
        """``old != new`` is known; decide by the mode whether that is a change worth a layer entry."""
        if stat.S_IFMT(old[_MODE]) != stat.S_IFMT(new[_MODE]):
            return True
        if mode == "time":
            return old[_MTIME] != new[_MTIME]
        if old[:4] != new[:4] or mode == "redo":
            return True
        # full: only mtime or inode moved; a regular file whose earlier content hash still matches is the same
        if stat.S_ISDIR(new[_MODE]):
            return False
        if not stat.S_ISREG(new[_MODE]):
            return True
        before = self._hashes.get(path)
        after = self._rehash(path)
        return before != after

    def _rehash(self, path: str) -> bytes:
        digest = self._hashes[path] = _hash(self._prefix + path)
        self._fresh.add(path)
        return digest

    def changes(self, mode: str | None = None) -> list[Entry]:
        mode = mode or self.mode
        now = self._walk()
        old_index = self._index
        entries: list[Entry] = []
        self._fresh = set()
        root = self._prefix
        recreated: set[str] = set()
        for path, new in now.items():
            old = old_index.get(path)
            if old == new and not (recreated and self._below(path, recreated)):
                continue
            if old is None or (recreated and self._below(path, recreated)):
                pass
            elif stat.S_ISDIR(new[_MODE]) and stat.S_ISDIR(old[_MODE]) and old[_INO] != new[_INO]:
                entries.append(Opaque(path))
                recreated.add(path)
            elif not self._changed(path, old, new, mode):
                continue
            entries.append(Add(path, Path(root + path)))
            if mode != "full":
                self._hashes.pop(path, None)  # not read now: a later full snapshot must not trust it
            elif stat.S_ISREG(new[_MODE]) and path not in self._fresh:
                self._rehash(path)
        for path in old_index.keys() - now.keys():
            self._hashes.pop(path, None)
            parent = path.rpartition("/")[0]
            if parent and not stat.S_ISDIR(now.get(parent, (0,))[_MODE]):
                continue  # covered by the parent's whiteout or by its replacement
            if not (recreated and self._below(path, recreated)):  # an opaque dir hides it already
                entries.append(Whiteout(path))
        self._index = now
        return entries

    @staticmethod
    def _below(path: str, dirs: set[str]) -> bool:
        parent = path.rpartition("/")[0]
        while parent:
            if parent in dirs:
                return True
            parent = parent.rpartition("/")[0]
        return False
