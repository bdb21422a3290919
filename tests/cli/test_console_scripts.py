"""The installed console scripts, run as real processes: one-line errors, exit codes, no tracebacks."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from kiln.cli.executor import parse_executor_args
from kiln.errors import UsageError


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(script)
    if exe is None:
        pytest.skip(f"{script} is not installed on PATH (pip install -e .)")
    return subprocess.run(
        [exe, *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize("script", ["executor", "warmer", "kiln"])
def test_help(script: str) -> None:
    proc = _run(script, "--help")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith(f"Usage: {script}")


@pytest.mark.parametrize(
    ("script", "args", "code", "text"),
    [
        ("executor", ["--destinaton", "r/x"], 1, "No such option '--destinaton'"),
        ("executor", ["--push-retry", "many", "--no-push"], 1, "'many' is not a valid integer"),
        ("executor", [], 1, "you must provide --destination"),
        ("kiln", ["build", "--no-push", "--snapshot-mode", "fast"], 1, "invalid --snapshot-mode"),
        ("warmer", ["--force"], 1, "nothing to warm"),
        ("kiln", ["nosuch"], 1, "No such command 'nosuch'"),
    ],
)
def test_errors(script: str, args: list[str], code: int, text: str, tmp_path: Path) -> None:
    proc = _run(script, *args, env={"KANIKO_DIR": str(tmp_path / "k")})
    assert proc.returncode == code, proc.stderr
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], proc.stderr
    assert proc.stdout == ""


def test_executor_version() -> None:
    proc = _run("executor", "version")
    assert proc.returncode == 0 and proc.stdout.startswith("kiln version : ")


def test_parse_executor_args(tmp_path: Path) -> None:
    o = parse_executor_args(["-d", "r/x:1", "--kaniko-dir", str(tmp_path), "--reproducible"], {})
    assert o.destinations == ("r/x:1",) and o.reproducible and o.work_dir == str(tmp_path)
    with pytest.raises(UsageError, match="unexpected argument 'stray'"):
        parse_executor_args(["--no-push", "stray"], {})
    o = parse_executor_args(["--no-push", "--use-new-run", "--force-build-metadata"], {})
    assert o.use_new_run and o.force_build_metadata and o.compressed_caching


def test_python_dash_m() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "kiln.cli", "build", "--no-push", "--snapshot-mode", "fast"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.startswith("error: invalid --snapshot-mode 'fast'"), proc.stderr
