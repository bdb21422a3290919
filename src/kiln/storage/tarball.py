"""``docker load``-compatible tarballs (kaniko's ``--tar-path``), written atomically and streamed.

Layout as ``docker save`` and go-containerregistry write it: ``manifest.json`` naming the config file
and the layer files, a ``repositories`` map, the config as ``sha256:<hex>``, layers as ``<hex>.tar.gz``.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from kiln.oci import Image
from kiln.storage.atomic import atomic_file


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def _split_tag(tag: str) -> tuple[str, str]:
    head, sep, tail = tag.rpartition(":")
    if sep and "/" not in tail:
        return head, tail
    return tag, "latest"


def write_docker_tarball(path: Path, image: Image, tags: Sequence[str]) -> None:
    """Write ``image`` under every name in ``tags`` (``repo:tag`` strings) to ``path``."""
    config_name = f"sha256:{image.config_descriptor().digest.hex}"
    layer_names = [f"{layer.digest.hex}.tar.gz" for layer in image.layers()]
    manifest = [{"Config": config_name, "RepoTags": list(tags), "Layers": layer_names}]
    repositories: dict[str, dict[str, str]] = {}
    top_layer = image.config().rootfs_diff_ids[-1].hex if image.config().rootfs_diff_ids else ""
    for tag in tags:
        repo, name = _split_tag(tag)
        repositories.setdefault(repo, {})[name] = top_layer
    with (
        atomic_file(Path(path)) as out,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        raw_config = image.raw_config()
        tar.addfile(_info(config_name, len(raw_config)), io.BytesIO(raw_config))
        seen: set[str] = set()
        for layer, name in zip(image.layers(), layer_names, strict=True):
            if name in seen:
                continue
            seen.add(name)
            with layer.open_compressed() as blob:
                tar.addfile(_info(name, layer.size), blob)
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("repositories", json.dumps(repositories).encode()),
        ):
            tar.addfile(_info(name, len(data)), io.BytesIO(data))
