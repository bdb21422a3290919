"""Pull: resolve a reference to an image (choosing a platform from an index) or to an index as a whole."""

from __future__ import annotations

from kiln.oci import Image, Index, Platform, mediatypes
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.remote import RemoteImage, RemoteIndex


def pull(client: RegistryClient, ref: Reference, platform: Platform) -> Image:
    """The image for ``platform``: the manifest itself, or the index entry that matches it.

    Nothing but manifests (and, lazily, the config) is fetched; layers stream when opened.
    """
    fetched = client.get_manifest(ref)
    if mediatypes.is_index(fetched.media_type):
        desc = Index.from_bytes(fetched.raw).select(platform)
        child = Reference(fetched.source.registry, fetched.source.repository, None, desc.digest)
        fetched = client.fetch_manifest(fetched.source, child)
    return RemoteImage(client, fetched)


def pull_index(client: RegistryClient, ref: Reference) -> RemoteIndex | RemoteImage:
    """The reference as published: a RemoteIndex for an index, else the single RemoteImage."""
    fetched = client.get_manifest(ref)
    if mediatypes.is_index(fetched.media_type):
        return RemoteIndex(client, fetched)
    return RemoteImage(client, fetched)
