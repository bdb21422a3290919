"""The layer writer builds most tar headers itself: its bytes must equal what ``tarfile`` writes.

The reference below is the writer kiln had before (every entry through ``tarfile`` in PAX format); a
layer's digest must not change with the way its entries were written.
"""

from __future__ import annotations

import contextlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from kiln.fs.tarwriter import Add, Meta, Whiteout, ustar_header, write_layer


def _reference(entries: list[tuple[str, Path]], mtime: int | None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:  # type: ignore[call-overload]
        links: dict[tuple[int, int], str] = {}
        for name, host in sorted(entries):
            st = os.lstat(host)
            info = tarfile.TarInfo(name)
            info.mode = stat.S_IMODE(st.st_mode)
            info.uid, info.gid = st.st_uid, st.st_gid
            info.uname = info.gname = ""
            info.mtime = int(st.st_mtime) if mtime is None else mtime
            xattrs = {
                f"SCHILY.xattr.{k}": os.getxattr(host, k, follow_symlinks=False).decode()
                for k in sorted(os.listxattr(host, follow_symlinks=False))
                if not k.startswith("security.selinux")
            }
            if xattrs:
                info.pax_headers = xattrs
            mode = st.st_mode
            if stat.S_ISREG(mode) and st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in links:
                    info.type, info.linkname = tarfile.LNKTYPE, links[(st.st_dev, st.st_ino)]
                    tar.addfile(info)
                    continue
                links[(st.st_dev, st.st_ino)] = name
            if stat.S_ISDIR(mode):
                info.type, info.name = tarfile.DIRTYPE, name + "/"
                tar.addfile(info)
            elif stat.S_ISREG(mode):
                info.size = st.st_size
                with open(host, "rb") as f:
                    tar.addfile(info, f)
            elif stat.S_ISLNK(mode):
                info.type, info.linkname = tarfile.SYMTYPE, os.readlink(host)
                tar.addfile(info)
            elif stat.S_ISCHR(mode):
                info.type = tarfile.CHRTYPE
                info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
                tar.addfile(info)
            elif stat.S_ISFIFO(mode):
                info.type = tarfile.FIFOTYPE
                tar.addfile(info)
    return out.getvalue()


def _tree(root: Path) -> list[tuple[str, Path]]:
    made: list[Path] = []

    def add(p: Path) -> Path:
        made.append(p)
        return p

    add(root / "d").mkdir()
    for size in (0, 1, 511, 512, 513, 10_000, (1 << 20) + 7):
        add(root / "d" / f"f{size}").write_bytes(os.urandom(size))
    long_dir = add(root / ("L" * 90))
    long_dir.mkdir()
    add(long_dir / ("n" * 40)).write_text("long name")  # > 100 characters in the layer: PAX path
    add(root / "d" / "caf\u00e9").write_text("non-ascii name")
    os.symlink("f1", add(root / "d" / "short-link"))
    os.symlink("t" * 150, add(root / "d" / "long-link"))
    add(root / "d" / "suid").write_text("#!/bin/sh\n")
    os.chmod(root / "d" / "suid", 0o4755)
    os.link(root / "d" / "f1", add(root / "d" / "hard"))
    os.mkfifo(add(root / "d" / "fifo"))
    owned = add(root / "d" / "big-uid")
    owned.write_text("x")
    xattr = add(root / "d" / "xattr")
    xattr.write_text("x")
    if os.geteuid() == 0:
        os.chown(owned, 3_000_000, 70_000)  # uid beyond 7 octal digits: PAX uid
        os.mknod(add(root / "d" / "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    with contextlib.suppress(OSError):  # a filesystem without user xattrs: the entry is still compared
        os.setxattr(xattr, "user.kiln", b"v")
    os.utime(root / "d" / "f1", (0, 8**11 + 5))  # mtime beyond 11 octal digits: PAX mtime
    return [(str(p.relative_to(root)), p) for p in made]


@pytest.mark.parametrize("mtime", [None, 0, 1_700_000_000])
def test_layer_bytes_equal_tarfile(tmp_path: Path, mtime: int | None) -> None:
    root = tmp_path / "root"
    root.mkdir()
    entries = _tree(root)
    written = write_layer(
        [Add("/" + name, host) for name, host in entries], tmp_path / "layer.tar", "none", mtime=mtime
    )
    assert (tmp_path / "layer.tar").read_bytes() == _reference(entries, mtime)
    assert written.entries == len(entries)


def test_header_fast_path_matches_tobuf() -> None:
    for name, kind, link in [
        ("a", tarfile.REGTYPE, ""),
        ("d/", tarfile.DIRTYPE, ""),
        ("l", tarfile.SYMTYPE, "x/y"),
    ]:
        for mode, uid, gid, size, mtime in [(0o644, 0, 0, 0, 0), (0o7777, 8**7 - 1, 1, 8**11 - 1, 8**11 - 1)]:
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mode, info.uid, info.gid = kind, link, mode, uid, gid
            info.size, info.mtime, info.uname, info.gname = size, mtime, "", ""
            fast = ustar_header(name, mode, uid, gid, size, mtime, kind, link)
            assert fast == info.tobuf(tarfile.PAX_FORMAT, tarfile.ENCODING, "surrogateescape")
    assert ustar_header("n" * 101, 0o644, 0, 0, 0, 0, tarfile.REGTYPE) is None
    assert ustar_header("a", 0o644, 8**7, 0, 0, 0, tarfile.REGTYPE) is None


def test_whiteouts_and_a_shrinking_file(tmp_path: Path) -> None:
    f = tmp_path / "f"
    f.write_text("0123456789")
    st = Meta.of(os.lstat(f))
    f.write_text("01")  # shorter than the stat the snapshotter handed over
    with pytest.raises(OSError, match="shrank"):
        write_layer([Add("/f", f, st)], tmp_path / "l.tar", "none")
    written = write_layer([Whiteout("/gone")], tmp_path / "w.tar", "none")
    with tarfile.open(written.path) as tar:
        assert tar.getnames() == [".wh.gone"]
