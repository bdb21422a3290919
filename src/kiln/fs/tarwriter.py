"""Deterministic layer tars: sorted entries, integer times, numeric owners, PAX only where needed.

The tar is hashed (diff_id), compressed and hashed again (digest) in one pass straight to a file, so a
layer is never in memory and its digests are known the moment it is written.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kiln.compression import Compression, compressor
from kiln.digest import Digest, HashingWriter
from kiln.fs.safepath import clean
from kiln.fs.unpack import OPAQUE, WHITEOUT

_SKIP_XATTRS = ("trusted.overlay.", "user.overlay.", "security.selinux")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Add:
    """Put the file, directory, link or device at ``host`` into the layer as ``path`` (not recursive)."""

    path: str
    host: Path


@dataclass(frozen=True)
class Whiteout:
    """Delete ``path`` when the layer is applied."""

    path: str


@dataclass(frozen=True)
class Opaque:
    """Hide what lower layers had inside the directory ``path``."""

    path: str


Entry = Add | Whiteout | Opaque


@dataclass(frozen=True)
class WrittenLayer:
    path: Path
    digest: Digest  # of the compressed blob
    diff_id: Digest  # of the tar
    size: int
    compression: Compression
    entries: int


def _key(entry: Entry) -> str:
    if isinstance(entry, Whiteout):
        head, _, base = clean(entry.path).rpartition("/")
        return f"{head}/{WHITEOUT}{base}"
    if isinstance(entry, Opaque):
        return clean(entry.path).rstrip("/") + "/" + OPAQUE
    return clean(entry.path)


def _blank(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


class _Writer:
    def __init__(self, tar: tarfile.TarFile, mtime: int | None) -> None:
        self.tar = tar
        self.mtime = mtime
        self.links: dict[tuple[int, int], str] = {}

    def add(self, name: str, host: Path) -> None:
        st = os.lstat(host)
        info = tarfile.TarInfo(name)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.uname = info.gname = ""
        info.mtime = int(st.st_mtime) if self.mtime is None else self.mtime
        xattrs = self.xattrs(host)
        if xattrs:
            info.pax_headers = xattrs
        mode = st.st_mode
        if stat.S_ISREG(mode) and st.st_nlink > 1:
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                info.type = tarfile.LNKTYPE
                info.linkname = first
                self.tar.addfile(info)
                return
            self.links[(st.st_dev, st.st_ino)] = name
        if stat.S_ISDIR(mode):
            info.type = tarfile.DIRTYPE
            info.name = name.rstrip("/") + "/"
            self.tar.addfile(info)
        elif stat.S_ISREG(mode):
            info.size = st.st_size
            with open(host, "rb") as f:
                self.tar.addfile(info, f)
        elif stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(host)
            self.tar.addfile(info)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
            self.tar.addfile(info)
        # sockets are not representable in a layer and are left out, as Docker does

    @staticmethod
    def xattrs(host: Path) -> dict[str, str]:
        try:
            names = os.listxattr(host, follow_symlinks=False)
        except OSError:
            return {}
        out = {}
        for key in sorted(names):
            if key.startswith(_SKIP_XATTRS):
                continue
            try:
                value = os.getxattr(host, key, follow_symlinks=False)
            except OSError:
                continue
            out[f"SCHILY.xattr.{key}"] = value.decode("utf-8", "surrogateescape")
        return out


def write_layer(
    entries: Iterable[Entry],
    out_path: Path,
    compression: Compression = "gzip",
    level: int = -1,
    mtime: int | None = None,
    threads: int = 2,
) -> WrittenLayer:
    """Write ``entries`` (any order; duplicates by path keep the last) as one layer blob at ``out_path``.

    ``mtime`` replaces every timestamp (``--reproducible``: the epoch or SOURCE_DATE_EPOCH).
    """
    by_key: dict[str, Entry] = {}
    for entry in entries:
        by_key[_key(entry)] = entry
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".partial")
    with open(tmp, "wb") as raw:
        blob_hash = HashingWriter(raw)
        comp = compressor(blob_hash, compression, level, threads)  # type: ignore[arg-type]
        tar_hash = HashingWriter(comp)
        with tarfile.open(fileobj=tar_hash, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
            writer = _Writer(tar, mtime)
            for key in sorted(by_key):
                entry = by_key[key]
                name = key.lstrip("/")
                if not name:
                    continue  # the root itself is never an entry, as in Docker's layers
                if isinstance(entry, Add):
                    writer.add(name, entry.host)
                else:
                    tar.addfile(_blank(name, 0 if mtime is None else mtime))
        comp.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, out_path)
    return WrittenLayer(
        out_path, blob_hash.digest(), tar_hash.digest(), blob_hash.size, compression, len(by_key)
    )
