"""The executor command line drives real builds: outputs checked
with independent tools (skopeo, oci-image-tool)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from fixtures.tools import skopeo_inspect
from kiln.cli.executor import executor


def test_scratch_build_to_layout_tarball_and_digest_file(tmp_path: Path) -> None:
    pytest.importorskip(
        "kiln.build.executor", reason="the build executor has not landed yet", exc_type=ImportError
    )
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello from kiln\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY hello.txt /hello.txt\nLABEL stage=one\n")
    out = tmp_path / "out"
    result = CliRunner().invoke(
        executor,
        ["--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--oci-layout-path", str(out / "layout"),
         "--tar-path", str(out / "image.tar"), "--digest-file", str(out / "digest"), "--label", "from=cli",
         "--log-format", "text"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    digest = (out / "digest").read_text()
    assert digest.startswith("sha256:") and not digest.endswith("\n")
    index = json.loads((out / "layout" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [digest]
    assert (out / "image.tar").stat().st_size > 0
    if shutil.which("skopeo"):
        inspected = subprocess.run(
            ["skopeo", "inspect", "--config", f"oci:{out / 'layout'}"],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        labels = json.loads(inspected.stdout)["config"]["Labels"]
        assert labels == {"stage": "one", "from": "cli"}


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="RUN in the chroot sandbox needs root")


def _mounts_below(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f if len(line.split()) > 4]
    return sorted((p for p in points if p.startswith(f"{path}/")), key=len, reverse=True)


@pytest.fixture
def leftover_mounts(tmp_path: Path) -> Iterator[list[str]]:
    """Mounts a build left below tmp_path, unmounted after the test so nothing piles up."""
    found: list[str] = []
    yield found
    for point in _mounts_below(tmp_path):
        subprocess.run(["umount", "-l", point], check=False)


def _executor(argv: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(executor, argv)
    return result.exit_code, result.output


@pytest.mark.privileged
@needs_root
def test_push_to_a_real_registry_with_digest_files(
    tmp_path: Path, busybox_image: PushedImage, registry_http: RegistryServer
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nRUN echo hi > /greeting\n")
    repo = registry_http.ref("cli/e2e")
    out = tmp_path / "out"
    out.mkdir()
    code, output = _executor(
        ["-c", str(ctx), "-d", f"{repo}:one", "--destination", f"{repo}:two",
         "--insecure-registry", registry_http.host, "--kaniko-dir", str(tmp_path / "k"),
         "--digest-file", str(out / "digest"), "--image-name-with-digest-file", str(out / "names"),
         "--image-name-tag-with-digest-file", str(out / "tags"), "--log-format", "text"],
    )  # fmt: skip
    assert code == 0, output
    digest = (out / "digest").read_text()
    for tag in ("one", "two"):
        pushed = skopeo_inspect(f"{repo}:{tag}")
        assert pushed["Digest"] == digest
    assert (out / "names").read_text() == f"{repo}@{digest}\n{repo}@{digest}\n"
    assert (out / "tags").read_text() == f"{repo}:one@{digest}\n{repo}:two@{digest}\n"


def _failing_run(tmp_path: Path, busybox_image: PushedImage) -> tuple[int, str]:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nRUN exit 42\n")
    host = busybox_image.ref.split("/")[0]
    code, output = _executor(
        ["--no-push", "-c", str(ctx), "--insecure-pull", "--insecure-registry", host,
         "--kaniko-dir", str(tmp_path / "k"), "--verbosity", "error"],
    )  # fmt: skip
    return code, output


@pytest.mark.privileged
@needs_root
def test_failing_run_exits_with_its_own_code(
    tmp_path: Path, busybox_image: PushedImage, leftover_mounts: list[str]
) -> None:
    code, output = _failing_run(tmp_path, busybox_image)
    assert code == 42, output  # kaniko's integration test expects the RUN's exit code too
    assert _mounts_below(tmp_path) == []  # the failed stage released its overlay
    lines = [line for line in output.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "exit" in lines[0] and "Traceback" not in output


def test_json_log_format_for_a_whole_build(tmp_path: Path) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    result = CliRunner().invoke(
        executor,
        ["--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--log-format", "json",
         "--log-timestamp", "--oci-layout-path", str(tmp_path / "layout")],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stderr.splitlines()]
    assert records and all(set(r) == {"level", "msg", "time"} for r in records)
    assert any(r["msg"].startswith("STEP ") for r in records)
