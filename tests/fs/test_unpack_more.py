"""Extraction retries, binary xattrs, errors that name the entry, and the ignore list's mount table."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path
from typing import IO

import pytest

from kiln.errors import LayerError
from kiln.fs.ignore import IgnoreList, mount_points, read_mount_points
from kiln.fs.tarwriter import Add, write_layer
from kiln.fs.unpack import apply_layer, unpack_layers


def _tar(*files: tuple[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in files:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def test_retry_reopens_a_layer_that_broke_part_way(tmp_path: Path) -> None:
    blob = gzip.compress(_tar(("a", b"1" * 50_000), ("b", b"2" * 50_000)))
    opened: list[int] = []

    def opener() -> IO[bytes]:
        opened.append(1)
        return io.BytesIO(blob[: len(blob) // 2] if len(opened) == 1 else blob)

    unpack_layers(tmp_path, [opener], retries=2, sleep=lambda s: None)
    assert len(opened) == 2
    assert (tmp_path / "b").read_bytes() == b"2" * 50_000


def test_no_retries_means_the_first_failure_is_final(tmp_path: Path) -> None:
    blob = gzip.compress(_tar(("a", b"1" * 50_000)))
    opened: list[int] = []

    def opener() -> IO[bytes]:
        opened.append(1)
        return io.BytesIO(blob[:100])

    with pytest.raises(LayerError):
        unpack_layers(tmp_path, [opener], retries=0, sleep=lambda s: None)
    assert len(opened) == 1


def test_escapes_are_not_retried(tmp_path: Path) -> None:
    blob = _tar(("../evil", b"x"))
    opened: list[int] = []

    def opener() -> IO[bytes]:
        opened.append(1)
        return io.BytesIO(blob)

    with pytest.raises(LayerError, match="climbs out"):
        unpack_layers(tmp_path / "root", [opener], retries=3, sleep=lambda s: None)
    assert len(opened) == 1
    assert not (tmp_path / "evil").exists()


def test_error_names_the_entry_it_failed_on(tmp_path: Path) -> None:
    (tmp_path / "blocker").write_bytes(b"a file where a directory is needed")
    with pytest.raises(LayerError, match="blocker/child"):
        apply_layer(tmp_path, io.BytesIO(_tar(("blocker/child", b"x"))))


def test_binary_xattrs_survive_write_and_unpack(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    value = b"\x01\x00\x00\x02\xff\xfe\x00 binary"
    (src / "f").write_bytes(b"f")
    os.setxattr(src / "f", "user.bin", value)
    layer = write_layer([Add("/f", src / "f")], tmp_path / "l.tar", compression="none")
    root = tmp_path / "root"
    root.mkdir()
    with open(layer.path, "rb") as f:
        apply_layer(root, f)
    assert os.getxattr(root / "f", "user.bin") == value


def test_mountinfo_escapes_and_this_process(tmp_path: Path) -> None:
    info = (
        "36 35 98:0 /mnt1 /work/root/with\\040space rw - ext3 /dev/root rw\n"
        "37 35 98:0 / /work/root/tab\\011x rw - ext3 /dev/root rw\n"
        "38 35 98:0 / /elsewhere rw - ext3 /dev/root rw\n"
    )
    assert mount_points(info, "/work/root") == ("/tab\tx", "/with space")
    assert "/proc" in read_mount_points("/")
    assert read_mount_points("/", str(tmp_path / "missing")) == ()


def test_work_dir_and_var_run_in_the_ignore_list() -> None:
    ig = IgnoreList.build(work_dir="/kiln-work", ignore_var_run=True)
    assert ig.ignored("/kiln-work/layers/x") and ig.ignored("/var/run") and not ig.ignored("/var/lib")
    assert ig.prunes("/kiln-work") and not ig.prunes("/kiln")
