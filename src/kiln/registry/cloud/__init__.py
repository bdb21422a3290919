"""Registry credentials from the clouds' own identities: Amazon ECR, Google Artifact Registry/GCR, Azure ACR.

Each provider answers only for its own registry hosts and imports its cloud SDK only when asked about one,
so a plain install pays nothing. They go after docker ``config.json`` in the keychain (explicit credentials
win), and fall back to the cloud's ``docker-credential-*`` helper when it is on PATH and the SDK is not installed.
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.registry.cloud.acr import AzureProvider, is_acr_host
from kiln.registry.cloud.ecr import ECRProvider, parse_ecr_host
from kiln.registry.cloud.gcr import GoogleProvider, is_google_host
from kiln.registry.cloud.helpers import HelperOnPathProvider
from kiln.registry.keychain import CredentialProvider

__all__ = [
    "AzureProvider",
    "ECRProvider",
    "GoogleProvider",
    "HelperOnPathProvider",
    "cloud_providers",
    "is_acr_host",
    "is_google_host",
    "parse_ecr_host",
]


def cloud_providers(environ: Mapping[str, str]) -> list[CredentialProvider]:
    """The cloud providers in kaniko's order (ECR, Google, Azure), each then its helper on PATH."""
    return [
        ECRProvider(environ),
        HelperOnPathProvider("ecr-login", lambda host: parse_ecr_host(host) is not None, environ),
        GoogleProvider(environ),
        HelperOnPathProvider("gcr", is_google_host, environ),
        AzureProvider(environ),
        HelperOnPathProvider("acr-env", is_acr_host, environ),
    ]
