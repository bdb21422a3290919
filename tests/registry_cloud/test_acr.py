"""Azure Container Registry credentials: real azure-identity/MSAL and requests against local HTTPS stubs.

Azure AD and an ACR registry cannot run here, so one TLS stub on loopback answers as both: the tenant's
OpenID discovery and v2.0 token endpoint (client-credentials grant), and the registry's /oauth2/exchange.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kiln.errors import AuthError
from kiln.registry.cloud import AzureProvider, is_acr_host
from kiln.registry.cloud.acr import ACR_USER, default_credential
from registry_cloud.cloud_stubs import Stub, self_signed, serve

pytest.importorskip("azure.identity")

TENANT = "72f988bf-0000-0000-0000-000000000000"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "kiln-client-secret-value"
AAD_TOKEN = "eyJ0eXAiOiJKV1QiLCJhbGciOiJub25lIn0.eyJzdWIiOiJraWxuIn0."
REFRESH = "acr-refresh-token-for-kiln"


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="module")
def azure_stub(tls: tuple[Path, Path]) -> Iterator[Stub]:
    def handler(method: str, path: str, fields: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        base = stub.url
        if path.startswith(f"/{TENANT}/v2.0/.well-known/openid-configuration"):
            return 200, {
                "token_endpoint": f"{base}/{TENANT}/oauth2/v2.0/token",
                "authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/authorize",
                "issuer": f"{base}/{TENANT}/v2.0",
                "device_authorization_endpoint": f"{base}/{TENANT}/oauth2/v2.0/devicecode",
            }
        if path.startswith(f"/{TENANT}/oauth2/v2.0/token"):
            if fields.get("client_id") != CLIENT_ID or fields.get("client_secret") != SECRET:
                return 401, {
                    "error": "invalid_client",
                    "error_description": "AADSTS7000215: Invalid client secret provided.",
                }
            return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": AAD_TOKEN}
        if path == "/oauth2/exchange":
            if fields.get("access_token") != AAD_TOKEN or fields.get("service") != stub.host:
                return 401, {"errors": [{"code": "UNAUTHORIZED"}]}
            if fields.get("grant_type") != "access_token" or fields.get("tenant") != TENANT:
                return 400, {"errors": [{"code": "BAD_REQUEST"}]}
            return 200, {"refresh_token": REFRESH}
        return 404, {"error": "not_found"}

    with serve(handler, tls=tls) as stub:
        yield stub


def provider(stub: Stub, tls: tuple[Path, Path], secret: str = SECRET) -> AzureProvider:
    from azure.core.pipeline.transport import RequestsTransport

    environ = {
        "AZURE_CLIENT_ID": CLIENT_ID,
        "AZURE_CLIENT_SECRET": secret,
        "AZURE_TENANT_ID": TENANT,
        "AZURE_AUTHORITY_HOST": stub.url,
    }
    credential = default_credential(
        environ,
        transport=RequestsTransport(connection_verify=str(tls[0])),
        disable_instance_discovery=True,
    )
    return AzureProvider(environ, credential=credential, matches=lambda h: h == stub.host, verify=str(tls[0]))


def test_acr_hosts() -> None:
    assert is_acr_host("myregistry.azurecr.io") and is_acr_host("myregistry.azurecr.cn")
    assert is_acr_host("myregistry-eastus.azurecr.io")
    assert not is_acr_host("azurecr.io.example.com") and not is_acr_host("docker.io")


def test_service_principal_to_refresh_token(azure_stub: Stub, tls: tuple[Path, Path]) -> None:
    acr = provider(azure_stub, tls)
    cred = acr.resolve(azure_stub.host)
    assert cred is not None
    assert cred.username == ACR_USER and cred.identity_token == REFRESH
    assert REFRESH not in repr(cred) and SECRET not in repr(acr)
    exchanges = [seen for seen in azure_stub.seen if seen[1] == "/oauth2/exchange"]
    assert acr.resolve(azure_stub.host) == cred
    assert len([s for s in azure_stub.seen if s[1] == "/oauth2/exchange"]) == len(exchanges), "cached"
    assert acr.resolve("docker.io") is None


def test_wrong_client_secret(azure_stub: Stub, tls: tuple[Path, Path]) -> None:
    acr = provider(azure_stub, tls, secret="not-the-secret")
    with pytest.raises(AuthError, match=r"Azure AD rejected the credentials for .*: AADSTS7000215") as info:
        acr.resolve(azure_stub.host)
    assert "not-the-secret" not in str(info.value)
    assert "\n" not in str(info.value)


def test_registry_refuses_exchange(azure_stub: Stub, tls: tuple[Path, Path]) -> None:
    class WrongToken:  # stand-in credential: an AAD token the registry does not accept
        def get_token(self, *scopes: str) -> Any:
            from azure.core.credentials import AccessToken

            return AccessToken("some-other-aad-token", 2**31)

    acr = AzureProvider(
        {"AZURE_TENANT_ID": TENANT}, credential=WrongToken(), matches=lambda h: True, verify=str(tls[0])
    )
    with pytest.raises(AuthError, match=r"refused to exchange the Azure AD token \(HTTP 401\)"):
        acr.resolve(azure_stub.host)


def test_no_identity_means_anonymous(tls: tuple[Path, Path]) -> None:
    from azure.identity import CredentialUnavailableError

    class Unavailable:  # stand-in for a managed identity on a machine without the IMDS endpoint
        def get_token(self, *scopes: str) -> Any:
            raise CredentialUnavailableError("no managed identity endpoint")

    acr = AzureProvider({}, credential=Unavailable(), matches=lambda h: True)
    assert acr.resolve("myregistry.azurecr.io") is None


def test_tokens_never_logged(
    azure_stub: Stub, tls: tuple[Path, Path], caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    cred = provider(azure_stub, tls).resolve(azure_stub.host)
    assert cred is not None and cred.identity_token == REFRESH
    for secret in (REFRESH, AAD_TOKEN, SECRET):
        assert secret not in caplog.text
