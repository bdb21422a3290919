"""The executor command line drives a real build (once kiln.build.executor exists): outputs checked
with independent tools (skopeo, oci-image-tool)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

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
