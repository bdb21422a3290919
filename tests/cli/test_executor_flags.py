"""kaniko's executor flags: every name accepted, kaniko's defaults, env aliases, one-line errors."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from kiln.build.options import BuildOptions
from kiln.cli.executor import executor, options_from
from kiln.cli.main import kiln
from kiln.cli.values import parse_duration
from kiln.cli.warmer import warmer
from kiln.errors import KilnError, NotSupportedYet, UsageError

# Every executor flag named in KANIKO_COMPAT.md, with a value kiln must accept by name.
KANIKO_FLAGS = {
    "--verbosity": "debug", "-v": "info", "--log-format": "json", "--log-timestamp": None, "--force": None,
    "--dockerfile": "Dockerfile", "-f": "Dockerfile", "--context": "dir:///src", "-c": "/src",
    "--context-sub-path": "sub", "--bucket": "b", "-b": "b", "--destination": "r/x:1", "-d": "r/x:1",
    "--snapshot-mode": "redo", "--custom-platform": "linux/arm64", "--build-arg": "A=1", "--insecure": None,
    "--skip-tls-verify": None, "--insecure-pull": None, "--skip-tls-verify-pull": None, "--push-retry": "2",
    "--push-ignore-immutable-tag-errors": None, "--image-fs-extract-retry": "1", "--image-download-retry": "1",
    "--kaniko-dir": "/k", "--tar-path": "/t.tar", "--single-snapshot": None, "--reproducible": None,
    "--target": "t", "--no-push": None, "--no-push-cache": None, "--cache-repo": "r/c", "--cache-dir": "/c",
    "--digest-file": "/d", "--image-name-with-digest-file": "/n", "--image-name-tag-with-digest-file": "/nt",
    "--oci-layout-path": "/o", "--compression": "zstd", "--compression-level": "3", "--cache": None,
    "--compressed-caching=false": None, "--cleanup": None, "--cache-ttl": "1h", "--insecure-registry": "r",
    "--skip-tls-verify-registry": "r", "--registry-certificate": "r=/ca.pem",
    "--registry-client-cert": "r=/c.pem,/k.pem", "--registry-map": "a=b;c=d", "--registry-mirror": "m",
    "--skip-default-registry-fallback": None, "--ignore-var-run=false": None, "--whitelist-var-run=false": None,
    "--label": "a=b", "--skip-unused-stages": None, "--use-new-run": None, "--git": "branch=main",
    "--cache-copy-layers": None, "--cache-run-layers=false": None, "--ignore-path": "/x",
    "--force-build-metadata": None, "--skip-push-permission-check": None, "--snapshotMode": "time",
    "--customPlatform": "linux/amd64", "--tarPath": "/t.tar", "--azure-container-registry-config": "x",
}  # fmt: skip


def _parse(argv: list[str], environ: dict[str, str] | None = None) -> BuildOptions:
    ctx = executor.make_context("executor", argv)
    return options_from(ctx, dict(ctx.params), environ or {})


@pytest.mark.parametrize("flag", sorted(KANIKO_FLAGS))
def test_every_kaniko_flag_is_known(flag: str) -> None:
    value = KANIKO_FLAGS[flag]
    argv = [flag] if value is None else [flag, value]
    ctx = executor.make_context("executor", [*argv, "--no-push"])
    assert ctx.params  # parsed without "No such option"


def test_defaults_match_kaniko() -> None:
    o = _parse(["--no-push"])
    assert o.dockerfile == "Dockerfile"
    assert o.context == "/workspace/"
    assert o.snapshot_mode == "full"
    assert o.cache_dir == "/cache"
    assert o.cache_ttl == timedelta(hours=336)
    assert o.cache_run_layers is True and o.cache_copy_layers is False
    assert o.compressed_caching is True
    assert o.ignore_var_run is True
    assert o.compression == "gzip" and o.compression_level == -1
    assert o.kaniko_dir == "/kaniko"
    assert o.verbosity == "info" and o.log_format == "color"
    assert o.registry.push_retry == 0


def test_values_are_typed() -> None:
    o = _parse(
        [
            "-d",
            "localhost:5000/a:1",
            "--destination",
            "localhost:5000/a:2",
            "--build-arg",
            "A=1",
            "--build-arg",
            "FROM_ENV",
            "--build-arg",
            "MISSING",
            "--label",
            "x=y=z",
            "--registry-map",
            "index.docker.io=m1;index.docker.io=m2",
            "--registry-mirror",
            "m3",
            "--registry-certificate",
            "r:5000=/ca.pem",
            "--registry-client-cert",
            "r:5000=/c.pem,/k.pem",
            "--git",
            "branch=dev,single-branch=true",
            "--push-retry=3",
            "--reproducible=true",
            "--ignore-path",
            "/a",
            "--ignore-path",
            "/b",
        ],
        {"FROM_ENV": "from-env", "KANIKO_REGISTRY_MIRROR": "m4"},
    )
    assert o.destinations == ("localhost:5000/a:1", "localhost:5000/a:2")
    assert o.build_args == (("A", "1"), ("FROM_ENV", "from-env"), ("MISSING", ""))  # kaniko: os.Getenv
    assert o.labels == (("x", "y=z"),)
    assert o.registry.registry_maps["index.docker.io"] == ("m1", "m2", "m3", "m4")
    assert o.registry.registry_certificates == {"r:5000": "/ca.pem"}
    assert o.registry.registry_client_certs == {"r:5000": ("/c.pem", "/k.pem")}
    assert o.git.branch == "dev" and o.git.single_branch is True
    assert o.registry.push_retry == 3
    assert o.reproducible is True
    assert o.ignore_paths == ("/a", "/b")


@pytest.mark.parametrize(
    ("env", "expected"), [("true", True), ("1", True), ("false", False), ("bogus", False)]
)
def test_kaniko_no_push_env_overrides(env: str, expected: bool) -> None:
    o = _parse(["--no-push=false", "-d", "r/x"] if not expected else ["-d", "r/x"], {"KANIKO_NO_PUSH": env})
    assert o.no_push is expected


def test_kaniko_dir_env_and_flag(tmp_path: Path) -> None:
    k2, k3 = str(tmp_path / "k2"), str(tmp_path / "k3")
    o = _parse(["--no-push"], {"KANIKO_DIR": k2})
    assert o.kaniko_dir == k2 and o.work_dir == k2
    o = _parse(["--no-push", "--kaniko-dir", k3], {"KANIKO_DIR": k2})
    assert o.kaniko_dir == k3 and o.work_dir == k3 and Path(k3).is_dir()


def test_deprecated_aliases_copy_values() -> None:
    o = _parse(
        ["--no-push", "--snapshotMode", "time", "--customPlatform", "linux/arm64/v8", "--tarPath", "/x.tar"]
    )
    assert o.snapshot_mode == "time"
    assert o.custom_platform == "linux/arm64"
    assert o.tar_path == "/x.tar"
    assert _parse(["--no-push", "--whitelist-var-run=false"]).ignore_var_run is False


def test_bucket_becomes_gcs_context() -> None:
    assert _parse(["--no-push", "-b", "my-bucket"]).context == "gs://my-bucket"


@pytest.mark.parametrize(
    ("argv", "error", "match"),
    [
        ([], UsageError, "must provide --destination"),
        (["--no-push", "--snapshot-mode", "fast"], UsageError, "snapshot-mode"),
        (["--no-push", "--custom-platform", "linux"], KilnError, "invalid platform"),
        (["--no-push", "--label", "nolabel"], UsageError, "KEY=VALUE"),
        (["--no-push", "--git", "depth=1"], UsageError, "unknown --git option"),
        (["--no-push", "--registry-client-cert", "r=/only-cert"], UsageError, "registry-client-cert"),
        (
            ["--no-push", "--image-name-with-digest-file", "/x"],
            UsageError,
            "requires at least one --destination",
        ),
        (["--no-push", "--secret", "src=/x"], UsageError, "no id"),
    ],
)
def test_bad_input_is_a_usage_error(argv: list[str], error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        _parse(argv)


def test_a_flag_in_the_not_yet_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    # every kaniko flag is implemented now; the table stays for the next one (a stand-in entry here)
    from kiln.cli import support

    monkeypatch.setitem(support.NOT_SUPPORTED_YET, "use-new-run", "a stand-in feature")  # type: ignore[index]
    with pytest.raises(NotSupportedYet, match="--use-new-run is not supported yet"):
        _parse(["--no-push", "--use-new-run"])
    result = CliRunner().invoke(executor, ["--no-push", "--use-new-run"])
    assert result.exit_code == 2 and result.output.startswith("error: --use-new-run is not supported yet")
    assert not _parse(["--no-push", "--use-new-run=false"]).use_new_run  # the default is accepted


def test_default_valued_unsupported_flag_is_accepted() -> None:
    assert _parse(["--no-push", "--cache=false", "--cache-run-layers=true"]).cache is False


@pytest.mark.parametrize(
    ("text", "expected"),
    [("336h", timedelta(hours=336)), ("1h30m", timedelta(minutes=90)), ("90s", timedelta(seconds=90)),
     ("1.5h", timedelta(minutes=90)), ("0", timedelta(0)), ("300ms", timedelta(milliseconds=300))],
)  # fmt: skip
def test_go_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text, "--cache-ttl") == expected


@pytest.mark.parametrize("text", ["", "2 weeks", "1d", "h", "10"])
def test_bad_go_durations(text: str) -> None:
    with pytest.raises(UsageError, match="not a duration"):
        parse_duration(text, "--cache-ttl")


def test_secrets_keep_only_where_to_read() -> None:
    o = _parse(
        ["--no-push", "--secret", "id=tok,env=TOKEN", "--secret", "id=f,src=/run/f", "--secret", "id=X"]
    )
    assert [(s.id, s.src, s.env) for s in o.secrets] == [
        ("tok", None, "TOKEN"),
        ("f", "/run/f", None),
        ("X", None, "X"),
    ]


@pytest.mark.parametrize(
    ("cmd", "argv", "code", "text"),
    [
        (executor, ["--bogus"], 1, "No such option '--bogus'"),
        (executor, ["--no-push=maybe"], 1, "not a boolean"),
        (executor, [], 1, "must provide --destination"),
        (executor, ["--no-push", "--verbosity", "loud"], 1, "invalid --verbosity"),
        (warmer, ["--force"], 1, "nothing to warm"),
    ],
)
def test_errors_are_one_line_with_exit_code(
    cmd: click.Command, argv: list[str], code: int, text: str
) -> None:
    result = CliRunner().invoke(cmd, argv)
    assert result.exit_code == code, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and text in lines[0], result.output
    assert "Traceback" not in result.output


def test_kiln_umbrella_lists_commands() -> None:
    result = CliRunner().invoke(kiln, ["--help"])
    assert result.exit_code == 0
    for name in ("build", "warm", "version"):
        assert name in result.output


def test_module_has_no_side_effects_on_environ() -> None:
    import os

    before = dict(os.environ)
    _parse(["--no-push", "--build-arg", "HOME"], {"HOME": "/h"})
    assert dict(os.environ) == before
    assert sys.modules["kiln.cli.executor"] is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("id=a,type=env,src=VAR", ("a", None, "VAR")), ("id=a,type=file,src=/f", ("a", "/f", None)),
     ("id=a,source=/f", ("a", "/f", None))],
)  # fmt: skip
def test_secret_spellings(value: str, expected: tuple[str, str | None, str | None]) -> None:
    (s,) = _parse(["--no-push", "--secret", value]).secrets
    assert (s.id, s.src, s.env) == expected


@pytest.mark.parametrize("value", ["id=a,src=/f,env=V", "id=a,type=ssh", "id=a,mode=0400"])
def test_bad_secrets(value: str) -> None:
    with pytest.raises(UsageError, match="invalid --secret"):
        _parse(["--no-push", "--secret", value])
