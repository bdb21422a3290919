"""Talking to OCI/Docker registries: credentials, transport, the distribution API, pull and push.

Public names: ``RegistryClient`` (one per build; holds one HTTP session), ``RegistryOptions``, ``Keychain``,
``Credential``, ``default_keychain(environ)``. See docs/registries.md.
"""

from kiln.registry.client import FetchedManifest, RegistryClient
from kiln.registry.keychain import Credential, CredentialProvider, Keychain, default_keychain
from kiln.registry.options import RegistryOptions

__all__ = [
    "Credential",
    "CredentialProvider",
    "FetchedManifest",
    "Keychain",
    "RegistryClient",
    "RegistryOptions",
    "default_keychain",
]
