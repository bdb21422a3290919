"""Run a command whose ``/`` is a throw-away tmpfs, so --isolation=inplace can be tested on this machine.

--isolation=inplace unpacks base images over ``/`` and empties it between stages: run on the test
machine itself it would destroy it. So the command runs in a private mount namespace: a fresh tmpfs
becomes ``/`` (pivot_root, then the old root is detached, so nothing of the host is reachable but
what is bind-mounted); /proc, /dev and /sys are mounted; the Python install, the system libraries
and the repository (with its venv) are bind-mounted read-only, and the test's own tmp dir
read-write. Every one of those is a mount point, which is exactly what inplace builds must leave
alone, as in a Kubernetes pod with volumes. The network namespace is the host's, so the loopback
registry fixture is reachable.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUSYBOX = "/bin/busybox"  # Debian's busybox-static: no libraries needed
TOOL = "/.throwaway/busybox"


def system_paths() -> list[str]:
    """What the interpreter needs at the same paths: its prefix, the libraries it maps, the loader."""
    paths = {os.path.realpath(sys.base_prefix), os.fspath(REPO), "/etc/ld.so.cache"}
    # /lib and /lib64 may be links to usr/...: the bind mount puts the real directory at the link's path
    paths.update(p for p in ("/lib", "/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
                 if os.path.isdir(p))  # fmt: skip
    return sorted(paths)


def _bind(source: str, target: str, readonly: bool) -> str:
    kind = "-d" if os.path.isdir(source) else "-f"
    make = f"mkdir -p {target}" if kind == "-d" else f"mkdir -p $(dirname {target}) && touch {target}"
    ro = f" && mount -o remount,bind,ro {target}" if readonly else ""
    return f"{make} && mount --rbind {source} {target}{ro}"


def script(
    argv: Sequence[str], readonly: Sequence[str], writable: Sequence[str], env: Mapping[str, str]
) -> str:
    lines = [
        "set -e",
        'R="$1"',
        'mount -t tmpfs -o mode=0755 kiln-throwaway "$R"',
        'mkdir -p "$R/proc" "$R/dev" "$R/sys" "$R/tmp" "$R/.old"',
        'mount -t proc proc "$R/proc"',
        'mount --rbind /dev "$R/dev"',
        'mount --rbind /sys "$R/sys"',
    ]
    for path in readonly:
        lines.append(_bind(path, f'"$R"{shlex.quote(path)}', True))
    for path in writable:
        lines.append(_bind(path, f'"$R"{shlex.quote(path)}', False))
    lines += [
        _bind(BUSYBOX, f'"$R"{TOOL}', True),  # after pivot_root the host's tools are gone
        'cd "$R"',
        "pivot_root . .old",
        f"{TOOL} umount -l /.old",
        f"{TOOL} rmdir /.old",
        "cd /",
        f"exec {TOOL} env -i " + " ".join(shlex.quote(f"{k}={v}") for k, v in env.items()) + " "
        + " ".join(shlex.quote(a) for a in argv),
    ]  # fmt: skip
    return "\n".join(lines)


def run_in_throwaway_root(
    argv: Sequence[str],
    scratch: Path,
    *,
    writable: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    timeout: float = 600,
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` with a tmpfs ``/`` (``scratch`` is only the mount point, on the host it stays empty)."""
    scratch.mkdir(parents=True, exist_ok=True)
    environment = {"PATH": "/usr/bin:/bin", "HOME": "/root", **(env or {})}
    text = script(argv, system_paths(), writable, environment)
    return subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "sh", "-c", text, "throwaway", os.fspath(scratch)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
