"""Resolve ``USER`` and ``--chown`` specs against a rootfs's /etc/passwd and /etc/group.

The rules are BuildKit's (which delegates to runc's ``GetExecUser``), so a Dockerfile
gets the same uid/gid/groups under kiln as under ``docker build``:

* ``USER uid:gid`` with both parts numeric (or ``root``) is taken as is, with no
  supplementary groups and without reading any file.
* a numeric user is always a uid; if /etc/passwd has no such entry it is still
  accepted, with gid 0 (or the given group).
* a user name must exist in /etc/passwd (first match wins); its primary gid comes
  from there.
* with no explicit group, the supplementary groups are those in /etc/group that
  list the matched user name as a member; with an explicit group there are none.
* an explicit group name must exist in /etc/group; a numeric group is a gid.

The two files are read *inside* the root: every symlink on the way is resolved as
if ``root`` were ``/`` so an image cannot make kiln read a host file.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from kiln.errors import KilnError

MAX_ID = 2**31 - 1
_MAX_SYMLINKS = 40
_MAX_FILE_BYTES = 16 * 1024 * 1024


class UserNotFound(KilnError):
    """A user or group named in USER or --chown that the image does not define."""


@dataclass(frozen=True)
class ExecUser:
    """Who a RUN command runs as; ``home`` feeds $HOME when the env lacks it."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()
    home: str = "/"


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


def resolve_user(spec: str, root: str | os.PathLike[str]) -> ExecUser:
    """Resolve a ``USER`` value (``name|uid[:group|gid]``, empty = root) in ``root``."""
    is_default = spec == ""
    if is_default:
        spec = "0"
    fast = _numeric_pair(spec)
    if fast is not None:
        uid, gid = fast
        return ExecUser(uid, gid, (), _home_of(uid, root))
    try:
        return _exec_user(spec, root)
    except UserNotFound:
        if is_default:
            return ExecUser(0, 0, (), "/")
        raise


def resolve_chown(spec: str, root: str | os.PathLike[str]) -> tuple[int, int]:
    """Resolve a ``COPY/ADD --chown`` value to ``(uid, gid)``.

    A numeric user gives gid = uid unless a group is given; a user name takes its
    primary gid from /etc/passwd. Unknown names are an error (BuildKit silently
    uses 0, which hides typos; classic ``docker build`` errors too).
    """
    user_part, sep, group_part = spec.partition(":")
    if not user_part and not sep:
        raise UserNotFound("empty --chown value", hint="use --chown=user[:group] or uid[:gid]")
    uid = gid = 0
    if user_part:
        number = _parse_id(user_part)
        if number is not None:
            uid = gid = number
        else:
            entry = _find_passwd(root, lambda e: e.name == user_part)
            if entry is None:
                if user_part != "root":
                    raise _unknown_user(user_part)
            else:
                uid, gid = entry.uid, entry.gid
    if group_part:
        gid = _group_gid(group_part, root)
    elif sep and not user_part:
        raise UserNotFound(f"invalid --chown value {spec!r}", hint="use --chown=user[:group] or uid[:gid]")
    return uid, gid


def read_passwd(root: str | os.PathLike[str]) -> Iterator[PasswdEntry]:
    """Entries of ``root``/etc/passwd (none if it is missing); malformed lines are skipped."""
    for fields in _records(root, "etc/passwd"):
        if len(fields) < 4 or not fields[0]:
            continue
        uid, gid = _parse_id(fields[2]), _parse_id(fields[3])
        if uid is None or gid is None:
            continue
        home = fields[5] if len(fields) > 5 else ""
        yield PasswdEntry(fields[0], uid, gid, home)


def read_groups(root: str | os.PathLike[str]) -> Iterator[GroupEntry]:
    """Entries of ``root``/etc/group (none if it is missing); malformed lines are skipped."""
    for fields in _records(root, "etc/group"):
        if len(fields) < 3 or not fields[0]:
            continue
        gid = _parse_id(fields[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in fields[3].split(",") if m.strip()) if len(fields) > 3 else ()
        yield GroupEntry(fields[0], gid, members)


def _exec_user(spec: str, root: str | os.PathLike[str]) -> ExecUser:
    user_arg, _, group_arg = spec.partition(":")
    uid_num = _parse_id(user_arg)
    if uid_num is not None:
        entry = _find_passwd(root, lambda e: e.uid == uid_num)
    else:
        entry = _find_passwd(root, lambda e: e.name == user_arg)
        if entry is None:
            raise _unknown_user(user_arg)
    if entry is not None:
        uid, gid, home = entry.uid, entry.gid, entry.home or "/"
    else:
        assert uid_num is not None
        uid, gid, home = uid_num, 0, "/"
    if group_arg:
        return ExecUser(uid, _group_gid(group_arg, root), (), home)
    groups: tuple[int, ...] = ()
    if entry is not None:
        groups = tuple(g.gid for g in read_groups(root) if entry.name in g.members)
    return ExecUser(uid, gid, groups, home)


def _group_gid(group: str, root: str | os.PathLike[str]) -> int:
    gid_num = _parse_id(group)
    if gid_num is not None:
        return gid_num  # a number is a gid, whether or not /etc/group names it
    for entry in read_groups(root):
        if entry.name == group:
            return entry.gid
    if group == "root":
        return 0
    raise UserNotFound(
        f"unknown group {group!r}: no such entry in the image's /etc/group",
        hint="create it in an earlier RUN (addgroup/groupadd) or use a numeric gid",
    )


def _unknown_user(name: str) -> UserNotFound:
    return UserNotFound(
        f"unknown user {name!r}: no such entry in the image's /etc/passwd",
        hint="create it in an earlier RUN (adduser/useradd) or use a numeric uid",
    )


def _numeric_pair(spec: str) -> tuple[int, int] | None:
    user_arg, sep, group_arg = spec.partition(":")
    if not sep:
        return None
    uid, gid = _id_or_root(user_arg), _id_or_root(group_arg)
    if uid is None or gid is None:
        return None
    return uid, gid


def _id_or_root(text: str) -> int | None:
    return 0 if text == "root" else _parse_id(text)


def _parse_id(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _home_of(uid: int, root: str | os.PathLike[str]) -> str:
    entry = _find_passwd(root, lambda e: e.uid == uid)
    return (entry.home or "/") if entry is not None else "/"


def _find_passwd(root: str | os.PathLike[str], match: Callable[[PasswdEntry], bool]) -> PasswdEntry | None:
    return next((e for e in read_passwd(root) if match(e)), None)


def _records(root: str | os.PathLike[str], relpath: str) -> Iterator[list[str]]:
    data = read_file_in_root(root, relpath)
    if data is None:
        return
    for raw in data.decode("utf-8", "replace").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        yield line.split(":")


def read_file_in_root(root: str | os.PathLike[str], relpath: str) -> bytes | None:
    """Read a small regular file at ``relpath`` resolved inside ``root``; None if absent.

    Every component is opened relative to its parent with O_NOFOLLOW; a symlink is
    re-resolved from ``root`` (absolute targets) or its directory, and ``..`` never
    climbs above ``root``. So an image's ``/etc/passwd -> /host/file`` reads the
    image's own ``/host/file``, never the host's.
    """
    root_fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _open_in_root(root_fd, relpath)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                return None
            return handle.read(_MAX_FILE_BYTES)
    finally:
        os.close(root_fd)


def _open_in_root(root_fd: int, relpath: str) -> int | None:
    pending = [p for p in relpath.split("/") if p not in ("", ".")]
    stack: list[int] = []  # fds of the directories below root on the current path
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            here = stack[-1] if stack else root_fd
            if part == "..":
                if stack:
                    os.close(stack.pop())
                continue
            try:
                st = os.stat(part, dir_fd=here, follow_symlinks=False)
            except OSError as err:
                if err.errno in (errno.ENOENT, errno.ENOTDIR):
                    return None
                raise
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_SYMLINKS:
                    return None
                target = os.readlink(part, dir_fd=here)
                if target.startswith("/"):
                    while stack:
                        os.close(stack.pop())
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
            if pending:
                if not stat.S_ISDIR(st.st_mode):
                    return None
                stack.append(os.open(part, flags | os.O_DIRECTORY, dir_fd=here))
                continue
            if not stat.S_ISREG(st.st_mode):
                return None
            return os.open(part, flags, dir_fd=here)
        return None
    finally:
        for fd in stack:
            os.close(fd)
