"""Pull: resolve a reference to an image (choosing a platform from an index) or to an index as a whole."""

from __future__ import annotations

import contextlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from kiln.digest import CHUNK
from kiln.errors import KilnError
from kiln.oci import FileLayer, Image, Index, Layer, Platform, mediatypes
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.remote import RemoteImage, RemoteIndex

DEFAULT_WORKERS = 4


def pull(client: RegistryClient, ref: Reference, platform: Platform) -> Image:
    """The image for ``platform``: the manifest itself, or the index entry that matches it.

    Nothing but manifests (and, lazily, the config) is fetched; layers stream when opened.
    """
    fetched = client.get_manifest(ref)
    if mediatypes.is_index(fetched.media_type):
        try:
            desc = Index.from_bytes(fetched.raw).select(platform)
        except KilnError as err:
            raise KilnError(f"{ref}: {err.message}", hint=err.hint) from None
        child = Reference(fetched.source.registry, fetched.source.repository, None, desc.digest)
        fetched = client.fetch_manifest(fetched.source, child)
    return RemoteImage(client, fetched)


def pull_index(client: RegistryClient, ref: Reference) -> RemoteIndex | RemoteImage:
    """The reference as published: a RemoteIndex for an index, else the single RemoteImage."""
    fetched = client.get_manifest(ref)
    if mediatypes.is_index(fetched.media_type):
        return RemoteIndex(client, fetched)
    return RemoteImage(client, fetched)


def download_layers(image: Image, directory: Path, workers: int = DEFAULT_WORKERS) -> tuple[FileLayer, ...]:
    """Fetch every layer blob into ``directory/<algorithm>/<hex>`` in parallel; returns them as FileLayers.

    Each blob is verified while streaming and renamed into place only when complete, so the directory never
    holds a partial or wrong blob under a digest name; blobs already there (same size) are not fetched again.
    """
    layers = image.layers()

    def fetch(layer: Layer) -> FileLayer:
        target = directory / layer.digest.algorithm / layer.digest.hex
        if not (target.is_file() and target.stat().st_size == layer.size):
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
            try:
                with os.fdopen(fd, "wb") as out, layer.open_compressed() as stream:
                    while chunk := stream.read(CHUNK):
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(tmp, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
        return FileLayer(target, layer.digest, layer.diff_id, layer.size, layer.media_type)

    with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="kiln-pull") as pool:
        return tuple(pool.map(fetch, layers))
