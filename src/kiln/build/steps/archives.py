"""ADD's extras: local tar archives auto-extracted (plain, gzip, bzip2, xz, zstd) and http(s) downloads.

Archives are unpacked by the fs engine's path-safe applier, confined to the destination directory.
Downloads stream to disk, are checked against ``--checksum`` and land with mode 0600 and the server's
Last-Modified time, as BuildKit does.
"""

from __future__ import annotations

import bz2
import dataclasses
import email.utils
import hashlib
import lzma
import os
import posixpath
import shutil
import tempfile
import urllib.parse
from pathlib import Path
from typing import IO, TYPE_CHECKING

from kiln.build.steps.base import StepContext
from kiln.dockerfile.instructions import Copy
from kiln.errors import BuildStepError, KilnError
from kiln.fs.unpack import apply_layer

if TYPE_CHECKING:
    from kiln.build.steps.copy import Copier

_MAGIC = {
    b"\x1f\x8b": "gzip",
    b"BZh": "bzip2",
    b"\xfd7zXZ\x00": "xz",
    b"\x28\xb5\x2f\xfd": "zstd",
}


def is_remote(source: str) -> bool:
    return source.startswith(("http://", "https://")) and not is_git(source)


def is_git(source: str) -> bool:
    return source.startswith(("git@", "git://")) or (
        source.startswith(("http://", "https://")) and (".git#" in source or source.endswith(".git"))
    )


def add_git(copier: Copier, ins: Copy, url: str, dest: str, ctx: StepContext) -> None:
    """Clone ``url`` (``#REF#COMMIT`` as for git contexts) and copy the tree into the directory ``dest``."""
    from kiln.context import ContextSpec, open_context

    if url.startswith("git@"):
        raise BuildStepError(
            "ADD of ssh git URLs (git@...) is not supported yet",
            location=ins.location,
            hint="use an https:// or git:// URL",
        )
    scratch = Path(tempfile.mkdtemp(prefix="add-git-", dir=ctx.work_dir))
    try:
        try:
            tree = open_context(ContextSpec(url, environ=ctx.environ)).fetch(scratch)
        except KilnError as err:
            raise BuildStepError(f"ADD {err.message}", location=ins.location, hint=err.hint) from None
        target = dest.rstrip("/") or "/"
        copier = dataclasses.replace(
            copier, keep_owner=False, context=None, ignore=None, exclude=None, links={}
        )
        copier.make_dir(target)
        for name in sorted(os.listdir(tree)):
            if name == ".git" and not ins.keep_git_dir:
                continue
            copier.copy(tree / name, posixpath.join(target, name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def archive_kind(path: Path) -> str | None:
    """``gzip``/``bzip2``/``xz``/``zstd``/``tar`` when ``path`` is a tar archive, else None."""
    if not path.is_file():
        return None
    with open(path, "rb") as handle:
        head = handle.read(512)
    for magic, kind in _MAGIC.items():
        if head.startswith(magic):
            return kind if _is_tar(path, kind) else None
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    return None


def _open(path: Path, kind: str) -> IO[bytes]:
    if kind == "bzip2":
        return bz2.open(path, "rb")
    if kind == "xz":
        return lzma.open(path, "rb")
    return open(path, "rb")


def _is_tar(path: Path, kind: str) -> bool:
    """A compressed file is only extracted when what is inside is a tar (BuildKit's rule)."""
    try:
        if kind in ("gzip", "zstd"):
            from kiln.compression import decompress

            with open(path, "rb") as raw:
                head = decompress(raw, None).read(512)
        else:
            with _open(path, kind) as stream:
                head = stream.read(512)
    except (OSError, EOFError, ValueError, lzma.LZMAError):
        return False
    return len(head) >= 262 and head[257:262] == b"ustar"


def is_archive(path: Path) -> bool:
    return archive_kind(path) is not None


def extract(path: Path, dest_dir: Path) -> None:
    kind = archive_kind(path)
    dest_dir.mkdir(parents=True, exist_ok=True)
    with _open(path, kind or "tar") as stream:
        apply_layer(dest_dir, stream, None if kind in ("gzip", "zstd") else "none")


def write_file(copier: Copier, image_path: str, data: bytes, mode: int, mtime: int | None = None) -> None:
    dest = copier.host(image_path, False)
    if os.path.lexists(dest) and not dest.is_dir():
        dest.unlink()
    dest.write_bytes(data)
    uid, gid = copier.owner if copier.owner is not None else (0, 0)
    os.lchown(dest, uid, gid)
    os.chmod(dest, copier.mode(mode, False) if copier.mode is not None else mode)
    if mtime is not None:
        os.utime(dest, (mtime, mtime))


def place_file(copier: Copier, image_path: str, source: Path, mode: int, mtime: int | None) -> None:
    """Move a downloaded file into the rootfs (never read into memory)."""
    dest = copier.host(image_path, False)
    if os.path.lexists(dest) and not dest.is_dir():
        dest.unlink()
    shutil.move(source, dest)
    uid, gid = copier.owner if copier.owner is not None else (0, 0)
    os.lchown(dest, uid, gid)
    os.chmod(dest, copier.mode(mode, False) if copier.mode is not None else mode)
    if mtime is not None:
        os.utime(dest, (mtime, mtime))


def add_url(copier: Copier, ins: Copy, url: str, dest: str, as_dir: bool, ctx: StepContext) -> None:
    """Download ``url`` to ``dest`` (a directory: the URL's file name inside it)."""
    import requests

    name = posixpath.basename(urllib.parse.urlparse(url).path) or "index.html"
    target = posixpath.join(dest.rstrip("/"), name) if as_dir else dest
    copier.make_parents(target)
    shown = (
        urllib.parse.urlparse(url)
        ._replace(query="", fragment="", netloc=url.split("//")[1].split("/")[0].split("@")[-1])
        .geturl()
    )
    try:
        resp = requests.get(url, stream=True, timeout=60)
    except requests.RequestException as err:
        raise BuildStepError(f"ADD {shown}: {type(err).__name__}", location=ins.location) from None
    with resp:
        if resp.status_code >= 400:
            raise BuildStepError(f"ADD {shown}: HTTP {resp.status_code}", location=ins.location)
        hasher = hashlib.sha256()
        with tempfile.NamedTemporaryFile(dir=ctx.work_dir, delete=False) as tmp:
            for chunk in resp.iter_content(1 << 20):
                hasher.update(chunk)
                tmp.write(chunk)
        modified = resp.headers.get("Last-Modified")
    try:
        if ins.checksum:
            algo, _, want = ins.checksum.partition(":")
            if algo != "sha256" or hasher.hexdigest() != want:
                raise BuildStepError(
                    f"ADD {shown}: checksum mismatch: want {ins.checksum}, got sha256:{hasher.hexdigest()}",
                    location=ins.location,
                )
        mtime = None
        if modified:
            parsed = email.utils.parsedate_to_datetime(modified)
            mtime = int(parsed.timestamp())
        place_file(copier, target, Path(tmp.name), 0o600, mtime)
    finally:
        if os.path.exists(tmp.name):
            os.unlink(tmp.name)
