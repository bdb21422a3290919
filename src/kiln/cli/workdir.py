"""Choosing kiln's work dir (kaniko's ``$KANIKO_DIR``) without littering a developer's machine.

kaniko always writes to ``/kaniko`` because it always runs in a throw-away container. kiln also
runs on hosts and in CI shells, where creating ``/kaniko`` at the root of someone's machine would
be rude. So: an explicitly chosen dir (``--kaniko-dir`` or ``$KANIKO_DIR``) is used and created;
the default ``/kaniko`` is used when it already exists and is writable, or when kiln runs inside a
container and can create it; anywhere else kiln takes a fresh private ``/tmp/kiln-*`` directory.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

from kiln.errors import UsageError
from kiln.fs.mounts import busy_below
from kiln.fs.trash import discard_root, remove_tree

KANIKO_DIR_FLAG_DEFAULT = "/kaniko"  # --kaniko-dir's default, which means "not chosen"
DEFAULT_KANIKO_DIR = KANIKO_DIR_FLAG_DEFAULT  # where kiln looks when nothing was chosen
log = logging.getLogger(__name__)


def _writable_dir(path: str) -> bool:
    return os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK)


def _make_dir(path: str, flag: str) -> None:
    try:
        os.makedirs(path, mode=0o755, exist_ok=True)
    except OSError as err:
        raise UsageError(
            f"cannot create {flag} {path!r}: {err.strerror}",
            hint="choose a writable directory with --kaniko-dir or KANIKO_DIR",
        ) from None
    if not _writable_dir(path):
        raise UsageError(
            f"{flag} {path!r} is not a writable directory", hint="choose another with --kaniko-dir"
        )


def resolve_kaniko_dir(flag_value: str, environ: Mapping[str, str]) -> tuple[str, bool]:
    """kaniko's precedence: the flag when changed from its default, else ``$KANIKO_DIR``, else /kaniko.

    Returns the directory and whether the user chose it.
    """
    if flag_value and flag_value != KANIKO_DIR_FLAG_DEFAULT:
        return os.path.abspath(flag_value), True
    env = environ.get("KANIKO_DIR", "")
    if env:
        return os.path.abspath(env), True
    return DEFAULT_KANIKO_DIR, False


def docker_config_in(kaniko_dir: str, environ: Mapping[str, str]) -> Mapping[str, str]:
    """kaniko points DOCKER_CONFIG at ``<kaniko-dir>/.docker`` when the dir is moved; kiln does too.

    Only when that directory holds a config.json and DOCKER_CONFIG is unset (kiln never copies or
    deletes /kaniko, and a DOCKER_CONFIG the user set wins); the process environment is untouched,
    only the snapshot handed to the build changes.
    """
    if kaniko_dir == KANIKO_DIR_FLAG_DEFAULT or "DOCKER_CONFIG" in environ:
        return environ
    config_dir = os.path.join(kaniko_dir, ".docker")
    if not os.path.isfile(os.path.join(config_dir, "config.json")):
        return environ
    return {**environ, "DOCKER_CONFIG": config_dir}


def choose_work_dir(
    kaniko_dir: str,
    chosen: bool,
    in_container: Callable[[], bool],
    tmp_root: str | None = None,
) -> str:
    """The directory kiln works in (see the module docstring); created when missing."""
    if chosen:
        _make_dir(kaniko_dir, "--kaniko-dir")
        return kaniko_dir
    if _writable_dir(kaniko_dir):
        return kaniko_dir
    if not os.path.exists(kaniko_dir) and in_container():
        try:
            os.makedirs(kaniko_dir, mode=0o755, exist_ok=True)
        except OSError:
            pass
        else:
            if _writable_dir(kaniko_dir):
                return kaniko_dir
    return tempfile.mkdtemp(prefix="kiln-", dir=tmp_root or tempfile.gettempdir())


def remove_temp_work_dir(path: str, mountinfo_path: str = "/proc/self/mountinfo", wait: bool = True) -> bool:
    """Delete a fallback temp work dir after the build; True when removed (or handed to the sweeper).

    Refuses while anything is still mounted below it: deleting through a leftover bind mount would
    delete what it shows (a host directory, a secret). The dir is then left, with a warning. Unless
    ``wait``, the deletion happens in a detached process (``kiln.fs.trash``) and this returns at once.
    """
    busy = busy_below(path, mountinfo_path)
    if busy is not None:
        log.warning("leaving %s in place: %s is still mounted", path, busy)
        return False
    if not wait:
        return discard_root(Path(path))
    remove_tree(path)  # however deep (shutil.rmtree recursed once per level)
    return not os.path.exists(path)
