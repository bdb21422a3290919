"""overlayfs snapshots: each step writes into a fresh upper directory, so the layer is exactly its contents.

Cost follows the files a step changed, never the size of the root. After a snapshot the upper
directory is folded into the base directory by renames (also O(changed)), so every step mounts one
lower directory and the mount options never grow with the number of steps. Needs root or
CAP_SYS_ADMIN; ``overlay_supported`` says whether this process can mount it.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import os
import shutil
import stat
import tempfile
from pathlib import Path

from kiln.compression import Compression
from kiln.errors import KilnError
from kiln.fs.ignore import IgnoreList
from kiln.fs.tarwriter import Add, Entry, Meta, Opaque, Whiteout, WrittenLayer, layer_xattrs, write_layer
from kiln.snapshot.base import Snapshotter

_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")
_MNT_DETACH = 2
_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)


def _mount_overlay(lower: Path, upper: Path, work: Path, target: Path) -> None:
    # metacopy=off: a chmod must copy the data up too, or the upper file would read as empty.
    # redirect_dir=off: a renamed directory is copied, so the upper dir alone describes it.
    # volatile (Linux >= 5.10; retried without it on older kernels): no syncfs of the whole host
    # filesystem at every unmount, i.e. at every snapshot. kiln's scratch needs no durability, and files
    # whose blocks were never written are unlinked ~10x faster later (docs/performance.md).
    data = f"lowerdir={lower},upperdir={upper},workdir={work},metacopy=off,redirect_dir=off,index=off"
    for options in (data + ",volatile", data):
        rc = _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, options.encode())
        if rc == 0:
            return
        err = ctypes.get_errno()
        if err != errno.EINVAL:
            break
    raise KilnError(
        f"cannot mount overlayfs at {target}: {os.strerror(err)}",
        hint="overlay snapshots need root or CAP_SYS_ADMIN; kiln falls back to the walk snapshotter",
    )


def _umount(target: Path) -> None:
    if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
        err = ctypes.get_errno()
        if err not in (errno.EINVAL, errno.ENOENT):
            raise KilnError(f"cannot unmount {target}: {os.strerror(err)}")


def overlay_supported(scratch: Path) -> bool:
    """Try a throwaway overlay mount in ``scratch``."""
    try:
        scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=scratch) as tmp:
            dirs = [Path(tmp, n) for n in ("l", "u", "w", "m")]
            for d in dirs:
                d.mkdir()
            _mount_overlay(dirs[0], dirs[1], dirs[2], dirs[3])
            _umount(dirs[3])
        return True
    except (KilnError, OSError):
        return False


def _is_whiteout(st: os.stat_result) -> bool:
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _is_opaque(path: str) -> bool:
    for name in _OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


class OverlaySnapshotter(Snapshotter):
    def __init__(self, base: Path, scratch: Path, ignore: IgnoreList) -> None:
        super().__init__(ignore)
        self.base = Path(base)
        self.scratch = Path(scratch)
        self._merged = self.scratch / "merged"
        self._upper = self.scratch / "upper"
        self._work = self.scratch / "work"
        self._mounted = False

    @property
    def root(self) -> Path:
        return self._merged

    def start(self) -> None:
        for d in (self._merged, self._upper, self._work):
            d.mkdir(parents=True, exist_ok=True)
        self._mount()

    def _mount(self) -> None:
        _mount_overlay(self.base, self._upper, self._work, self._merged)
        self._mounted = True

    def _unmount(self) -> None:
        if self._mounted:
            _umount(self._merged)
            self._mounted = False

    def changes(self, mode: str | None = None) -> list[Entry]:
        """The upper directory's entries (one ``lstat`` each, handed on to the layer writer)."""
        entries: list[Entry] = []
        prunes = self.ignore.prunes
        stack = [("", os.fspath(self._upper))]
        while stack:
            rel_dir, host_dir = stack.pop()
            with os.scandir(host_dir) as it:
                for item in it:
                    path = f"{rel_dir}/{item.name}"
                    if prunes(path):
                        continue  # an ignored directory is not descended into
                    st = item.stat(follow_symlinks=False)
                    if _is_whiteout(st):
                        entries.append(Whiteout(path))
                        continue
                    if stat.S_ISDIR(st.st_mode):
                        if _is_opaque(item.path):
                            entries.append(Opaque(path))
                        stack.append((path, item.path))
                    entries.append(Add(path, item.path, Meta.of(st)))
        return self._without_untouched_dirs(entries)

    def _without_untouched_dirs(self, entries: list[Entry]) -> list[Entry]:
        """Drop directories copied up only because something inside them came and went.

        The sandbox's stubs for /etc/hosts and /etc/resolv.conf (or a file a step made and removed)
        copy the directory up; when nothing is left below it and its mode, owner, mtime and user
        xattrs equal the base's, it is no change: BuildKit's layer has no such entry, and without
        this a RUN that changes nothing made a layer holding /etc.
        """
        kept = list(entries)
        while True:
            parents = {e.path.rpartition("/")[0] for e in kept}
            opaque = {e.path for e in kept if isinstance(e, Opaque)}
            drop = {
                e.path
                for e in kept
                if isinstance(e, Add)
                and e.st is not None
                and stat.S_ISDIR(e.st.st_mode)
                and e.path not in parents
                and e.path not in opaque
                and self._same_as_base(e.path, e.host, e.st)
            }
            if not drop:
                return kept
            kept = [e for e in kept if e.path not in drop]

    def _same_as_base(self, path: str, host: Path | str, st: Meta) -> bool:
        base = os.fspath(self.base) + path
        try:
            before = os.lstat(base)
        except OSError:
            return False
        same = (before.st_mode, before.st_uid, before.st_gid, before.st_mtime_ns) == (
            st.st_mode,
            st.st_uid,
            st.st_gid,
            st.st_mtime_ns,
        )
        return same and layer_xattrs(host) == layer_xattrs(base)  # as the layer would carry them

    def take(
        self,
        out_path: Path,
        compression: Compression = "gzip",
        level: int = -1,
        mtime: int | None = None,
        threads: int = 2,
        *,
        mode: str | None = None,
        allow_empty: bool = False,
    ) -> WrittenLayer | None:
        entries = self.changes()
        wanted = entries or allow_empty
        layer = write_layer(entries, out_path, compression, level, mtime, threads) if wanted else None
        self._fold()
        return layer

    def accept(self) -> None:
        self._fold()

    def _fold(self) -> None:
        """Move the upper directory's changes into the base and start a fresh upper."""
        self._unmount()
        _merge_dir(self._upper, self.base)
        shutil.rmtree(self._upper)
        shutil.rmtree(self._work, ignore_errors=True)
        self._upper.mkdir()
        self._work.mkdir()
        self._mount()

    def close(self) -> None:
        """Unmount, leaving the stage's final tree (untaken changes included) in ``base``."""
        if not self._mounted:
            return
        self._unmount()
        try:
            _merge_dir(self._upper, self.base)
        except OSError as err:
            raise KilnError(
                f"cannot fold the overlay's changes into {self.base}: {err.strerror or err}",
                hint="the stage's last changes are still in " + os.fspath(self._upper),
            ) from None
        shutil.rmtree(self._upper, ignore_errors=True)
        shutil.rmtree(self._work, ignore_errors=True)


def _copy_meta(src: str, dst: str, st: os.stat_result) -> None:
    os.lchown(dst, st.st_uid, st.st_gid)
    os.chmod(dst, stat.S_IMODE(st.st_mode) | (st.st_mode & 0o7000))
    for key in os.listxattr(src, follow_symlinks=False):
        if key.startswith(("trusted.overlay.", "user.overlay.")):
            continue
        with contextlib.suppress(OSError):
            os.setxattr(dst, key, os.getxattr(src, key, follow_symlinks=False), follow_symlinks=False)
    os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))


def _remove(path: str) -> None:
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        shutil.rmtree(path)
    else:
        os.unlink(path)


def _merge_dir(upper: Path, lower: Path) -> None:
    """Apply an overlay upper directory onto ``lower`` by renames (whiteouts delete, opaque dirs replace)."""
    for name in os.listdir(upper):
        src = os.path.join(upper, name)
        dst = os.path.join(lower, name)
        st = os.lstat(src)
        if _is_whiteout(st):
            _remove(dst)
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                dst_st: os.stat_result | None = os.lstat(dst)
            except FileNotFoundError:
                dst_st = None
            if dst_st is not None and stat.S_ISDIR(dst_st.st_mode) and not _is_opaque(src):
                _merge_dir(Path(src), Path(dst))
                _copy_meta(src, dst, st)
                continue
            _remove(dst)
            os.rename(src, dst)
            _strip_overlay_xattrs(dst)
            continue
        if os.path.isdir(dst) and not os.path.islink(dst):
            shutil.rmtree(dst)
        os.rename(src, dst)


def _strip_overlay_xattrs(top: str) -> None:
    """Drop overlay xattrs from a directory tree moved in whole, and whiteouts inside it.

    Whiteouts inside a directory that had no lower counterpart are meaningless. One ``scandir`` walk:
    the entry type from the directory listing decides, so only directories and character devices cost a
    syscall of their own.
    """
    stack = [top]
    while stack:
        current = stack.pop()
        for key in _OPAQUE_XATTRS:
            with contextlib.suppress(OSError):
                os.removexattr(current, key, follow_symlinks=False)
        with os.scandir(current) as it:
            for item in it:
                if item.is_dir(follow_symlinks=False):
                    stack.append(item.path)
                elif (
                    not item.is_file(follow_symlinks=False)
                    and not item.is_symlink()
                    and _is_whiteout(item.stat(follow_symlinks=False))
                ):
                    os.unlink(item.path)
