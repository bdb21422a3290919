"""Go pflag boolean semantics and kaniko's ``executor version``."""

from __future__ import annotations

import io
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiln import __version__
from kiln.cli.executor import executor
from kiln.cli.main import kiln
from kiln.cli.warmer import warmer


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["--no-push"], True),
        (["--no-push=true"], True),
        (["--no-push=false", "-d", "r/x"], False),
        (["--no-push=0", "-d", "r/x"], False),
        (["--no-push=T"], True),
    ],
)
def test_bool_values(argv: list[str], expected: bool) -> None:
    ctx = executor.make_context("executor", list(argv))
    assert ctx.params["no_push"] is expected


def test_bare_bool_never_takes_the_next_word() -> None:
    ctx = executor.make_context("executor", ["--no-push", "--cleanup", "-d", "r/x"])
    assert ctx.params["no_push"] is True and ctx.params["cleanup"] is True
    result = CliRunner().invoke(executor, ["--no-push", "false"])
    assert result.exit_code == 1 and "No such command 'false'" in result.output


def test_short_bool_flag_of_the_warmer() -> None:
    ctx = warmer.make_context("warmer", ["-f", "-i", "busybox"])
    assert ctx.params["force"] is True and ctx.params["image"] == ("busybox",)


def test_double_dash_stops_rewriting() -> None:
    from kiln.cli.render import pflag_bools

    assert pflag_bools(executor, ["--no-push", "--", "--no-push"]) == ["--no-push=true", "--", "--no-push"]


@pytest.mark.parametrize(("cmd", "argv"), [(executor, ["version"]), (executor, ["--no-push", "version"]),
                                           (kiln, ["version"])])  # fmt: skip
def test_version(cmd: click.Command, argv: list[str]) -> None:
    result = CliRunner().invoke(cmd, argv)
    assert result.exit_code == 0, result.output
    assert __version__ in result.output


@pytest.mark.parametrize(
    ("argv", "warning"),
    [
        (["--snapshotMode=redo"], "--snapshotMode is deprecated, use --snapshot-mode"),
        (["--customPlatform=linux/amd64"], "--customPlatform is deprecated, use --custom-platform"),
        (["--tarPath=/tmp/x.tar"], "--tarPath is deprecated, use --tar-path"),
        (["--whitelist-var-run=true"], "Flag --whitelist-var-run has been deprecated, use --ignore-var-run"),
        (["--azure-container-registry-config=x"], "--azure-container-registry-config has no effect"),
    ],
)
def test_deprecated_flags_warn(argv: list[str], warning: str, tmp_path: Path) -> None:
    from kiln.cli import logs
    from kiln.cli.executor import parse_executor_args

    stream = io.StringIO()
    logs.configure("info", "text", False, stream=stream)
    parse_executor_args(["--no-push", "--kaniko-dir", str(tmp_path), *argv], {})
    assert warning in stream.getvalue()
    assert stream.getvalue().startswith("WARN[")
