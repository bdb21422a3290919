"""Changing an image means wrapping it into a new one; nothing is mutated in place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from kiln.digest import Digest
from kiln.oci import mediatypes
from kiln.oci.config import History, ImageConfig
from kiln.oci.descriptor import Descriptor
from kiln.oci.image import Image, StaticImage
from kiln.oci.layer import Layer, with_media_type
from kiln.oci.manifest import Manifest


def _assemble(
    config: ImageConfig, layers: tuple[Layer, ...], docker: bool, annotations: dict[str, str] | None = None
) -> Image:
    raw_config = config.to_bytes()
    manifest = Manifest(
        media_type=mediatypes.manifest_type(docker),
        config=Descriptor(mediatypes.config_type(docker), Digest.of_bytes(raw_config), len(raw_config)),
        layers=tuple(layer.descriptor() for layer in layers),
        annotations=annotations or None,
    )
    return StaticImage(manifest, config, layers)


def new_image(config: ImageConfig, layers: tuple[Layer, ...] = (), docker: bool = False) -> Image:
    """An image from scratch; rootfs diff_ids are taken from the layers."""
    config = replace(config, rootfs_diff_ids=tuple(layer.diff_id for layer in layers))
    return _assemble(config, tuple(_retype(layer, docker) for layer in layers), docker)


def _retype(layer: Layer, docker: bool) -> Layer:
    compression = mediatypes.layer_compression(layer.media_type)
    if compression is None or layer.media_type == mediatypes.DOCKER_FOREIGN_LAYER:
        return layer
    return with_media_type(layer, mediatypes.layer_media_type(compression, docker))


def append_layer(image: Image, layer: Layer, history: History | None = None) -> Image:
    """``image`` plus one layer on top (and its history entry)."""
    config = image.config()
    docker = image.is_docker()
    new_config = replace(
        config,
        rootfs_diff_ids=(*config.rootfs_diff_ids, layer.diff_id),
        history=(*config.history, history) if history is not None else config.history,
    )
    return _assemble(new_config, (*image.layers(), _retype(layer, docker)), docker, _annotations(image))


def with_config(image: Image, config: ImageConfig) -> Image:
    """``image`` with another config; the rootfs diff_ids must still describe its layers."""
    return _assemble(config, image.layers(), image.is_docker(), _annotations(image))


def with_media_types(image: Image, docker: bool) -> Image:
    """The same image typed as Docker v2.2 or OCI (layers keep their bytes)."""
    layers = tuple(_retype(layer, docker) for layer in image.layers())
    return _assemble(image.config(), layers, docker, _annotations(image))


def with_annotations(image: Image, annotations: dict[str, str]) -> Image:
    merged = {**_annotations(image), **annotations}
    return _assemble(image.config(), image.layers(), image.is_docker(), merged)


def _annotations(image: Image) -> dict[str, str]:
    return dict(image.manifest().annotations or {})


def epoch_timestamp(epoch: int) -> str:
    """RFC 3339 UTC as Docker writes it."""
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def canonical(image: Image, epoch: int = 0) -> Image:
    """Every time in the config set to ``epoch`` (``--reproducible``); layers are expected to be too."""
    stamp = epoch_timestamp(epoch)
    config = image.config()
    config = replace(
        config,
        created=stamp,
        history=tuple(replace(h, created=stamp) for h in config.history),
    )
    return with_config(image, config)
