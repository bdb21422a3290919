"""A stand-in for ``python:3.11-slim`` made from this machine's own interpreter, for offline image builds.

The Dockerfile's ``assemble`` stage needs a base image with a CPython, pip, the shared libraries
the interpreter and its extension modules link, and the dynamic loader. Tests may not reach
Docker Hub, so this module lays those files out at the same absolute paths as on this machine
(``sys.base_prefix``, the libraries ``ld.so --list`` resolves, the loader) and lets umoci (not
kiln) pack them into an OCI image: the base is an oracle kiln did not produce.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

from fixtures.tools import run_tool

_LIST_LINE = re.compile(r"^\s*\S+\s+=>\s+(/\S+)\s+\(0x[0-9a-f]+\)\s*$")
_STDLIB_SKIP = {
    "site-packages",
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "__pycache__",
}
# glibc's libraries that no interpreter binary needs but wheels do (a Debian base has all of libc6).
_GLIBC = (
    "libc.so.6",
    "libm.so.6",
    "libpthread.so.0",
    "libdl.so.2",
    "librt.so.1",
    "libutil.so.1",
    "libresolv.so.2",
)
_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def _copy_file(src: Path, rootfs: Path) -> None:
    """Copy ``src``'s content (symlinks followed) to the same absolute path below ``rootfs``."""
    dest = rootfs / str(src).lstrip("/")
    if dest.exists():
        return
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(src), dest)


def _loader(executable: Path) -> Path:
    out = run_tool(["readelf", "-l", str(executable)]).stdout
    match = re.search(r"Requesting program interpreter: (\S+)\]", out)
    assert match, f"{executable} names no ELF interpreter"
    return Path(match.group(1))


def _libraries(loader: Path, objects: list[Path]) -> set[Path]:
    libs: set[Path] = set()
    for obj in objects:
        listing = subprocess.run(
            [str(loader), "--list", str(obj)], capture_output=True, text=True, check=False
        )
        for line in listing.stdout.splitlines():
            if m := _LIST_LINE.match(line):
                libs.add(Path(m.group(1)))
    return libs


def python_rootfs(rootfs: Path) -> str:
    """Fill ``rootfs`` with this machine's Python; returns the ``PATH`` its image config needs."""
    prefix = Path(sys.base_prefix)
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    executable = Path(os.path.realpath(prefix / "bin" / version))
    stdlib = Path(sysconfig.get_paths()["stdlib"])  # the base interpreter's, also from a venv
    dest_stdlib = rootfs / str(stdlib).lstrip("/")
    shutil.copytree(
        stdlib, dest_stdlib, ignore=lambda _d, names: {n for n in names if n in _STDLIB_SKIP}, symlinks=True
    )
    pip_spec = importlib.util.find_spec("pip")  # the test venv's pip: python images ship one
    assert pip_spec is not None and pip_spec.origin, "the test interpreter has no pip"
    pip_dir = Path(pip_spec.origin).parent
    shutil.copytree(
        pip_dir, dest_stdlib / "site-packages" / "pip", ignore=shutil.ignore_patterns("__pycache__")
    )
    bindir = rootfs / str(prefix / "bin").lstrip("/")
    bindir.mkdir(parents=True)
    shutil.copy2(executable, bindir / version)
    (bindir / "python3").symlink_to(version)
    loader = _loader(executable)
    _copy_file(loader, rootfs)
    dynload = [p for p in sorted((stdlib / "lib-dynload").glob("*.so")) if not p.name.startswith("_tkinter")]
    libs = _libraries(loader, [executable, *dynload])
    libc_dir = next(lib.parent for lib in libs if lib.name == "libc.so.6")
    libs |= {libc_dir / name for name in _GLIBC if (libc_dir / name).exists()}
    for lib in sorted(libs):
        _copy_file(lib, rootfs)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if bundle.is_file():
        _copy_file(bundle, rootfs)
    etc = rootfs / "etc"
    etc.mkdir(exist_ok=True)
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (etc / "group").write_text("root:x:0:\n")
    (rootfs / "tmp").mkdir(mode=0o1777)
    os.chmod(rootfs / "tmp", 0o1777)
    (rootfs / "root").mkdir(mode=0o700, exist_ok=True)
    return f"{prefix / 'bin'}:{_PATH}"


def build_python_layout(work: Path) -> str:
    """An OCI layout ``<work>/layout`` tagged ``python`` holding :func:`python_rootfs`; returns its oci: ref."""
    layout = work / "layout"
    bundle = work / "bundle"
    run_tool(["umoci", "init", "--layout", str(layout)])
    run_tool(["umoci", "new", "--image", f"{layout}:python"])
    run_tool(["umoci", "unpack", "--image", f"{layout}:python", str(bundle)])
    path = python_rootfs(bundle / "rootfs")
    run_tool(["umoci", "repack", "--image", f"{layout}:python", str(bundle)])
    run_tool(
        [
            "umoci", "config", "--image", f"{layout}:python", "--config.env", f"PATH={path}",
            "--config.env", "LANG=C.UTF-8", "--config.cmd", "python3",
        ]
    )  # fmt: skip
    return f"oci:{layout}:python"
