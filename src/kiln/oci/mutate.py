"""Changing an image means wrapping it into a new one; nothing is mutated in place."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

from kiln.digest import Digest
from kiln.errors import KilnError
from kiln.oci import mediatypes
from kiln.oci.config import History, ImageConfig
from kiln.oci.descriptor import Descriptor
from kiln.oci.image import Image, ImageIndex, StaticImage, StaticIndex
from kiln.oci.layer import Layer, with_media_type
from kiln.oci.manifest import Index, Manifest


def _assemble(
    config: ImageConfig, layers: tuple[Layer, ...], docker: bool, annotations: dict[str, str] | None = None
) -> Image:
    if len(config.rootfs_diff_ids) != len(layers):
        raise KilnError(
            f"internal: the config lists {len(config.rootfs_diff_ids)} diff_ids for {len(layers)} layers",
            hint="the image would not run; please report this as a kiln bug",
        )
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


_HOST_DEPENDENT = frozenset({"container", "docker_version", "container_config"})


def canonical(image: Image, epoch: int = 0) -> Image:
    """The config without times or host traces, as kaniko's ``--reproducible`` (ggcr ``mutate.Canonical``).

    Every ``created`` becomes ``epoch``; history authors, the builder's hostname, container id and
    Docker version go. Layer contents are the builder's job: it writes them with fixed mtimes.
    """
    stamp = epoch_timestamp(epoch)
    config = image.config()
    run = config.config
    run = replace(run, extra={k: v for k, v in run.extra.items() if k != "Hostname"})
    config = replace(
        config,
        created=stamp,
        config=run,
        history=tuple(replace(h, created=stamp, author="") for h in config.history),
        extra={k: v for k, v in config.extra.items() if k not in _HOST_DEPENDENT},
    )
    return with_config(image, config)


def new_index(images: tuple[Image | ImageIndex, ...], docker: bool = False) -> ImageIndex:
    """An index of ``images``; each image entry carries the platform its config declares."""
    descs = []
    children: dict[Digest, Image | ImageIndex] = {}
    for child in images:
        if isinstance(child, Image):
            desc = replace(child.descriptor(), platform=child.platform())
        else:
            raw = child.raw_index()
            desc = Descriptor(child.media_type(), Digest.of_bytes(raw), len(raw))
        descs.append(desc)
        children[desc.digest] = child
    return StaticIndex(Index(mediatypes.index_type(docker), tuple(descs)), children)
