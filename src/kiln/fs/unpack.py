"""Applying a layer tar onto a root directory: streaming, whiteouts, every entry type, and never outside the root.

Entries are read one at a time from the (decompressing) stream, so a layer is never held in memory.
Parent directories are resolved inside the root (symlinks included, as containerd does); names that
climb out with ``..``, absolute names and hardlinks to outside the root fail the layer with an error
naming the entry.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import shutil
import stat
import tarfile
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from kiln.compression import Compression, decompress
from kiln.errors import DigestMismatch, KilnError, LayerError
from kiln.fs.clear import remove_except
from kiln.fs.ignore import IgnoreList
from kiln.fs.safepath import resolve

log = logging.getLogger(__name__)

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class UnpackOptions:
    """What the unpacking process may do (it may not be root, or may lack CAP_MKNOD).

    ``skip``: image paths left alone, neither written nor removed (unpacking into ``/`` of kiln's own
    container with --isolation=inplace: kiln's work dir, volumes, /proc, as kaniko).
    """

    same_owner: bool = field(default_factory=lambda: os.geteuid() == 0)
    devices: bool = field(default_factory=lambda: os.geteuid() == 0)
    xattrs: bool = True
    skip: IgnoreList | None = None


def _entry_name(member: tarfile.TarInfo) -> str:
    name = member.name
    if "\x00" in name:
        raise LayerError(f"layer entry {name!r} has a NUL byte in its name")
    if name.startswith("/"):
        raise LayerError(
            f"layer entry {name!r} has an absolute name", hint="the layer tries to write outside its root"
        )
    parts = [p for p in name.split("/") if p not in ("", ".")]
    depth = 0
    for part in parts:
        depth += -1 if part == ".." else 1
        if depth < 0:
            raise LayerError(f"layer entry {name!r} climbs out of the root with '..'")
    return "/".join(parts)


_NOTHING_IGNORED = IgnoreList(())


def _remove(path: Path, name: str = "", skip: IgnoreList | None = None) -> None:
    remove_except(os.fspath(path), "/" + name, skip if skip is not None else _NOTHING_IGNORED)


class _Applier:
    def __init__(self, root: Path, options: UnpackOptions) -> None:
        self.root = Path(os.path.abspath(root))
        self.options = options
        self.created: set[str] = set()  # entries this layer added (an opaque marker keeps them)
        self.dir_times: list[tuple[Path, float]] = []
        self.current = ""  # the entry being applied, named in errors

    def host_path(self, name: str) -> Path:
        """Parent resolved inside the root; the last component is the entry itself (never followed)."""
        head, _, base = name.rpartition("/")
        parent = resolve(self.root, head) if head else self.root
        self._check_inside(parent, name)
        return parent / base

    def _check_inside(self, path: Path, name: str) -> None:
        root_s = os.fspath(self.root)
        p = os.fspath(path)
        if p != root_s and not p.startswith(root_s.rstrip(os.sep) + os.sep):
            raise LayerError(f"layer entry {name!r} resolves outside the root")

    def mkparents(self, path: Path, name: str) -> None:
        parent = path.parent
        if parent.is_dir():
            return
        # Missing parents: create them inside the root. ``path`` was resolved by host_path, so its existing
        # components are real directories; only a symlink that appeared since is resolved again (resolving
        # every component from the root made deep hostile paths cost O(depth^3): minutes per entry).
        rel_parent = os.path.relpath(parent, self.root)
        current = self.root
        for part in rel_parent.split(os.sep):
            if part in ("", "."):
                continue
            current = current / part
            if current.is_symlink():
                current = resolve(self.root, os.path.relpath(current, self.root))
            self._check_inside(current, name)
            if not current.exists():
                os.mkdir(current, 0o755)
            elif not current.is_dir():
                raise LayerError(f"layer entry {name!r}: parent {'/' + rel_parent} is not a directory")

    def apply(self, tar: tarfile.TarFile) -> None:
        for member in tar:
            self.current = member.name
            name = _entry_name(member)
            if not name:
                self.set_attrs(self.root, member, "/")
                continue
            base = name.rpartition("/")[2]
            if self.skipped(name.rpartition("/")[0] if base.startswith(WHITEOUT) else name):
                continue  # a whiteout's own victim is spared by _remove
            if base == OPAQUE:
                self.opaque(name.rpartition("/")[0])
            elif base.startswith(WHITEOUT):
                self.whiteout(name, base[len(WHITEOUT) :])
            else:
                self.entry(tar, member, name)
        for path, mtime in reversed(self.dir_times):
            with contextlib.suppress(FileNotFoundError):
                os.utime(path, (mtime, mtime), follow_symlinks=False)

    def skipped(self, name: str) -> bool:
        skip = self.options.skip
        return skip is not None and bool(name) and skip.ignored("/" + name)

    def opaque(self, dirname: str) -> None:
        directory = resolve(self.root, dirname) if dirname else self.root
        self._check_inside(directory, dirname + "/" + OPAQUE)
        if not directory.is_dir():
            return
        for child in os.listdir(directory):
            key = f"{dirname}/{child}" if dirname else child
            if key not in self.created:
                _remove(directory / child, key, self.options.skip)

    def whiteout(self, name: str, target: str) -> None:
        dirname = name.rpartition("/")[0]
        victim = f"{dirname}/{target}" if dirname else target
        if not target or target in (".", ".."):
            raise LayerError(f"layer entry {name!r} is a malformed whiteout")
        _remove(self.host_path(victim), victim, self.options.skip)

    def entry(self, tar: tarfile.TarFile, member: tarfile.TarInfo, name: str) -> None:
        path = self.host_path(name)
        self.mkparents(path, name)
        existing = None
        with contextlib.suppress(FileNotFoundError):
            existing = os.lstat(path)
        if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
            _remove(path, name, self.options.skip)
        self.created.add(name)
        if member.isdir():
            if existing is None or not stat.S_ISDIR(existing.st_mode):
                os.mkdir(path, 0o700)
        elif member.isreg() or member.type == tarfile.CONTTYPE:
            src = tar.extractfile(member)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                if src is not None:
                    shutil.copyfileobj(src, out, _CHUNK)
        elif member.issym():
            os.symlink(member.linkname, path)
        elif member.islnk():
            self.hardlink(member, name, path)
            return  # a hardlink shares the target's attributes
        elif member.ischr() or member.isblk() or member.isfifo():
            if not self.make_node(member, path, name):
                return
        else:
            log.warning("skipping layer entry %r of unsupported type %r", name, member.type)
            return
        self.set_attrs(path, member, name)

    def hardlink(self, member: tarfile.TarInfo, name: str, path: Path) -> None:
        target_name = _entry_name(tarfile.TarInfo(member.linkname)) if member.linkname else ""
        if not target_name:
            raise LayerError(f"layer entry {name!r} is a hardlink with no target")
        target = self.host_path(target_name)
        try:
            st = os.lstat(target)
        except FileNotFoundError:
            raise LayerError(
                f"layer entry {name!r} links to {member.linkname!r}, which does not exist"
            ) from None
        if stat.S_ISDIR(st.st_mode):
            raise LayerError(f"layer entry {name!r} is a hardlink to a directory")
        os.link(target, path, follow_symlinks=False)

    def make_node(self, member: tarfile.TarInfo, path: Path, name: str) -> bool:
        if member.isfifo():
            os.mkfifo(path, 0o600)
            return True
        if not self.options.devices:
            log.warning("skipping device %r: creating devices needs root", name)
            return False
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        try:
            os.mknod(path, kind | 0o600, os.makedev(member.devmajor, member.devminor))
        except PermissionError:
            log.warning("skipping device %r: not permitted here", name)
            return False
        return True

    def set_attrs(self, path: Path, member: tarfile.TarInfo, name: str) -> None:
        is_link = member.issym()
        if self.options.same_owner:
            try:
                os.lchown(path, member.uid, member.gid)
            except OSError as err:
                raise LayerError(
                    f"layer entry {name!r}: cannot set owner {member.uid}:{member.gid}: {err.strerror}"
                ) from None
        if self.options.xattrs:
            for key, value in member.pax_headers.items():
                if key.startswith("SCHILY.xattr."):
                    self.set_xattr(path, key[len("SCHILY.xattr.") :], value, name)
        if not is_link:
            os.chmod(path, stat.S_IMODE(member.mode) | (member.mode & 0o7000))
        if member.isdir():
            self.dir_times.append((path, member.mtime))
        else:
            with contextlib.suppress(OSError):
                os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)

    def set_xattr(self, path: Path, key: str, value: str, name: str) -> None:
        raw = value.encode("utf-8", "surrogateescape")
        try:
            os.setxattr(path, key, raw, follow_symlinks=False)
        except OSError as err:
            if err.errno in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                log.debug("xattr %s on %r not kept: %s", key, name, err.strerror)
            else:
                raise LayerError(f"layer entry {name!r}: cannot set xattr {key}: {err.strerror}") from None


def apply_layer(
    root: Path,
    stream: IO[bytes],
    compression: Compression | None = None,
    options: UnpackOptions | None = None,
) -> None:
    """Apply one layer (compressed or not; ``None`` detects it) onto ``root``."""
    applier = _Applier(Path(root), options or UnpackOptions())
    where = ""
    try:
        reader = decompress(stream, compression)
        with tarfile.open(fileobj=reader, mode="r|", errorlevel=2) as tar:
            applier.apply(tar)
        # Read past the tar's end marker to the end of the blob, so that a verifying stream (a
        # registry or layout blob) hashes every byte and reports a digest mismatch.
        for source in (reader, stream):
            while source.read(_CHUNK):
                pass
    except (LayerError, DigestMismatch):
        raise
    except _CAUGHT as err:
        where = f" at entry {applier.current!r}" if applier.current else ""
        raise _as_layer_error(err, Path(root), where) from None


def _as_layer_error(err: Exception, root: Path, where: str) -> KilnError:
    """One-line errors for what a broken stream, a full disk or a hostile tar can cause."""
    if isinstance(err, tarfile.TarError):
        return LayerError(f"malformed layer tar{where}: {err}")
    if isinstance(err, EOFError):
        return LayerError(f"layer data ends early{where}: truncated or corrupt")
    if isinstance(err, OSError):
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            return LayerError(f"no space left while unpacking a layer into {root}{where}")
        detail = err.strerror or str(err)
        return LayerError(f"cannot unpack layer{where}: {detail}")
    if isinstance(err, KilnError):
        return LayerError(f"cannot unpack layer{where}: {err.message}", hint=err.hint)
    return LayerError(f"corrupt layer data{where}: {err}")


def _data_errors() -> tuple[type[Exception], ...]:
    """What the decompressors raise on corrupt input (each library has its own error type)."""
    kinds: list[type[Exception]] = [ValueError, zlib.error]
    with contextlib.suppress(ImportError):
        from isal import isal_zlib

        kinds.append(isal_zlib.error)  # type: ignore[arg-type]
    with contextlib.suppress(ImportError):
        import zstandard

        kinds.append(zstandard.ZstdError)
    return tuple(kinds)


_CAUGHT: tuple[type[Exception], ...] = (tarfile.TarError, EOFError, OSError, KilnError, *_data_errors())


def unpack_layers(
    root: Path,
    layers: Sequence[Callable[[], IO[bytes]]],
    *,
    retries: int = 0,
    options: UnpackOptions | None = None,
    delay: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Apply layers in order, each opened afresh by its callable (``--image-fs-extract-retry``).

    A layer that fails part-way (a dropped download, a corrupt block) is re-opened and applied again
    up to ``retries`` more times: applying a layer again over a partial attempt gives the same tree.
    Entries that try to leave the root are refused at once; retrying cannot make them safe.
    """
    for index, opener in enumerate(layers):
        for attempt in range(retries + 1):
            try:
                with contextlib.closing(opener()) as stream:
                    apply_layer(root, stream, options=options)
                break
            except KilnError as err:
                if attempt >= retries or _is_refusal(err):
                    raise
                log.warning(
                    "extracting layer %d failed (%s); retry %d of %d", index + 1, err, attempt + 1, retries
                )
                sleep(delay * (attempt + 1))


def _is_refusal(err: KilnError) -> bool:
    return isinstance(err, LayerError) and any(
        phrase in err.message for phrase in ("absolute name", "climbs out", "outside the root")
    )
