"""Deleting a build's scratch tree without making the build wait for it.

Why: unlinking a stage root costs one journal commit's share per file, and with ext4's online discard
(``mount -o discard``) one discard request per freed block: 0.1-2 ms a file on the benchmark host, i.e.
most of a 100k-file build's wall time (docs/performance.md). The build's outputs are complete before that
deletion starts, so nothing needs to wait for it.

How: :func:`discard` renames the tree into ``<work root>/.trash/`` (one atomic rename on the same
filesystem: the tree is gone from where it was the moment the call returns) and starts a detached, niced
child process that deletes everything in that trash dir and exits. The next kiln run with the same work
root starts a sweeper too, so a tree left by a killed sweeper (a container that ended, a reboot) goes
then. Sweepers take an exclusive ``flock`` on ``.trash/.lock``, so at most one deletes at a time, and
:func:`wait_swept` lets a caller (a benchmark, a test) wait until the trash is empty; ``--cleanup`` passes
``wait`` to :func:`discard`, which then deletes in the foreground.

Nothing outside the work root is touched: the trash dir is inside it, and an entry with anything still
mounted below it is left alone (deleting through a leftover bind mount would delete what it shows).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import sys
import time
import uuid
from pathlib import Path

from kiln.fs.mounts import busy_below, read_mount_table

TRASH_DIR = ".trash"
log = logging.getLogger(__name__)
_LOCK = ".lock"


def trash_dir(work_root: Path) -> Path:
    return Path(work_root) / TRASH_DIR


def move_to_trash(path: Path, work_root: Path) -> Path | None:
    """Rename ``path`` into the trash dir of ``work_root``; None when it cannot be renamed there.

    ``path`` must be on the same filesystem as ``work_root`` (a rename, never a copy).
    """
    trash = trash_dir(work_root)
    try:
        trash.mkdir(mode=0o700, exist_ok=True)
        target = trash / f"{path.name}-{uuid.uuid4().hex[:12]}"
        os.rename(path, target)
    except OSError:
        return None
    return target


_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def remove_tree(path: Path | str) -> bool:
    """Delete ``path`` and everything below it, however deep; True when it is gone.

    Why not ``shutil.rmtree``: it recurses once per directory level, so a tree a few thousand levels deep
    (one ``RUN`` loop of ``mkdir d; cd d`` makes it) raised RecursionError and stayed on disk for good, and
    a path that long exceeds PATH_MAX anyway. Here one directory fd is open at a time: down by name with
    O_NOFOLLOW (symlinks are unlinked, never followed), back up by ``..``; each level keeps its name and the
    subdirectories still to visit, so every directory is read once. What cannot be deleted is left.
    """
    path = os.fspath(path)
    try:
        fd = os.open(path, _DIR_FLAGS)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(path)
        return not os.path.lexists(path)
    levels: list[
        tuple[str, list[str]]
    ] = []  # per level below ``path``: (its name, the parent's subdirs left)
    todo = _unlink_files(fd)
    try:
        while True:
            if todo:
                name = todo.pop()
                try:
                    child = os.open(name, _DIR_FLAGS, dir_fd=fd)
                except OSError:
                    continue
                levels.append((name, todo))
                os.close(fd)
                fd = child
                todo = _unlink_files(fd)
                continue
            if not levels:
                break
            parent = os.open("..", _DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            name, todo = levels.pop()
            with contextlib.suppress(OSError):
                os.rmdir(name, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(path)
    return not os.path.lexists(path)


def _unlink_files(fd: int) -> list[str]:
    """Unlink everything in directory ``fd`` but its subdirectories; return their names."""
    subdirs = []
    with os.scandir(fd) as it:
        entries = list(it)
    for entry in entries:
        try:
            is_dir = entry.is_dir(follow_symlinks=False)
        except OSError:
            is_dir = False
        if is_dir:
            subdirs.append(entry.name)
        else:
            with contextlib.suppress(OSError):
                os.unlink(entry.name, dir_fd=fd)
    return subdirs


def sweep(trash: Path, mountinfo_path: str = "/proc/self/mountinfo", remove_root: bool = False) -> int:
    """Delete every entry of ``trash`` (holding its lock); returns how many entries were left in place.

    ``remove_root``: afterwards also remove the trash dir and its parent (a private temp work root) when
    nothing was left and nothing else is in the parent.
    """
    trash = Path(trash)
    try:
        lock = os.open(trash / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return 0  # no trash dir: nothing to do
    left = 0
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            names = sorted(n for n in os.listdir(trash) if n != _LOCK)
        except OSError:
            return 0
        table = read_mount_table(mountinfo_path)  # once per sweep, not once per entry
        for name in names:
            entry = trash / name
            if busy_below(entry, table=table) is not None:
                left += 1
                continue
            if not remove_tree(entry):
                left += 1
    finally:
        os.close(lock)
    if remove_root and left == 0:
        for done in (trash / _LOCK, trash, trash.parent):
            try:
                os.rmdir(done) if done != trash / _LOCK else os.unlink(done)
            except OSError:
                break
    return left


def pending(trash: Path) -> list[str]:
    """Entries still waiting in ``trash``."""
    try:
        return sorted(n for n in os.listdir(trash) if n != _LOCK)
    except OSError:
        return []


def wait_swept(
    trash: Path,
    timeout: float | None = None,
    adopt_after: float = 2.0,
    mountinfo_path: str = "/proc/self/mountinfo",
) -> bool:
    """Block until the trash is empty but for entries with a mount below them; False after ``timeout``.

    A sweeper may still be starting when this is called, so a free lock alone proves nothing; when the
    lock has been free for ``adopt_after`` seconds and deletable entries remain (their sweeper was
    stopped, or never started), this process sweeps them itself.
    """
    trash = Path(trash)
    deadline = None if timeout is None else time.monotonic() + timeout
    free_since: float | None = None
    while True:
        table = read_mount_table(mountinfo_path)
        names = [n for n in pending(trash) if busy_below(trash / n, table=table) is None]
        if not names:
            return True
        try:
            lock = os.open(trash / _LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return not pending(trash)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            free = True
        except BlockingIOError:
            free = False
        finally:
            os.close(lock)
        now = time.monotonic()
        if not free:
            free_since = None
        elif free_since is None:
            free_since = now
        elif now - free_since >= adopt_after:
            sweep(trash, mountinfo_path)
            free_since = None
        if deadline is not None and now > deadline:
            return False
        time.sleep(0.05)


def start_sweeper(trash: Path, remove_root: bool = False) -> int | None:
    """Start a detached, niced child process that sweeps ``trash`` and exits; its pid, None on failure.

    The child is a fresh interpreter (stdlib only) in its own session: a signal to kiln's process group
    does not stop it and kiln never waits for it. It gets no environment beyond ``PATH``, so no
    credential from kiln's environment reaches it, and /dev/null as its standard streams.
    """
    if getattr(sys, "frozen", False):
        return None  # a bundled executable cannot run ``-c`` code: the caller deletes in-process
    package_parent = str(Path(__file__).resolve().parents[2])
    code = (
        "import os, sys\n"
        "sys.path.insert(0, sys.argv[1])\n"
        "os.chdir('/')\n"
        "os.nice(19)\n"
        "from kiln.fs.trash import sweep\n"
        "sweep(sys.argv[2], remove_root=sys.argv[3] == 'root')\n"
    )
    argv = [
        sys.executable,
        "-I",
        "-S",
        "-c",
        code,
        package_parent,
        os.fspath(trash),
        "root" if remove_root else "",
    ]
    null = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_RDWR, 0) for fd in (0, 1, 2)]
    try:
        return os.posix_spawn(sys.executable, argv, {"PATH": os.defpath}, file_actions=null, setsid=True)
    except OSError:
        return None


def discard_root(work_root: Path) -> bool:
    """Make a private work root (a ``/tmp/kiln-*`` dir kiln made for one run) go away, trash included.

    Everything in it moves into its trash (renames), and a sweeper deletes that and then the root
    itself. False (nothing touched) while something is mounted below it.
    """
    work_root = Path(work_root)
    if busy_below(work_root) is not None:
        return False
    trash = trash_dir(work_root)
    try:
        trash.mkdir(mode=0o700, exist_ok=True)
        names = [n for n in os.listdir(work_root) if n != TRASH_DIR]
    except OSError:
        return not os.path.lexists(work_root)
    for name in names:
        if move_to_trash(work_root / name, work_root) is None:
            remove_tree(work_root / name)
    if start_sweeper(trash, remove_root=True) is None:  # no sweeper could start: delete it now
        sweep(trash, remove_root=True)
        with contextlib.suppress(OSError):
            os.rmdir(work_root)
    return True


def discard(path: Path, work_root: Path, wait: bool = False) -> None:
    """Make ``path`` (a tree inside ``work_root``) go away; returns at once unless ``wait``.

    Falls back to deleting in this process when the rename into the trash or the sweeper fails, and
    refuses (leaves the tree) while something is mounted below it.
    """
    path = Path(path)
    if not os.path.lexists(path):
        return
    busy = busy_below(path)
    if busy is not None:
        log.warning("leaving %s in place: %s is still mounted", path, busy)
        return
    moved = move_to_trash(path, work_root)
    trash = trash_dir(work_root)
    if moved is None:
        remove_tree(path)
        return
    if wait:
        sweep(trash)
        return
    if start_sweeper(trash) is None:
        sweep(trash)
