"""Images on local disk: OCI layouts, docker-archive tarballs, the base-image cache, digest files.

Names are imported lazily: ``kiln index`` only reads and writes digest files, and should not load
tarfile, the layout code and the base-image cache to do so.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

# exported name -> (module, its name there)
_EXPORTS = {
    "BaseImageCache": ("kiln.storage.base_cache", "BaseImageCache"),
    "image_names_with_digest": ("kiln.storage.digest_files", "image_names_with_digest"),
    "write_digest_file": ("kiln.storage.digest_files", "write_digest_file"),
    "write_image_name_file": ("kiln.storage.digest_files", "write_image_name_file"),
    "write_image_name_files": ("kiln.storage.digest_files", "write_image_name_files"),
    "REF_NAME": ("kiln.storage.layout", "REF_NAME"),
    "Layout": ("kiln.storage.layout", "Layout"),
    "LayoutImage": ("kiln.storage.layout", "LayoutImage"),
    "LayoutIndex": ("kiln.storage.layout", "LayoutIndex"),
    "parse_layout_reference": ("kiln.storage.layout", "parse_layout_reference"),
    "write_oci_layout": ("kiln.storage.layout", "write_oci_layout"),
    "prune_layout": ("kiln.storage.layout_gc", "prune"),
    "repo_tag": ("kiln.storage.tarball", "repo_tag"),
    "write_docker_tarball": ("kiln.storage.tarball", "write_docker_tarball"),
    "TarballImage": ("kiln.storage.tarball_read", "TarballImage"),
}

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


def __getattr__(name: str) -> Any:
    target = _EXPORTS.get(name)
    if target is None:
        raise AttributeError(f"module 'kiln.storage' has no attribute {name!r}")
    module, attr = target
    return getattr(importlib.import_module(module), attr)
