"""The warmer command fills --cache-dir from a real registry; a build with --cache then reads it."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.cli.warmer import warmer
from kiln.digest import Digest
from kiln.storage.base_cache import BaseImageCache


def test_warmer_caches_images_and_dockerfile_bases(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("ARG BASE=nothing\nFROM $BASE AS one\nFROM one\nFROM scratch\n")
    cache_dir = tmp_path / "cache"
    argv = ["--cache-dir", str(cache_dir), "--insecure-registry", registry_http.host, "--dockerfile", str(dockerfile),
            "--build-arg", f"BASE={busybox_image.ref}"]  # fmt: skip
    result = CliRunner().invoke(warmer, argv)
    assert result.exit_code == 0, result.output
    entries = sorted(p.name for p in cache_dir.iterdir())
    assert len(entries) == 2 and entries[1] == entries[0] + ".json"  # one image: tarball + manifest
    digest = Digest.parse(entries[0])
    cached = BaseImageCache(cache_dir).get(digest)
    assert cached is not None and cached.digest() == digest
    mtime = (cache_dir / entries[0]).stat().st_mtime_ns

    again = CliRunner().invoke(warmer, ["-c", str(cache_dir), "--insecure-registry", registry_http.host,
                                        "-i", busybox_image.ref])  # fmt: skip
    assert again.exit_code == 0, again.output
    assert (cache_dir / entries[0]).stat().st_mtime_ns == mtime  # kept: already cached, no --force
    forced = CliRunner().invoke(warmer, ["-c", str(cache_dir), "--insecure-registry", registry_http.host,
                                         "-i", busybox_image.ref, "--force"])  # fmt: skip
    assert forced.exit_code == 0, forced.output
    assert (cache_dir / entries[0]).stat().st_mtime_ns != mtime


def test_warmer_unreachable_registry_is_one_error_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(warmer, ["-c", str(tmp_path / "c"), "-i", "127.0.0.1:9/none/x:1",
                                         "--insecure-registry", "127.0.0.1:9"])  # fmt: skip
    assert result.exit_code != 0
    assert "Traceback" not in result.output


pytestmark = pytest.mark.timeout(120)
