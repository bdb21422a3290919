"""kiln.fs.mounts: one reading of the mount table for the ignore list and for work-dir deletion."""

from __future__ import annotations

from pathlib import Path

from kiln.fs import mounts
from kiln.fs.ignore import read_mount_points

# Two real mountinfo lines' shape: field 5 is the mount point, with space as \040 and UTF-8 kept as bytes.
TABLE = (
    "22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/vda rw\n"
    "40 22 0:35 / {root}/mnt/with\\040space rw - tmpfs tmpfs rw\n"
    "41 22 0:36 / {root}/mnt/caf\u00e9 rw - tmpfs tmpfs rw\n"
    "short line\n"
)


def _table(tmp_path: Path) -> Path:
    path = tmp_path / "mountinfo"
    path.write_text(TABLE.format(root=tmp_path), encoding="utf-8")
    return path


def test_escapes_and_non_ascii_names_are_undone_byte_exactly(tmp_path: Path) -> None:
    table = mounts.read_mount_table(str(_table(tmp_path)))
    assert table == ("/", f"{tmp_path}/mnt/with space", f"{tmp_path}/mnt/caf\u00e9")


def test_busy_below_finds_a_mount_at_or_under_the_path_only(tmp_path: Path) -> None:
    info = str(_table(tmp_path))
    (tmp_path / "mnt").mkdir()
    assert mounts.busy_below(tmp_path / "mnt", info) == f"{tmp_path}/mnt/with space"
    assert mounts.busy_below(tmp_path / "mnt" / "caf\u00e9", info) == f"{tmp_path}/mnt/caf\u00e9"
    assert mounts.busy_below(tmp_path / "mn", info) is None  # a prefix of a name is not a parent
    assert mounts.busy_below(tmp_path / "other", info) is None


def test_the_ignore_list_reads_the_same_table(tmp_path: Path) -> None:
    assert read_mount_points(str(tmp_path), str(_table(tmp_path))) == ("/mnt/caf\u00e9", "/mnt/with space")


def test_no_table_means_no_mounts(tmp_path: Path) -> None:
    assert mounts.read_mount_table(str(tmp_path / "missing")) == ()
    assert mounts.busy_below(tmp_path, str(tmp_path / "missing")) is None
