"""The cache flags through the executor command line (real build, real registry, oci: cache)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.cli.executor import executor

pytestmark = pytest.mark.privileged


def _layers(layout: Path) -> list[str]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((layout / "blobs" / "sha256" / digest).read_text())
    return [layer["digest"] for layer in manifest["layers"]]


def test_executor_cache_flags_end_to_end(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text(
        f"FROM {busybox_image.ref}\nRUN head -c 16 /dev/urandom | od -An -tx1 > /r\n"
    )
    cache = tmp_path / "cache"
    layers = []
    for run, extra in enumerate([[], ["--no-push-cache", "--cache-ttl", "1h"], ["--cache-run-layers=false"]]):
        out = tmp_path / f"out-{run}"
        result = CliRunner().invoke(
            executor,
            ["--no-push", "-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--oci-layout-path", str(out),
             "--insecure-registry", registry_http.host, "--cache", "--cache-repo", f"oci:{cache}",
             "--reproducible", "--log-format", "text", *extra],
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        layers.append(_layers(out))
    assert layers[1] == layers[0]  # the RUN's random bytes came from the cache
    assert layers[2][-1] != layers[0][-1]  # --cache-run-layers=false: the RUN ran again
    assert (cache / "index.json").exists()
