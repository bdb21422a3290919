"""Deterministic layer tars: sorted entries, integer times, numeric owners, PAX only where needed.

The tar is hashed (diff_id), compressed and hashed again (digest) in one pass straight to a file, so a
layer is never in memory and its digests are known the moment it is written.
"""

from __future__ import annotations

import os
import stat
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

from kiln.compression import GZIP_BLOCK, Compression, compressor
from kiln.digest import Digest, HashingWriter
from kiln.fs.safepath import clean
from kiln.fs.unpack import OPAQUE, WHITEOUT

_SKIP_XATTRS = ("trusted.overlay.", "user.overlay.", "security.selinux")
_CHUNK = 1 << 20
_BLOCK = tarfile.BLOCKSIZE
_RECORD = tarfile.RECORDSIZE
_NUL8 = b"\0" * 8


class Meta(NamedTuple):
    """What the writer needs of an entry's ``lstat``: ~200 bytes a file instead of ~630 for a stat_result."""

    st_mode: int
    st_uid: int
    st_gid: int
    st_size: int
    st_mtime: int  # whole seconds, as the layer stores them
    st_nlink: int
    st_dev: int
    st_ino: int
    st_rdev: int
    st_mtime_ns: int

    @classmethod
    def of(cls, st: os.stat_result) -> Meta:
        return cls(
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_size,
            int(st.st_mtime),
            st.st_nlink,
            st.st_dev,
            st.st_ino,
            st.st_rdev,
            st.st_mtime_ns,
        )


@dataclass(frozen=True, slots=True)
class Add:
    """Put the file, directory, link or device at ``host`` into the layer as ``path`` (not recursive).

    ``st``: its ``lstat`` when the snapshotter already has it (saves a second ``lstat`` per file).
    """

    path: str
    host: Path | str
    st: Meta | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Whiteout:
    """Delete ``path`` when the layer is applied."""

    path: str


@dataclass(frozen=True, slots=True)
class Opaque:
    """Hide what lower layers had inside the directory ``path``."""

    path: str


Entry = Add | Whiteout | Opaque


@dataclass(frozen=True, slots=True)
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


def _octal(value: int, digits: int) -> bytes:
    return b"%0*o\0" % (digits - 1, value)


def ustar_header(
    name: str, mode: int, uid: int, gid: int, size: int, mtime: int, kind: bytes, linkname: str = ""
) -> bytes | None:
    """The 512-byte header ``tarfile`` writes in PAX format for an entry that needs no PAX record.

    None when the entry needs one (long or non-ASCII names, large ids, sizes or times): the caller then
    lets ``tarfile`` write it. Byte-identical to ``TarInfo.tobuf(PAX_FORMAT)`` (tests/fs/test_tar_fast.py):
    the layer digests do not depend on which path wrote an entry. Devices always go through ``tarfile``.
    """
    if (
        len(name) > 100
        or len(linkname) > 100
        or not name.isascii()
        or not linkname.isascii()
        or not (0 <= uid < 0o7777777 + 1 and 0 <= gid < 0o7777777 + 1)
        or not (0 <= size < 8**11 and 0 <= mtime < 8**11)
    ):
        return None
    head = b"".join(
        (
            name.encode("ascii").ljust(100, b"\0"),
            _octal(mode & 0o7777, 8),
            _octal(uid, 8),
            _octal(gid, 8),
            _octal(size, 12),
            _octal(mtime, 12),
            b"        ",
            kind,
            linkname.encode("ascii").ljust(100, b"\0"),
            tarfile.POSIX_MAGIC,
            b"\0" * 64,  # uname, gname: always empty (numeric owners)
            _NUL8,
            _NUL8,
        )
    ).ljust(_BLOCK, b"\0")
    chksum = b"%06o\0" % (sum(head))
    return head[:148] + chksum + head[155:]


def _blank(name: str, mtime: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime = mtime
    info.mode = 0o644
    info.uname = info.gname = ""
    return info


class _TarOut:
    """A tar stream written straight to ``sink``: headers built here, ``tarfile`` only for rare entries.

    The stream goes down in slices of exactly ``GZIP_BLOCK`` bytes (the last one shorter): the threaded
    gzip compresses every write as its own block, so the blob's bytes then depend on the tar alone, and
    1 MiB blocks compress better and cost less per byte than ``tarfile``'s 10 KiB records did.
    """

    def __init__(self, sink: HashingWriter) -> None:
        self.sink = sink
        self.buf = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> None:
        self.buf += data
        self.offset += len(data)
        if len(self.buf) >= GZIP_BLOCK:
            self.flush(final=False)

    def flush(self, final: bool = True) -> None:
        view = memoryview(self.buf)
        start = 0
        while len(self.buf) - start >= GZIP_BLOCK:
            self.sink.write(bytes(view[start : start + GZIP_BLOCK]))  # copies: the compressor keeps them
            start += GZIP_BLOCK
        if final and start < len(self.buf):
            self.sink.write(bytes(view[start:]))
            start = len(self.buf)
        view.release()
        del self.buf[:start]

    def pad(self, size: int) -> None:
        rest = size % _BLOCK
        if rest:
            self.write(b"\0" * (_BLOCK - rest))

    def add_info(self, info: tarfile.TarInfo) -> None:
        self.write(info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape"))

    def copy_file(self, host: Path | str, size: int) -> None:
        """Exactly ``size`` bytes of the file (as ``tarfile.addfile`` copies them), then the padding."""
        fd = os.open(host, os.O_RDONLY | os.O_CLOEXEC)
        try:
            left = size
            while left:
                chunk = os.read(fd, min(left, _CHUNK))
                if not chunk:
                    raise OSError(f"{host}: file shrank while it was being written into the layer")
                self.write(chunk)
                left -= len(chunk)
        finally:
            os.close(fd)
        self.pad(size)

    def close(self) -> None:
        """The end-of-archive blocks and record padding ``tarfile`` writes, then flush."""
        self.write(b"\0" * (_BLOCK * 2))
        rest = self.offset % _RECORD
        if rest:
            self.write(b"\0" * (_RECORD - rest))
        self.flush()


class _Writer:
    def __init__(self, tar: _TarOut, mtime: int | None) -> None:
        self.tar = tar
        self.mtime = mtime
        self.links: dict[tuple[int, int], str] = {}

    def add(self, name: str, host: Path | str, st: Meta | None = None) -> None:
        if st is None:
            st = Meta.of(os.lstat(host))
        mode = st.st_mode
        mtime = int(st.st_mtime) if self.mtime is None else self.mtime
        xattrs = self.xattrs(host)
        kind = tarfile.REGTYPE
        linkname = ""
        size = 0
        if stat.S_ISREG(mode) and st.st_nlink > 1:
            first = self.links.get((st.st_dev, st.st_ino))
            if first is not None:
                kind, linkname = tarfile.LNKTYPE, first
            else:
                self.links[(st.st_dev, st.st_ino)] = name
        if kind == tarfile.LNKTYPE:
            pass
        elif stat.S_ISDIR(mode):
            kind = tarfile.DIRTYPE
            name = name.rstrip("/") + "/"
        elif stat.S_ISREG(mode):
            size = st.st_size
        elif stat.S_ISLNK(mode):
            kind, linkname = tarfile.SYMTYPE, os.readlink(host)
        elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            kind = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        elif stat.S_ISFIFO(mode):
            kind = tarfile.FIFOTYPE
        else:
            return  # sockets are not representable in a layer and are left out, as Docker does
        perm = stat.S_IMODE(mode)
        header = None
        if not xattrs and kind not in (tarfile.CHRTYPE, tarfile.BLKTYPE):
            header = ustar_header(name, perm, st.st_uid, st.st_gid, size, mtime, kind, linkname)
        if header is None:
            info = tarfile.TarInfo(name)
            info.mode = perm
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mtime = mtime
            info.type = kind
            info.linkname = linkname
            info.size = size
            if kind in (tarfile.CHRTYPE, tarfile.BLKTYPE):
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            if xattrs:
                info.pax_headers = xattrs
            header = info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
        self.tar.write(header)
        if size:
            self.tar.copy_file(host, size)

    @staticmethod
    def xattrs(host: Path | str) -> dict[str, str]:
        return {
            f"SCHILY.xattr.{key}": value.decode("utf-8", "surrogateescape")
            for key, value in layer_xattrs(host).items()
        }


def layer_xattrs(host: Path | str) -> dict[str, bytes]:
    """The extended attributes a layer carries for ``host``, by name (sorted): overlayfs' bookkeeping and
    SELinux labels are left out; an attribute that vanished while read is skipped."""
    try:
        names = os.listxattr(host, follow_symlinks=False)
    except OSError:
        return {}
    out = {}
    for key in sorted(names):
        if key.startswith(_SKIP_XATTRS):
            continue
        try:
            out[key] = os.getxattr(host, key, follow_symlinks=False)
        except OSError:
            continue
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
        tar = _TarOut(tar_hash)
        writer = _Writer(tar, mtime)
        for key in sorted(by_key):
            entry = by_key[key]
            name = key.lstrip("/")
            if not name:
                continue  # the root itself is never an entry, as in Docker's layers
            if isinstance(entry, Add):
                writer.add(name, entry.host, entry.st)
            else:
                tar.add_info(_blank(name, 0 if mtime is None else mtime))
        tar.close()
        comp.close()
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp, out_path)
    return WrittenLayer(
        out_path, blob_hash.digest(), tar_hash.digest(), blob_hash.size, compression, len(by_key)
    )
