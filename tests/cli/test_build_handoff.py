"""What the CLI does around kiln.build.executor.build: the options it hands over, the temp work dir.

kiln.build.executor is written in parallel by another engineer; these tests replace it with a
recording stand-in (a mock, said so here) because they are about the CLI's side of the call.
"""

from __future__ import annotations

import os
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.build.options import BuildOptions
from kiln.cli import workdir
from kiln.cli.executor import executor
from kiln.cli.main import kiln
from kiln.cli.workdir import remove_temp_work_dir
from kiln.registry.client import RegistryClient


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[BuildOptions]]:
    calls: list[BuildOptions] = []
    module = types.ModuleType("kiln.build.executor")

    def build(options: BuildOptions, client: RegistryClient) -> None:
        assert client.options is options.registry  # the run's one client, made from the run's options
        assert os.path.isdir(options.work_dir)  # the work dir exists while the build runs
        Path(options.work_dir, "layer.tmp").write_text("x")
        calls.append(options)

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kiln.build.executor", module)
    yield calls


def test_fallback_work_dir_is_removed_after_the_build(
    recorded: list[BuildOptions], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdir, "DEFAULT_KANIKO_DIR", str(tmp_path / "no-kaniko-here"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    result = CliRunner().invoke(executor, ["--no-push", "-c", str(ctx), "--kaniko-dir=/kaniko"])
    assert result.exit_code == 0, result.output
    (options,) = recorded
    assert options.kaniko_dir == str(tmp_path / "no-kaniko-here")
    assert options.work_dir.startswith(
        str(tmp_path / "tmp")
    )  # tempfile.tempdir points into tmp_path (conftest)
    assert not os.path.exists(Path(options.work_dir, "layer.tmp"))  # moved to the trash at once
    deadline = time.monotonic() + 60  # a detached sweeper deletes the trash, then the dir itself
    while os.path.exists(options.work_dir) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not os.path.exists(options.work_dir)


def test_fallback_work_dir_is_gone_on_return_with_cleanup(
    recorded: list[BuildOptions], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workdir, "DEFAULT_KANIKO_DIR", str(tmp_path / "no-kaniko-here"))
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    result = CliRunner().invoke(executor, ["--no-push", "-c", str(ctx), "--cleanup"])
    assert result.exit_code == 0, result.output
    assert not os.path.exists(recorded[0].work_dir)


def test_chosen_work_dir_is_kept(recorded: list[BuildOptions], tmp_path: Path) -> None:
    result = CliRunner().invoke(kiln, ["build", "--no-push", "--kaniko-dir", str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert recorded[0].work_dir == str(tmp_path / "k")
    assert (tmp_path / "k" / "layer.tmp").exists()


def test_temp_dir_with_a_mount_below_is_left_alone(tmp_path: Path) -> None:
    work = tmp_path / "kiln-x"
    (work / "root" / "proc").mkdir(parents=True)
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(f"36 35 0:4 / {work}/root/proc rw,nosuid - proc proc rw\n")
    assert remove_temp_work_dir(str(work), str(mountinfo)) is False
    assert work.exists()
    mountinfo.write_text("36 35 0:4 / /proc rw - proc proc rw\n")
    assert remove_temp_work_dir(str(work), str(mountinfo)) is True
    assert not work.exists()


def test_missing_build_executor_is_not_supported_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "kiln.build.executor", None)
    result = CliRunner().invoke(executor, ["--no-push"])
    assert result.exit_code == 2
    assert result.output.startswith("error: building images is not supported yet")


@pytest.mark.parametrize(
    ("argv", "ok"),
    [(["--compression-level", "9"], True), (["--compression-level", "10"], False),
     (["--compression", "zstd", "--compression-level", "19"], True),
     (["--compression", "zstd", "--compression-level", "23"], False), (["--compression-level", "-1"], True)],
)  # fmt: skip
def test_compression_level_range(recorded: list[BuildOptions], argv: list[str], ok: bool) -> None:
    result = CliRunner().invoke(executor, ["--no-push", *argv])
    assert (result.exit_code == 0) is ok, result.output
    if not ok:
        assert "invalid --compression-level" in result.output


@pytest.mark.parametrize("verbosity", ["info", "debug"])
def test_unexpected_exception_is_one_line_unless_debugging(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, verbosity: str
) -> None:
    module = types.ModuleType("kiln.build.executor")

    def build(options: BuildOptions, client: RegistryClient) -> None:
        raise RuntimeError("boom with https://user:pw123456@host/x")

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kiln.build.executor", module)
    result = CliRunner().invoke(executor, ["--no-push", "--kaniko-dir", str(tmp_path), "-v", verbosity])
    assert result.exit_code == 1
    lines = result.output.splitlines()
    assert lines[-1].startswith("error: internal error: RuntimeError: boom with https://***@host/x")
    assert "pw123456" not in result.output
    if verbosity == "debug":
        assert "Traceback (most recent call last)" in result.output
    else:
        assert len(lines) == 1
