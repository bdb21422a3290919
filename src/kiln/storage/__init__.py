"""Images on local disk: OCI layouts, docker-archive tarballs, the base-image cache, digest files."""

from kiln.storage.base_cache import BaseImageCache
from kiln.storage.digest_files import (
    image_names_with_digest,
    write_digest_file,
    write_image_name_file,
    write_image_name_files,
)
from kiln.storage.layout import (
    REF_NAME,
    Layout,
    LayoutImage,
    LayoutIndex,
    parse_layout_reference,
    write_oci_layout,
)
from kiln.storage.layout_gc import prune as prune_layout
from kiln.storage.tarball import repo_tag, write_docker_tarball
from kiln.storage.tarball_read import TarballImage

__all__ = [
    "REF_NAME",
    "BaseImageCache",
    "Layout",
    "LayoutImage",
    "LayoutIndex",
    "TarballImage",
    "image_names_with_digest",
    "parse_layout_reference",
    "prune_layout",
    "repo_tag",
    "write_digest_file",
    "write_docker_tarball",
    "write_image_name_file",
    "write_image_name_files",
    "write_oci_layout",
]
