"""``python3 -m kiln.integrations <platform>``: one ``error:`` line and the error's exit code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .conftest import FAKE_DIGEST, FakeExecutor


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kiln.integrations", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_gitlab_without_an_image_name_is_one_error_line() -> None:
    result = run(["gitlab"], {"PATH": "/usr/bin:/bin", "CI_REGISTRY_PASSWORD": "glpw-1"})
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "error: no image to push: neither KILN_DESTINATIONS nor CI_REGISTRY_IMAGE is set "
        "(hint: set the 'destinations' input, or enable the project's container registry)"
    ]


def test_tekton_keeps_both_separators(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    env = fake_executor.environ(
        KILN_EXECUTOR=" ".join(fake_executor.argv), PARAM_IMAGE="r.example/a:1",
        RESULT_IMAGE_DIGEST=str(tmp_path / "digest"),
    )  # fmt: skip
    result = run(["tekton", "--", "--", "--flag-after"], env)
    assert result.returncode == 0, result.stderr
    assert fake_executor.record()["argv"][-2:] == ["--", "--flag-after"]
    assert (tmp_path / "digest").read_text() == FAKE_DIGEST


def test_executor_exit_code_passes_through(fake_executor: FakeExecutor, tmp_path: Path) -> None:
    env = fake_executor.environ(
        KILN_EXECUTOR=" ".join(fake_executor.argv), KILN_PUSH="false", FAKE_FAIL="error: boom", FAKE_EXIT="2",
        KILN_OUTPUT_DIR=str(tmp_path / "out"),
    )  # fmt: skip
    result = run(["jenkins"], env)
    assert result.returncode == 2
    assert "error: boom" in result.stderr
