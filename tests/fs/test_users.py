"""USER / --chown resolution against a rootfs's passwd and group files (BuildKit/runc rules)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from kiln.errors import KilnError
from kiln.fs.users import ExecUser, UserNotFound, read_file_in_root, resolve_chown, resolve_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
# a comment line
app:x:1000:1000:App:/home/app:/bin/sh
broken-line
dup:x:2000:2000::/home/dup1:/bin/sh
dup:x:2001:2001::/home/dup2:/bin/sh
nohome:x:3000:3000:::/bin/sh
"""
GROUP = """\
root:x:0:root
daemon:x:1:
app:x:1000:
wheel:x:10:app,root
audio:x:29:app
staff:x:50:
dup:x:2000:
"""


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(PASSWD)
    (root / "etc" / "group").write_text(GROUP)
    return root


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("", ExecUser(0, 0, (0, 10), "/root")),  # "" means "0", looked up like any uid
        ("root", ExecUser(0, 0, (0, 10), "/root")),
        ("0", ExecUser(0, 0, (0, 10), "/root")),
        ("app", ExecUser(1000, 1000, (10, 29), "/home/app")),
        ("1000", ExecUser(1000, 1000, (10, 29), "/home/app")),
        ("app:staff", ExecUser(1000, 50, (), "/home/app")),
        ("app:50", ExecUser(1000, 50, (), "/home/app")),
        ("app:777", ExecUser(1000, 777, (), "/home/app")),
        ("1000:1000", ExecUser(1000, 1000, (), "/home/app")),  # numeric pair: no supplementary groups
        ("root:root", ExecUser(0, 0, (), "/root")),
        ("4242", ExecUser(4242, 0, (), "/")),  # numeric uid not in passwd: gid 0
        ("4242:staff", ExecUser(4242, 50, (), "/")),
        ("4242:4243", ExecUser(4242, 4243, (), "/")),
        ("dup", ExecUser(2000, 2000, (), "/home/dup1")),  # first match wins
        ("nohome", ExecUser(3000, 3000, (), "/")),
    ],
)
def test_resolve_user_table(rootfs: Path, spec: str, expected: ExecUser) -> None:
    assert resolve_user(spec, rootfs) == expected


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("nosuch", "unknown user 'nosuch'"),
        ("nosuch:staff", "unknown user 'nosuch'"),
        ("app:nogroup", "unknown group 'nogroup'"),
        ("4242:nogroup", "unknown group 'nogroup'"),
        ("99999999999", "unknown user"),  # out of range is not a uid
    ],
)
def test_resolve_user_errors(rootfs: Path, spec: str, message: str) -> None:
    with pytest.raises(UserNotFound) as info:
        resolve_user(spec, rootfs)
    assert message in str(info.value)
    assert isinstance(info.value, KilnError)
    assert info.value.hint and "numeric" in info.value.hint


def test_scratch_rootfs_without_files(tmp_path: Path) -> None:
    root = tmp_path / "scratch"
    root.mkdir()
    assert resolve_user("", root) == ExecUser(0, 0, (), "/")
    assert resolve_user("1234", root) == ExecUser(1234, 0, (), "/")
    assert resolve_user("1234:5", root) == ExecUser(1234, 5, (), "/")
    with pytest.raises(UserNotFound):
        resolve_user("app", root)
    assert resolve_chown("1:2", root) == (1, 2)
    assert resolve_chown("root", root) == (0, 0)
    with pytest.raises(UserNotFound):
        resolve_chown("app", root)


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("app", (1000, 1000)),
        ("app:staff", (1000, 50)),
        ("app:7", (1000, 7)),
        ("1000", (1000, 1000)),
        ("4242", (4242, 4242)),  # numeric passthrough: gid = uid
        ("4242:staff", (4242, 50)),
        ("11:22", (11, 22)),
        ("root", (0, 0)),
        ("daemon", (1, 1)),
    ],
)
def test_resolve_chown_table(rootfs: Path, spec: str, expected: tuple[int, int]) -> None:
    assert resolve_chown(spec, rootfs) == expected


@pytest.mark.parametrize("spec", ["nosuch", "nosuch:staff", "app:nogroup", "", ":"])
def test_resolve_chown_errors(rootfs: Path, spec: str) -> None:
    with pytest.raises(UserNotFound):
        resolve_chown(spec, rootfs)


def test_symlinked_passwd_is_resolved_inside_root(tmp_path: Path) -> None:
    """An image whose /etc/passwd points at an absolute path must read its own file, not the host's."""
    host = tmp_path / "host-passwd"
    host.write_text("evil:x:0:0::/:/bin/sh\n")
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "data").mkdir()
    (root / "data" / "pw").write_text("mine:x:77:88::/m:/bin/sh\n")
    os.symlink(str(host), root / "etc" / "passwd")  # absolute host path: must be re-rooted
    with pytest.raises(UserNotFound):
        resolve_user("evil", root)
    os.unlink(root / "etc" / "passwd")
    os.symlink("/data/pw", root / "etc" / "passwd")
    assert resolve_user("mine", root) == ExecUser(77, 88, (), "/m")
    os.unlink(root / "etc" / "passwd")
    os.symlink("../../../../../../data/pw", root / "etc" / "passwd")  # '..' clamps at root
    assert resolve_user("mine", root).uid == 77


def test_symlinked_etc_dir_and_loops(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "passwd").write_text("x:x:5:6::/:/bin/sh\n")
    os.symlink("/real", root / "etc")
    assert resolve_user("x", root).uid == 5
    os.unlink(root / "etc")
    os.symlink("etc", root / "etc")  # a loop is "no file", not a hang
    assert read_file_in_root(root, "etc/passwd") is None


def test_non_regular_passwd_is_ignored(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc" / "passwd").mkdir(parents=True)
    assert read_file_in_root(root, "etc/passwd") is None
    assert resolve_user("7", root) == ExecUser(7, 0, (), "/")
