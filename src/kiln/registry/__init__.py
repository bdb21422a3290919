"""Talking to OCI/Docker registries: credentials, transport, the distribution API, pull, push and copy.

One ``RegistryClient`` per build (it holds one HTTP session, token cache and the keychain). Pull with
``pull(client, ref, platform)`` (a lazy ``RemoteImage``), push with ``push_image(client, image, refs)``;
``copy_image`` moves images/indexes byte for byte. See docs/registries.md.
"""

from kiln.registry.client import FetchedManifest, RegistryClient
from kiln.registry.copy import copy_image
from kiln.registry.keychain import Credential, CredentialProvider, Keychain, default_keychain
from kiln.registry.options import RegistryOptions
from kiln.registry.pull import download_layers, pull, pull_index
from kiln.registry.push import push_image, push_index
from kiln.registry.remote import RemoteImage, RemoteIndex, RemoteLayer

__all__ = [
    "Credential",
    "CredentialProvider",
    "FetchedManifest",
    "Keychain",
    "RegistryClient",
    "RegistryOptions",
    "RemoteImage",
    "RemoteIndex",
    "RemoteLayer",
    "copy_image",
    "default_keychain",
    "download_layers",
    "pull",
    "pull_index",
    "push_image",
    "push_index",
]
