"""The walk snapshotter for unprivileged pods: compare the tree with the index of the previous walk.

kaniko's modes: ``full`` reads a file's content only when its metadata changed (a touch without a
change of content makes no layer entry); ``redo`` trusts mtime, size, mode, owner and inode; ``time``
trusts mtime alone. Deleted paths become whiteouts (the topmost one only), and a directory that was
deleted and made again (new inode) becomes an opaque directory.
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Add, Entry, Opaque, Whiteout
from kiln.snapshot.base import Snapshotter

Mode = Literal["full", "redo", "time"]


@dataclass(frozen=True, slots=True)
class _Stat:
    mode: int
    uid: int
    gid: int
    size: int
    mtime_ns: int
    ino: int
    link: str | None


def _read_stat(path: str, st: os.stat_result) -> _Stat:
    link = os.readlink(path) if stat.S_ISLNK(st.st_mode) else None
    return _Stat(st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns, st.st_ino, link)


def _hash(path: str) -> bytes:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.digest()


class WalkSnapshotter(Snapshotter):
    def __init__(self, root: Path, ignore: IgnoreList, mode: Mode = "full") -> None:
        super().__init__(ignore)
        self._root = Path(root)
        self.mode = mode
        self._index: dict[str, _Stat] = {}
        self._hashes: dict[str, bytes] = {}

    @property
    def root(self) -> Path:
        return self._root

    def start(self) -> None:
        self._index = self._walk()
        self._hashes = {}

    def _walk(self) -> dict[str, _Stat]:
        out: dict[str, _Stat] = {}
        root = os.fspath(self._root)
        stack = [("", root)]
        while stack:
            rel_dir, host_dir = stack.pop()
            try:
                it = os.scandir(host_dir)
            except (FileNotFoundError, NotADirectoryError, PermissionError):
                continue
            with it:
                for entry in it:
                    path = f"{rel_dir}/{entry.name}"
                    if self.ignore.ignored(path):
                        continue
                    try:
                        st = entry.stat(follow_symlinks=False)
                    except FileNotFoundError:
                        continue
                    out[path] = _read_stat(entry.path, st)
                    if stat.S_ISDIR(st.st_mode):
                        stack.append((path, entry.path))
        return out

    def _changed(self, path: str, old: _Stat, new: _Stat) -> bool:
        if stat.S_IFMT(old.mode) != stat.S_IFMT(new.mode):
            return True
        if self.mode == "time":
            return old.mtime_ns != new.mtime_ns
        if (old.mode, old.uid, old.gid, old.size, old.link) != (
            new.mode,
            new.uid,
            new.gid,
            new.size,
            new.link,
        ):
            return True
        if self.mode == "redo":
            return old.mtime_ns != new.mtime_ns or old.ino != new.ino
        if old.mtime_ns == new.mtime_ns and old.ino == new.ino:
            return False
        if not stat.S_ISREG(new.mode):
            return not stat.S_ISDIR(new.mode)
        host = os.path.join(self._root, path.lstrip("/"))
        before = self._hashes.get(path)
        after = _hash(host)
        self._hashes[path] = after
        return before is None or before != after

    def changes(self) -> list[Entry]:
        now = self._walk()
        entries: list[Entry] = []
        root = os.fspath(self._root)
        deleted = sorted(set(self._index) - set(now))
        gone_dirs: list[str] = []
        for path in deleted:
            if any(path.startswith(d + "/") for d in gone_dirs):
                continue
            entries.append(Whiteout(path))
            if stat.S_ISDIR(self._index[path].mode):
                gone_dirs.append(path)
        recreated: list[str] = []
        for path, new in sorted(now.items()):
            old = self._index.get(path)
            host = Path(root + path)
            if any(path.startswith(d + "/") for d in recreated):
                entries.append(Add(path, host))
                continue
            if old is None:
                entries.append(Add(path, host))
            elif stat.S_ISDIR(new.mode) and stat.S_ISDIR(old.mode) and old.ino != new.ino:
                entries.append(Opaque(path))
                entries.append(Add(path, host))
                recreated.append(path)
            elif self._changed(path, old, new):
                entries.append(Add(path, host))
        if self.mode == "full":
            for path, new in now.items():
                if stat.S_ISREG(new.mode) and path not in self._hashes:
                    old = self._index.get(path)
                    if old is None or old.mtime_ns != new.mtime_ns:
                        self._hashes[path] = _hash(root + path)
        self._index = now
        return entries
