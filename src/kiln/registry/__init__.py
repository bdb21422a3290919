"""Talking to OCI/Docker registries: credentials, transport, the distribution API, pull, push and copy.

One ``RegistryClient`` per build (it holds one HTTP session, token cache and the keychain). Pull with
``pull(client, ref, platform)`` (a lazy ``RemoteImage``), push with ``push_image(client, image, refs)``;
``copy_image`` moves images/indexes byte for byte. See docs/registries.md.

Names are imported lazily: the CLI imports ``kiln.registry.options`` to parse flags, and ``--help``
or a flag error should not pay for ``requests`` (loaded by ``kiln.registry.client``).
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.registry.client import FetchedManifest, RegistryClient
    from kiln.registry.copy import copy_image
    from kiln.registry.keychain import Credential, CredentialProvider, Keychain, default_keychain
    from kiln.registry.options import RegistryOptions
    from kiln.registry.pull import download_layers, pull, pull_index
    from kiln.registry.push import push_image, push_index
    from kiln.registry.remote import RemoteImage, RemoteIndex, RemoteLayer

_EXPORTS = {
    "Credential": "kiln.registry.keychain",
    "CredentialProvider": "kiln.registry.keychain",
    "FetchedManifest": "kiln.registry.client",
    "Keychain": "kiln.registry.keychain",
    "RegistryClient": "kiln.registry.client",
    "RegistryOptions": "kiln.registry.options",
    "RemoteImage": "kiln.registry.remote",
    "RemoteIndex": "kiln.registry.remote",
    "RemoteLayer": "kiln.registry.remote",
    "copy_image": "kiln.registry.copy",
    "default_keychain": "kiln.registry.keychain",
    "download_layers": "kiln.registry.pull",
    "pull": "kiln.registry.pull",
    "pull_index": "kiln.registry.pull",
    "push_image": "kiln.registry.push",
    "push_index": "kiln.registry.push",
}

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


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.registry' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


class _Package(types.ModuleType):
    """Keeps ``kiln.registry.pull`` the function once the submodule of the same name is imported.

    Importing a submodule binds it on its package; the function ``pull`` and its module
    ``kiln.registry.pull`` share a name, and the eagerly importing package this replaces re-bound the
    function over the module. Without this, ``from kiln.registry import pull`` after any import of
    ``kiln.registry.pull`` would hand out the module.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == value.__name__:
            value = getattr(value, name)
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
