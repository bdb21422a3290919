"""Secrets never reach the terminal; log output follows kaniko's levels and formats."""

from __future__ import annotations

import io
import json
import logging
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiln.cli import logs
from kiln.cli.executor import executor
from kiln.cli.scrub import Scrubber
from kiln.errors import BuildStepError, UsageError


@pytest.fixture
def fake_build(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[object]]:
    """Stands in for kiln.build.executor (written in parallel by another engineer): these tests are
    about what the CLI prints around a build, so the build only records its options or fails."""
    calls: list[object] = []
    module = types.ModuleType("kiln.build.executor")

    def build(options: object, client: object) -> None:
        calls.append(options)
        raise BuildStepError(
            f"RUN cat /run/secrets/tok printed {calls[0].environ['TOK']} and s3cr3t-file",  # type: ignore[attr-defined]
            exit_code=42,
        )

    module.build = build  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "kiln.build.executor", module)
    yield calls


def test_scrubber_masks_values_and_url_passwords() -> None:
    scrub = Scrubber(["hunter22", "x"])
    out = scrub("pushing https://bob:hunter22@r.example/v2 with hunter22; x stays")
    assert "hunter22" not in out
    assert "bob" not in out and "https://***@r.example/v2" in out
    assert out.endswith("x stays")  # values shorter than 4 characters are not secrets


def test_secret_values_never_printed(fake_build: list[object], tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cr3t-file\n")
    result = CliRunner().invoke(
        executor,
        ["--no-push", "--kaniko-dir", str(tmp_path / "k"), "--secret", "id=tok,env=TOK",
         "--secret", f"id=f,src={secret_file}"],
        env={"TOK": "token-value-123"},
    )  # fmt: skip
    assert len(fake_build) == 1
    assert result.exit_code == 42  # a failing RUN exits with its own code, as kaniko
    assert "token-value-123" not in result.output and "s3cr3t-file" not in result.output
    assert result.output.startswith("error: ") and "***" in result.output
    assert "token-value-123" not in repr(fake_build[0])  # environ stays out of the options' repr


def test_ci_credential_variables_are_masked_in_errors() -> None:
    result = CliRunner().invoke(
        executor, ["--no-push", "--custom-platform", "leaky-password"], env={"GIT_PASSWORD": "leaky-password"}
    )
    assert result.exit_code == 1
    assert "leaky-password" not in result.output and "invalid platform" in result.output


def _record(logger: logging.Logger, level: int, msg: str) -> None:
    logger.log(level, msg)


def test_text_format_is_logrus_like_and_levels_filter() -> None:
    stream = io.StringIO()
    logs.configure("warn", "text", False, stream=stream, scrub=Scrubber(["pa55word"]))
    log = logging.getLogger("kiln.build.stage")
    log.info("hidden")
    log.warning("using pa55word")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("WARN[") and lines[0].endswith("] using ***")
    assert "\x1b[" not in lines[0]


def test_color_and_timestamp() -> None:
    stream = io.StringIO()
    logs.configure("info", "color", True, stream=stream)
    logging.getLogger("kiln").info("hello")
    line = stream.getvalue().strip()
    assert line.startswith("\x1b[36mINFO\x1b[0m[20") and line.endswith("Z] hello")


def test_json_format_and_trace_level() -> None:
    stream = io.StringIO()
    logs.configure("trace", "json", False, stream=stream)
    logging.getLogger("kiln.x").log(logs.TRACE, "deep")
    logging.getLogger("kiln.x").error("bad")
    records = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [(r["level"], r["msg"]) for r in records] == [("trace", "deep"), ("error", "bad")]
    assert all(r["time"].endswith("Z") for r in records)


@pytest.mark.parametrize(("given", "expected"), [("WARNING", "warn"), ("Debug", "debug"), ("panic", "panic")])
def test_verbosity_names(given: str, expected: str) -> None:
    assert logs.normalise_verbosity(given) == expected


def test_bad_log_settings() -> None:
    with pytest.raises(UsageError, match="invalid --verbosity"):
        logs.configure("chatty", "text", False, stream=io.StringIO())
    with pytest.raises(UsageError, match="invalid --log-format"):
        logs.configure("info", "xml", False, stream=io.StringIO())
