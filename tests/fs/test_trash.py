"""kiln.fs.trash: the work dir leaves by one rename; a detached process deletes it; nothing else is touched."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli.executor import executor
from kiln.cli.workdir import remove_temp_work_dir
from kiln.fs import trash


def _tree(root: Path, files: int = 50) -> Path:
    (root / "a" / "b").mkdir(parents=True)
    for i in range(files):
        (root / "a" / "b" / f"f{i}").write_text(f"{i}\n")
    os.symlink("/etc/passwd", root / "a" / "link")  # never followed
    return root


def _reap(pid: int | None) -> None:
    assert pid is not None
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_discard_renames_at_once_and_the_sweeper_deletes(tmp_path: Path) -> None:
    root = tmp_path / "kaniko"
    work = _tree(root / "build-1")
    keep = root / "cache"
    keep.mkdir()
    (keep / "entry").write_text("kept")
    outside = tmp_path / "outside.txt"
    outside.write_text("untouched")
    trash.discard(work, root)
    assert not work.exists()  # gone from where it was when discard returned
    assert trash.wait_swept(trash.trash_dir(root), timeout=60)
    assert trash.pending(trash.trash_dir(root)) == []
    assert (keep / "entry").read_text() == "kept"
    assert outside.read_text() == "untouched"
    assert Path("/etc/passwd").exists()


def test_wait_deletes_before_returning(tmp_path: Path) -> None:
    root = tmp_path / "kaniko"
    work = _tree(root / "build-1")
    trash.discard(work, root, wait=True)
    assert not work.exists() and trash.pending(trash.trash_dir(root)) == []


def test_sweeper_process_removes_leftovers_and_runs_without_our_environment(tmp_path: Path) -> None:
    root = tmp_path / "kaniko"
    t = trash.trash_dir(root)
    _tree(t / "build-old")
    (t / "plain-file").write_text("x")
    _reap(trash.start_sweeper(t))
    assert trash.pending(t) == []
    assert t.is_dir()  # the trash of a kept work root stays (with its lock)


def test_an_entry_with_a_mount_below_is_left(tmp_path: Path) -> None:
    t = tmp_path / "kaniko" / trash.TRASH_DIR
    busy = _tree(t / "busy")
    _tree(t / "free")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"36 35 98:0 / {busy}/a/b rw,noatime master:1 - ext3 /dev/root rw\n")
    assert trash.sweep(t, str(mountinfo)) == 1
    assert trash.pending(t) == ["busy"] and (busy / "a" / "b" / "f1").exists()
    assert trash.wait_swept(t, timeout=10, mountinfo_path=str(mountinfo))  # only a busy entry: no wait
    assert (busy / "a" / "b" / "f1").exists()


def test_waiting_adopts_entries_nobody_sweeps(tmp_path: Path) -> None:
    t = tmp_path / "kaniko" / trash.TRASH_DIR
    _tree(t / "orphan")  # its sweeper was killed
    assert trash.wait_swept(t, timeout=60, adopt_after=0.1)
    assert trash.pending(t) == []


def test_temp_work_root_goes_entirely(tmp_path: Path) -> None:
    root = _tree(tmp_path / "kiln-abc")
    (root / ".trash").mkdir()
    assert remove_temp_work_dir(str(root), wait=False)
    assert not (root / "a").exists()
    deadline_ok = trash.wait_swept(root / ".trash", timeout=60)
    for _ in range(200):  # the sweeper removes the root itself right after the trash
        if not root.exists():
            break
        time.sleep(0.05)
    assert deadline_ok and not root.exists()


def _build(ctx: Path, kaniko: Path, layout: Path, *extra: str) -> None:
    result = CliRunner().invoke(
        executor,
        ["--no-push", "-c", str(ctx), "--kaniko-dir", str(kaniko), "--oci-layout-path", str(layout), *extra],
    )
    assert result.exit_code == 0, result.output


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    pytest.importorskip("kiln.build.executor", exc_type=ImportError)
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    return ctx


def test_a_build_sweeps_what_an_earlier_run_left(tmp_path: Path, ctx: Path) -> None:
    kaniko = tmp_path / "k"
    _tree(kaniko / trash.TRASH_DIR / "build-killed")  # a sweeper that never ran (container ended)
    _build(ctx, kaniko, tmp_path / "layout")
    assert (tmp_path / "layout" / "index.json").is_file()
    assert trash.wait_swept(kaniko / trash.TRASH_DIR, timeout=60)
    assert trash.pending(kaniko / trash.TRASH_DIR) == []
    assert not [p for p in kaniko.iterdir() if p.name.startswith("build-")]


def test_cleanup_flag_waits_for_the_deletion(tmp_path: Path, ctx: Path) -> None:
    kaniko = tmp_path / "k"
    _build(ctx, kaniko, tmp_path / "layout", "--cleanup")
    # no waiting here: with --cleanup the executor returned after the work dir was deleted
    assert trash.pending(kaniko / trash.TRASH_DIR) == []
    assert not [p for p in kaniko.iterdir() if p.name.startswith("build-")]


def _deep_tree(top: Path, depth: int, outside: Path) -> None:
    """``top/d/d/.../d`` ``depth`` levels deep (far past PATH_MAX), a file and a symlink out at the bottom."""
    top.mkdir()
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for _ in range(depth):
            os.mkdir("d", dir_fd=fd)
            child = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = child
        os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
        os.symlink(str(outside), "out", dir_fd=fd)
    finally:
        os.close(fd)


def test_a_tree_deeper_than_the_recursion_limit_is_swept(tmp_path: Path) -> None:
    """Regression: shutil.rmtree raised RecursionError on a tree a RUN made 3000 levels deep; it stayed on disk."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("keep\n")
    work = tmp_path / "work"
    work.mkdir()
    try:
        _deep_tree(work / "build-1", 3000, outside)
        assert trash.move_to_trash(work / "build-1", work) is not None
        assert trash.sweep(trash.trash_dir(work)) == 0
        assert trash.pending(trash.trash_dir(work)) == []
        assert (outside / "keep").read_text() == "keep\n"
    finally:  # pytest's own tmp cleanup is shutil.rmtree: a tree left by a failure would break it for everyone
        subprocess.run(["rm", "-rf", str(work)], check=False)


def test_remove_tree_on_wide_trees_missing_paths_and_single_files(tmp_path: Path) -> None:
    tree = _tree(tmp_path / "t")
    for i in range(200):
        (tree / "wide" / f"d{i}" / "sub").mkdir(parents=True)
    assert trash.remove_tree(tree) is True
    assert not tree.exists() and os.path.exists("/etc/passwd")
    assert trash.remove_tree(tmp_path / "missing") is True
    single = tmp_path / "file"
    single.write_text("x")
    assert trash.remove_tree(single) is True and not single.exists()
