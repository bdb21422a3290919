"""Mount targets inside a rootfs: resolved without leaving it, created as stubs, removed after.

A mount needs an existing file or directory to land on. When the image lacks one
(no /proc, no /etc/resolv.conf, a secret under /run/secrets) the sandbox creates
an empty *stub*, records it, and the runner deletes it once the namespace is gone,
putting the parent directory's times back, so the snapshot taken after the RUN
does not see files the Dockerfile never made. (BuildKit cleans its mount stubs the
same way.) Cleanup walks with O_NOFOLLOW and checks the parent's identity, so a
command that swapped a directory for a symlink cannot make kiln delete anything
outside the rootfs, or anything that is not the empty stub it made.
"""

from __future__ import annotations

import errno
import os
import stat
from dataclasses import asdict, dataclass
from typing import Any, Literal

_MAX_LINKS = 40


class RootPathError(Exception):
    """A mount target that cannot exist inside the root (a file in the way, a symlink loop)."""


@dataclass(frozen=True)
class Stub:
    """An empty file or directory created in the rootfs only to mount on."""

    path: str  # relative to the root, symlinks already resolved
    is_dir: bool
    parent_dev: int
    parent_ino: int
    parent_atime_ns: int
    parent_mtime_ns: int  # before the stub was made
    parent_mtime_after_ns: int  # right after

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Stub:
        return cls(**data)


def resolve_in_root(root: str, target: str, kind: Literal["file", "dir"], stubs: list[Stub] | None) -> str:
    """Host path of ``target`` inside ``root``, symlinks resolved as if ``root`` were ``/``.

    Missing components are created (directories 0755, a final file 0644 empty),
    each recorded in ``stubs`` when it is not None.
    """
    pending = _parts(target)
    done: list[str] = []
    links = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if done:
                done.pop()
            continue
        host = _join(root, [*done, part])
        try:
            st = os.lstat(host)
        except FileNotFoundError:
            make_dir = bool(pending) or kind == "dir"
            _make_stub(root, done, part, make_dir, stubs)
            done.append(part)
            continue
        if stat.S_ISLNK(st.st_mode):
            links += 1
            if links > _MAX_LINKS:
                raise RootPathError(f"too many symlinks resolving {target}")
            link = os.readlink(host)
            if link.startswith("/"):
                done = []
            pending = _parts(link) + pending
            continue
        if pending and not stat.S_ISDIR(st.st_mode):
            raise RootPathError(f"{'/' + '/'.join([*done, part])} is not a directory (resolving {target})")
        if not pending and kind == "dir" and not stat.S_ISDIR(st.st_mode):
            raise RootPathError(f"{target} exists in the image and is not a directory")
        if not pending and kind == "file" and stat.S_ISDIR(st.st_mode):
            raise RootPathError(f"{target} exists in the image and is a directory")
        done.append(part)
    if not done:
        raise RootPathError(f"{target} resolves to the root directory (a symlink to /?)")
    return _join(root, done)


def cleanup_stubs(root: str, stubs: list[Stub]) -> None:
    """Remove the stubs that are still ours and still empty, newest first."""
    for stub in reversed(stubs):
        _remove_stub(root, stub)


def make_dirs_owned(path: str, uid: int, gid: int) -> None:
    """Create the missing directories of ``path`` (0755, owned by uid:gid), as BuildKit does for a RUN's cwd.

    Called where ``/`` is already the container's root, so symlinks resolve inside it.
    """
    current = "/"
    for part in _parts(path):
        current = os.path.join(current, part)
        if not os.path.lexists(current):
            os.mkdir(current)
            os.chmod(current, 0o755)  # whatever the caller's umask
            if os.geteuid() == 0:
                os.chown(current, uid, gid)


def _make_stub(root: str, done: list[str], name: str, is_dir: bool, stubs: list[Stub] | None) -> None:
    parent = _join(root, done)
    before = os.stat(parent)
    path = os.path.join(parent, name)
    if is_dir:
        os.mkdir(path)
    else:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW))
    os.chmod(path, 0o755 if is_dir else 0o644)  # whatever kiln's umask: a user must reach mounts below
    if stubs is not None:
        after = os.stat(parent)
        stubs.append(
            Stub(
                "/".join([*done, name]),
                is_dir,
                before.st_dev,
                before.st_ino,
                before.st_atime_ns,
                before.st_mtime_ns,
                after.st_mtime_ns,
            )
        )


def _remove_stub(root: str, stub: Stub) -> None:
    parts = stub.path.split("/")
    parent_fd = _open_dir_nofollow(root, parts[:-1])
    if parent_fd is None:
        return
    try:
        st_parent = os.fstat(parent_fd)
        if (st_parent.st_dev, st_parent.st_ino) != (stub.parent_dev, stub.parent_ino):
            return
        name = parts[-1]
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        try:
            if stub.is_dir and stat.S_ISDIR(st.st_mode):
                os.rmdir(name, dir_fd=parent_fd)
            elif not stub.is_dir and stat.S_ISREG(st.st_mode) and st.st_size == 0:
                os.unlink(name, dir_fd=parent_fd)
            else:
                return
        except OSError as err:
            if err.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.EBUSY, errno.ENOENT):
                return
            raise
        if st_parent.st_mtime_ns == stub.parent_mtime_after_ns:
            os.utime(parent_fd, ns=(stub.parent_atime_ns, stub.parent_mtime_ns))
    finally:
        os.close(parent_fd)


def _open_dir_nofollow(root: str, parts: list[str]) -> int | None:
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    for part in parts:
        try:
            child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        except OSError:
            os.close(fd)
            return None
        os.close(fd)
        fd = child
    return fd


def _parts(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def _join(root: str, parts: list[str]) -> str:
    return os.path.join(root, *parts) if parts else root
