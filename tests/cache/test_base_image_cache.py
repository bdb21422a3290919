"""Builds with --cache take base images from --cache-dir (kaniko's warmer format), real registry + files."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from cache.test_cache_e2e import _capturing, _layers
from e2e.helpers import options_for
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.build.executor import build
from kiln.digest import Digest
from kiln.oci import Platform
from kiln.reference import Reference
from kiln.registry import RegistryClient, pull
from kiln.registry.options import RegistryOptions
from kiln.storage.base_cache import BaseImageCache

pytestmark = pytest.mark.privileged


def _warm(cache_dir: Path, registry: RegistryServer, ref: str) -> Digest:
    client = RegistryClient(RegistryOptions(insecure_registries=(registry.host,)))
    try:
        image = pull(client, Reference.parse(ref), Platform.host())
        assert BaseImageCache(cache_dir).put(image, ref)
        return image.digest()
    finally:
        client.close()


def _build(tmp_path: Path, registry: RegistryServer, base: str, cache_dir: Path, name: str) -> list[str]:
    context = tmp_path / "ctx"
    context.mkdir(exist_ok=True)
    (context / "Dockerfile").write_text(f"FROM {base}\nRUN echo hi > /hi\n")
    options = options_for(
        context, tmp_path / "work", registry.host, None, oci_layout_path=str(tmp_path / name),
        cache=True, cache_repo=f"oci:{tmp_path / 'layers'}", environ={},
    )  # fmt: skip
    build(replace(options, cache_dir=str(cache_dir)))
    return _layers(tmp_path / name)


def test_build_uses_the_warmed_base_image(
    tmp_path: Path,
    registry_http: RegistryServer,
    busybox_image: PushedImage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_dir = tmp_path / "base-cache"
    digest = _warm(cache_dir, registry_http, busybox_image.ref)
    with _capturing(caplog):
        layers = _build(tmp_path, registry_http, busybox_image.ref, cache_dir, "out")
    messages = [r.getMessage() for r in caplog.records]
    assert any(f"using cached base image {digest.short}" in m for m in messages)
    cached = BaseImageCache(cache_dir).get(digest)
    assert cached is not None
    assert layers[0] == str(cached.layers()[0].digest)  # the base layer as stored in the cache dir


def test_a_broken_base_cache_entry_is_a_warning(
    tmp_path: Path,
    registry_http: RegistryServer,
    busybox_image: PushedImage,
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache_dir = tmp_path / "base-cache"
    digest = _warm(cache_dir, registry_http, busybox_image.ref)
    BaseImageCache(cache_dir).manifest_path(digest).write_text("{}")  # no longer the manifest it names
    with _capturing(caplog):
        layers = _build(tmp_path, registry_http, busybox_image.ref, cache_dir, "out")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("base-image cache" in w and "pulling instead" in w for w in warnings)
    assert len(layers) == 2
