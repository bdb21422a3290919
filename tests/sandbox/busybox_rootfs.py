"""A tiny real rootfs (Debian's static busybox + passwd/group) and tree fingerprints."""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

BUSYBOX = "/bin/busybox"

PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:App:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nwheel:x:10:app\naudio:x:29:app\n"


def make_rootfs(path: Path) -> Path:
    """/bin/busybox with one symlink per applet, /etc/passwd and /etc/group; nothing else."""
    if not os.path.exists(BUSYBOX):
        pytest.skip("Debian's busybox-static (/bin/busybox) is not installed")
    (path / "bin").mkdir(parents=True)
    (path / "etc").mkdir()
    shutil.copy2(BUSYBOX, path / "bin" / "busybox")
    applets = subprocess.run([BUSYBOX, "--list"], capture_output=True, text=True, check=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            os.symlink("busybox", path / "bin" / applet)
    (path / "etc" / "passwd").write_text(PASSWD)
    (path / "etc" / "group").write_text(GROUP)
    return path


def fingerprint(root: Path) -> dict[str, tuple[object, ...]]:
    """Every entry under ``root``: type, mode, owner, size, mtime, content hash or link target."""
    out: dict[str, tuple[object, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            extra: object = None
            if stat.S_ISREG(st.st_mode):
                extra = hashlib.sha256(Path(full).read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(full)
            out[os.path.relpath(full, root)] = (
                st.st_mode,
                st.st_uid,
                st.st_gid,
                st.st_size,
                st.st_mtime_ns,
                extra,
            )
    st = os.lstat(root)
    out["."] = (st.st_mode, st.st_uid, st.st_gid, st.st_mtime_ns)
    return out


_SYSTEM_MOUNTS = ("/proc", "/sys", "/dev", "/run", "/mnt", "/etc", "/boot", "/usr")


def host_mount_lines() -> set[str]:
    """The machine's own mounts (``/``, ``/proc``, ``/sys``, ``/dev``...), for "nothing of the host's was unmounted".

    Not every mount: other jobs' builds mount overlays under /tmp, /var/tmp... and unmount them meanwhile.
    """
    return {
        line for line in mount_lines() if line.split()[2] == "/" or line.split()[2].startswith(_SYSTEM_MOUNTS)
    }


def mount_lines(under: Path | None = None) -> list[str]:
    """This namespace's mounts (without the ids that change); only those mentioning ``under`` if given.

    Other test suites may mount and unmount in their own temp dirs meanwhile, so tests
    compare the lines that concern their own tmp_path, plus the host mounts they saw before.
    """
    with open("/proc/self/mountinfo") as handle:
        lines = sorted(" ".join(line.split()[2:]) for line in handle)
    return [line for line in lines if under is None or str(under) in line]
