"""Emptying a root directory except what the ignore list protects (kaniko's DeleteFilesystem).

With --isolation=inplace the stage's root is ``/`` of kiln's own container; before the next stage's
base image is unpacked there, the previous stage's files go. kiln's work dir, mounted volumes and
the container runtime's files stay, and so do the directories leading to them.
"""

from __future__ import annotations

import errno
import os
import stat

from kiln.fs.ignore import IgnoreList
from kiln.fs.trash import remove_tree


def remove_except(host: str, path: str, ignore: IgnoreList) -> None:
    """Remove ``host`` (image path ``path``) unless ignored; a directory guarding ignored paths is emptied."""
    if ignore.ignored(path):
        return
    try:
        st = os.lstat(host)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISDIR(st.st_mode):
        os.unlink(host)
    elif ignore.guards(path):
        with os.scandir(host) as it:
            names = [entry.name for entry in it]
        for name in names:
            remove_except(os.path.join(host, name), _join(path, name), ignore)
    else:
        remove_dir(host)


def remove_dir(host: str) -> None:
    """Delete the directory ``host`` and everything below it, however deep (``kiln.fs.trash.remove_tree``:
    ``shutil.rmtree`` recursed once per level and raised RecursionError on a deep tree); OSError when
    something below it cannot be deleted."""
    if not remove_tree(host):
        raise OSError(errno.ENOTEMPTY, "cannot delete everything below it", host)


def clear_root(root: str, ignore: IgnoreList) -> None:
    """Empty ``root`` (seen as ``/``) but for ignored paths and their ancestors."""
    with os.scandir(root) as it:
        names = [entry.name for entry in it]
    for name in names:
        remove_except(os.path.join(root, name), "/" + name, ignore)


def _join(path: str, name: str) -> str:
    return f"{path.rstrip('/')}/{name}"
