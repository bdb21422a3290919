"""Azure Container Registry: an Azure AD token exchanged at the registry for an ACR refresh token.

The AAD token comes from azure-identity: a service principal (``AZURE_CLIENT_ID``/``AZURE_CLIENT_SECRET``/
``AZURE_TENANT_ID``), workload identity (``AZURE_FEDERATED_TOKEN_FILE``) or a managed identity. It is posted to
``https://REGISTRY/oauth2/exchange``; the refresh token that comes back is the identity token the registry's own
token endpoint accepts with the all-zero user name (what ``az acr login`` stores).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import requests

from kiln.errors import AuthError
from kiln.registry.cloud.quiet import quiet_loggers
from kiln.registry.keychain import Credential

log = logging.getLogger(__name__)

ACR_USER = "00000000-0000-0000-0000-000000000000"
SCOPE = "https://management.azure.com/.default"
_ACR_HOST = re.compile(r"^[a-z0-9-]+(?:\.[a-z0-9-]+)?\.azurecr\.(?:io|cn|us|de)$")
_REUSE = 30 * 60.0  # ACR refresh tokens last about 3 hours; ask again well before


def is_acr_host(host: str) -> bool:
    return bool(_ACR_HOST.match(host.lower().split(":", 1)[0]))


def default_credential(environ: Mapping[str, str], **kwargs: Any) -> Any:
    """The azure-identity credential the environment describes, or None when it describes none."""
    from azure.identity import ClientSecretCredential, ManagedIdentityCredential, WorkloadIdentityCredential

    client_id, tenant = environ.get("AZURE_CLIENT_ID"), environ.get("AZURE_TENANT_ID")
    secret, token_file = environ.get("AZURE_CLIENT_SECRET"), environ.get("AZURE_FEDERATED_TOKEN_FILE")
    authority = environ.get("AZURE_AUTHORITY_HOST")
    if authority:
        kwargs.setdefault("authority", authority)
    if client_id and tenant and secret:
        return ClientSecretCredential(tenant, client_id, secret, **kwargs)
    if client_id and tenant and token_file:
        return WorkloadIdentityCredential(
            tenant_id=tenant, client_id=client_id, token_file_path=token_file, **kwargs
        )
    return ManagedIdentityCredential(client_id=client_id or None)


class AzureProvider:
    """ACR refresh tokens from the caller's Azure identity."""

    def __init__(
        self,
        environ: Mapping[str, str],
        credential: Any = None,
        matches: Callable[[str], bool] = is_acr_host,
        verify: bool | str = True,
        timeout: float = 30.0,
    ) -> None:
        self._environ = environ
        self._credential = credential
        self._matches = matches
        self._verify = verify
        self._timeout = timeout
        self._cache: dict[str, tuple[Credential, float]] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "AzureProvider()"

    def resolve(self, registry: str) -> Credential | None:
        if not self._matches(registry):
            return None
        try:
            from azure.core.exceptions import ClientAuthenticationError
            from azure.identity import CredentialUnavailableError
        except ImportError:
            log.warning("%s is an Azure registry; install kiln[azure] (azure-identity) to log in", registry)
            return None
        with self._lock:
            cached = self._cache.get(registry)
            if cached and cached[1] > time.monotonic():
                return cached[0]
            if self._credential is None:
                self._credential = default_credential(self._environ)
            try:
                with quiet_loggers("azure", "msal", "urllib3"):
                    aad = self._credential.get_token(SCOPE)
            except CredentialUnavailableError:
                log.debug("no Azure identity for %s; trying anonymously", registry)
                return None
            except ClientAuthenticationError as err:
                raise AuthError(
                    f"Azure AD rejected the credentials for {registry}: {_aad_code(err)}",
                    code="DENIED",
                    hint="check AZURE_CLIENT_ID, AZURE_CLIENT_SECRET and AZURE_TENANT_ID",
                ) from None
            with quiet_loggers("urllib3"):
                refresh = self._exchange(registry, aad.token)
            credential = Credential(username=ACR_USER, identity_token=refresh)
            self._cache[registry] = (credential, time.monotonic() + _REUSE)
            return credential

    def _exchange(self, registry: str, aad_token: str) -> str:
        form = {"grant_type": "access_token", "service": registry, "access_token": aad_token}
        if self._environ.get("AZURE_TENANT_ID"):
            form["tenant"] = self._environ["AZURE_TENANT_ID"]
        try:
            response = requests.post(
                f"https://{registry}/oauth2/exchange", data=form, timeout=self._timeout, verify=self._verify
            )
        except requests.RequestException as err:
            raise AuthError(
                f"cannot reach {registry}/oauth2/exchange: {type(err).__name__}",
                code="CONNECTION",
                temporary=True,
            ) from None
        if response.status_code != 200:
            raise AuthError(
                f"{registry} refused to exchange the Azure AD token (HTTP {response.status_code})",
                code="DENIED",
                status=response.status_code,
                hint="grant the identity the AcrPull (or AcrPush) role on the registry",
            )
        try:
            token = response.json()["refresh_token"]
        except (ValueError, KeyError, TypeError):
            raise AuthError(f"{registry}/oauth2/exchange answered without a refresh_token") from None
        return str(token)


def _aad_code(err: Exception) -> str:
    match = re.search(r"\b(AADSTS\d+|invalid_client|invalid_grant|unauthorized_client)\b", str(err))
    return match.group(1) if match else type(err).__name__
