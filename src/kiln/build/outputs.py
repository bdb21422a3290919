"""Where a built image goes: registries (blobs before manifests), a docker tarball, an OCI layout, digest files."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from kiln.build.options import BuildOptions
from kiln.errors import RegistryError
from kiln.fs.kept import KeptBlobs
from kiln.oci import FileLayer, Image, Layer
from kiln.reference import Reference
from kiln.registry import RegistryClient, push_image
from kiln.storage.digest_files import write_digest_file, write_image_name_file
from kiln.storage.layout import write_oci_layout
from kiln.storage.tarball import write_docker_tarball

log = logging.getLogger(__name__)

_IMMUTABLE_CODES = ("TAG_INVALID", "MANIFEST_INVALID", "DENIED")


class _KeptLayers(Image):
    """``image`` whose layers kept on local disk during the build are read from there (same bytes, digest)."""

    def __init__(self, image: Image, kept: KeptBlobs) -> None:
        self._image = image
        self._kept = kept

    def raw_manifest(self) -> bytes:
        return self._image.raw_manifest()

    def raw_config(self) -> bytes:
        return self._image.raw_config()

    def layers(self) -> tuple[Layer, ...]:
        out: list[Layer] = []
        for layer in self._image.layers():
            path = None if isinstance(layer, FileLayer) else self._kept.path(layer.digest)
            if path is not None:
                layer = FileLayer(path, layer.digest, layer.diff_id, layer.size, layer.media_type)
            out.append(layer)
        return tuple(out)


def local_outputs_requested(options: BuildOptions) -> bool:
    """Whether the build writes the image's blobs to local disk (so downloaded layers are worth keeping)."""
    return bool(options.tar_path or options.oci_layout_path)


def write_outputs(
    image: Image, options: BuildOptions, client: RegistryClient, kept: KeptBlobs | None = None
) -> tuple[str, ...]:
    """Push unless --no-push, then the local outputs; returns the references pushed to.

    With --push-by-digest or --publish-index the image goes to each destination repository by digest;
    --publish-index then puts the index at the destinations, and the digest files name the index.
    ``kept``: layers downloaded during the build, which the local outputs read instead of the registry.
    """
    refs = [Reference.parse(d) for d in options.destinations]
    pushed: list[str] = []
    digest = image.digest()
    if not options.no_push and refs:
        layers = image.layers()
        size = sum(layer.size for layer in layers)
        untagged = options.push_by_digest or options.publish_index
        if untagged:  # the index code (kiln.registry.index) loads only for these flags
            from kiln.build.publish import by_digest

            refs_to_push = by_digest(refs, image)
        else:
            refs_to_push = refs
        for ref in refs_to_push:
            log.info("pushing %s: %d layers, %.1f MB", ref, len(layers), size / 1e6)
            started = time.monotonic()
            try:
                push_image(client, image, [ref])
                pushed.append(str(ref))
                shown = str(ref) if ref.digest else f"{ref}@{image.digest()}"
                log.info("pushed %s in %.1fs", shown, time.monotonic() - started)
            except RegistryError as err:
                if options.push_ignore_immutable_tag_errors and err.code in _IMMUTABLE_CODES:
                    log.warning("%s: tag is immutable, not overwritten (%s)", ref, err.message)
                    continue
                raise
        if options.publish_index:
            from kiln.build.publish import publish_build_index

            published = publish_build_index(client, image, options, refs)
            digest = published.digest
            pushed = [str(ref) for ref in published.pushed]
    elif options.no_push:
        log.info("--no-push: not pushing %s", ", ".join(map(str, refs)) or "the image")
    local = image if kept is None else _KeptLayers(image, kept)
    if options.tar_path:
        write_docker_tarball(Path(options.tar_path), local, refs)
        log.info("wrote %s", options.tar_path)
    if options.oci_layout_path:
        write_oci_layout(Path(options.oci_layout_path), local, str(refs[0]) if refs else None)
        log.info("wrote OCI layout %s", options.oci_layout_path)
    if options.digest_file:
        write_digest_file(options.digest_file, digest)
    if options.image_name_with_digest_file:
        write_image_name_file(options.image_name_with_digest_file, refs, digest, with_tag=False)
    if options.image_name_tag_with_digest_file:
        write_image_name_file(options.image_name_tag_with_digest_file, refs, digest, with_tag=True)
    return tuple(pushed)
