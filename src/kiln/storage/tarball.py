"""``docker load``-compatible tarballs (kaniko's ``--tar-path``), written atomically and streamed.

Layout as ``docker save`` and go-containerregistry write it: ``manifest.json`` naming the config file
and the layer files, a ``repositories`` map, the config as ``sha256:<hex>``, layers as ``<hex>.tar.gz``.
Every layer is hashed while it is copied in, so a corrupted source blob fails the write (and leaves no
file behind) instead of producing a tarball that ``docker load`` rejects later.
"""

from __future__ import annotations

import io
import json
import tarfile
from collections.abc import Sequence
from pathlib import Path

from kiln.digest import VerifyingReader
from kiln.errors import KilnError
from kiln.oci import Image, Layer
from kiln.reference import Reference
from kiln.storage.atomic import atomic_file


def _info(name: str, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o644
    info.mtime = 0
    info.uname = info.gname = ""
    return info


def repo_tag(name: str | Reference) -> str:
    """The ``RepoTags`` entry for a destination: ``repo:tag`` as ``docker images`` shows it."""
    if isinstance(name, Reference):
        tagged = name.with_tag(name.tag or "latest")
        return tagged.familiar
    _, sep, tail = name.rpartition(":")
    if sep and "/" not in tail and "@" not in name:
        return name
    if "@" in name:
        raise KilnError(f"cannot name an image {name!r} in a tarball", hint="give a tag, not a digest")
    return f"{name}:latest"


def _split_tag(tag: str) -> tuple[str, str]:
    head, _, tail = tag.rpartition(":")
    return head, tail


def _add_layer(tar: tarfile.TarFile, name: str, layer: Layer) -> None:
    with layer.open_compressed() as blob:
        reader = VerifyingReader(blob, layer.digest, layer.size)
        try:
            tar.addfile(_info(name, layer.size), reader)  # type: ignore[arg-type]
        except OSError as err:  # tarfile's "unexpected end of data": the blob is shorter than its size
            raise KilnError(f"layer {layer.digest} is shorter than its {layer.size} bytes: {err}") from None
        reader.read(1)  # reach EOF so the digest is checked


def write_docker_tarball(path: Path, image: Image, tags: Sequence[str | Reference]) -> None:
    """Write ``image`` under every name in ``tags`` to ``path`` (one image, several tags, as kaniko)."""
    names = list(dict.fromkeys(repo_tag(t) for t in tags))  # docker.io/x and x name the same tag
    config_name = f"sha256:{image.config_descriptor().digest.hex}"
    layers = image.layers()
    layer_names = [f"{layer.digest.hex}.tar.gz" for layer in layers]
    manifest = [{"Config": config_name, "RepoTags": names, "Layers": layer_names}]
    repositories: dict[str, dict[str, str]] = {}
    diff_ids = image.config().rootfs_diff_ids
    top_layer = diff_ids[-1].hex if diff_ids else ""
    for tag in names:
        repo, name = _split_tag(tag)
        repositories.setdefault(repo, {})[name] = top_layer
    with (
        atomic_file(Path(path)) as out,
        tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar,
    ):
        raw_config = image.raw_config()
        tar.addfile(_info(config_name, len(raw_config)), io.BytesIO(raw_config))
        seen: set[str] = set()
        for layer, name in zip(layers, layer_names, strict=True):
            if name in seen:
                continue
            seen.add(name)
            _add_layer(tar, name, layer)
        for name, data in (
            ("manifest.json", json.dumps(manifest).encode()),
            ("repositories", json.dumps(repositories).encode()),
        ):
            tar.addfile(_info(name, len(data)), io.BytesIO(data))


__all__ = ["repo_tag", "write_docker_tarball"]
