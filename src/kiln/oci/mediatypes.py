"""Media types of the OCI image spec and Docker's image manifest v2 schema 2."""

from __future__ import annotations

from kiln.compression import Compression
from kiln.errors import KilnError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
OCI_EMPTY_JSON = "application/vnd.oci.empty.v1+json"
IN_TOTO = "application/vnd.in-toto+json"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

INDEXES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_MANIFESTS = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFESTS = INDEXES | IMAGE_MANIFESTS

_COMPRESSION: dict[str, Compression] = {
    OCI_LAYER: "none",
    OCI_LAYER_GZIP: "gzip",
    OCI_LAYER_ZSTD: "zstd",
    OCI_LAYER_NONDIST: "none",
    OCI_LAYER_NONDIST_GZIP: "gzip",
    OCI_LAYER_NONDIST_ZSTD: "zstd",
    DOCKER_LAYER_GZIP: "gzip",
    DOCKER_LAYER: "none",
    DOCKER_FOREIGN_LAYER: "gzip",
}


def is_index(media_type: str) -> bool:
    return media_type in INDEXES


def is_image_manifest(media_type: str) -> bool:
    return media_type in IMAGE_MANIFESTS


def is_docker(media_type: str) -> bool:
    return media_type.startswith("application/vnd.docker.")


def is_layer(media_type: str) -> bool:
    return media_type in _COMPRESSION


def layer_compression(media_type: str) -> Compression | None:
    """How a layer of this media type is compressed; None when the type is not a known layer type."""
    return _COMPRESSION.get(media_type)


def layer_media_type(compression: Compression | None, docker: bool) -> str:
    """The layer media type for ``compression`` (None: uncompressed) in an OCI or a Docker-typed image."""
    compression = compression or "none"
    if docker:
        if compression == "gzip":
            return DOCKER_LAYER_GZIP
        if compression == "none":
            return DOCKER_LAYER
        raise KilnError(
            "zstd layers need OCI media types", hint="use --compression=gzip for Docker-typed images"
        )
    return {"gzip": OCI_LAYER_GZIP, "zstd": OCI_LAYER_ZSTD, "none": OCI_LAYER}[compression]


def manifest_type(docker: bool) -> str:
    return DOCKER_MANIFEST if docker else OCI_MANIFEST


def index_type(docker: bool) -> str:
    return DOCKER_MANIFEST_LIST if docker else OCI_INDEX


def config_type(docker: bool) -> str:
    return DOCKER_CONFIG if docker else OCI_CONFIG
