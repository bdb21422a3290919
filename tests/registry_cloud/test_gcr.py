"""Google Artifact Registry/GCR credentials: the real google-auth library, its token endpoint a local stub.

Google's OAuth2 and STS endpoints cannot run here, so a loopback stub answers for them; it verifies the
service account's signed JWT assertion with the public key, as Google does.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from kiln.errors import AuthError
from kiln.registry.cloud import GoogleProvider, is_google_host
from registry_cloud.cloud_stubs import Stub, serve

pytest.importorskip("google.auth")

ACCESS_TOKEN = "ya29.kiln-test-access-token"
STS_TOKEN = "ya29.kiln-sts-federated-token"
GOOGLE_AUDIENCE = (
    "https://oauth2.googleapis.com/token"  # google-auth signs for this audience whatever token_uri is
)


@pytest.fixture(scope="module")
def keypair() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def token_stub(keypair: rsa.RSAPrivateKey) -> Iterator[Stub]:
    public = keypair.public_key()

    def handler(method: str, path: str, fields: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if path == "/token" and fields.get("grant_type") == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            try:
                claims = jwt.decode(
                    fields["assertion"], public, algorithms=["RS256"], audience=GOOGLE_AUDIENCE
                )
            except jwt.PyJWTError:
                return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
            assert "cloud-platform" in claims["scope"]
            return 200, {"access_token": ACCESS_TOKEN, "expires_in": 3600, "token_type": "Bearer"}
        if path == "/v1/token" and fields.get("subject_token") == "federated-subject-token":
            return 200, {
                "access_token": STS_TOKEN,
                "issued_token_type": "urn:ietf:params:oauth:token-type:access_token",
                "token_type": "Bearer",
                "expires_in": 3600,
            }
        return 400, {"error": "invalid_grant"}

    with serve(handler) as stub:
        yield stub


def service_account_file(tmp_path: Path, key: rsa.RSAPrivateKey, token_uri: str) -> Path:
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    data = {
        "type": "service_account",
        "project_id": "kiln-test",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": "builder@kiln-test.iam.gserviceaccount.com",
        "client_id": "1",
        "token_uri": token_uri,
    }
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(data))
    return path


def test_hosts() -> None:
    assert is_google_host("gcr.io") and is_google_host("eu.gcr.io")
    assert is_google_host("europe-west1-docker.pkg.dev") and is_google_host("us-docker.pkg.dev")
    assert not is_google_host("docker.io") and not is_google_host("evilgcr.io.example.com")


def test_service_account_token(tmp_path: Path, keypair: rsa.RSAPrivateKey, token_stub: Stub) -> None:
    key_file = service_account_file(tmp_path, keypair, f"{token_stub.url}/token")
    provider = GoogleProvider({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    cred = provider.resolve("us-docker.pkg.dev")
    assert cred is not None
    assert cred.username == "oauth2accesstoken" and cred.password == ACCESS_TOKEN
    assert ACCESS_TOKEN not in repr(cred)
    before = len(token_stub.seen)
    assert provider.resolve("gcr.io") == cred, "a valid token is reused"
    assert len(token_stub.seen) == before
    assert provider.resolve("index.docker.io") is None


def test_rejected_service_account(tmp_path: Path, token_stub: Stub) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)  # not the key the stub knows
    key_file = service_account_file(tmp_path, other, f"{token_stub.url}/token")
    provider = GoogleProvider({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)})
    with pytest.raises(
        AuthError, match=r"Google rejected the credentials for gcr\.io: invalid_grant"
    ) as info:
        provider.resolve("gcr.io")
    assert "PRIVATE KEY" not in str(info.value)


def test_workload_identity_federation(tmp_path: Path, token_stub: Stub) -> None:
    subject = tmp_path / "subject-token"
    subject.write_text("federated-subject-token")
    config = {
        "type": "external_account",
        "audience": "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/k",
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": f"{token_stub.url}/v1/token",
        "credential_source": {"file": str(subject)},
    }
    path = tmp_path / "wif.json"
    path.write_text(json.dumps(config))
    cred = GoogleProvider({"GOOGLE_APPLICATION_CREDENTIALS": str(path)}).resolve("europe-docker.pkg.dev")
    assert cred is not None and cred.password == STS_TOKEN


def test_unreadable_credentials_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    with pytest.raises(AuthError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleProvider({"GOOGLE_APPLICATION_CREDENTIALS": str(path)}).resolve("gcr.io")


def test_access_token_never_logged(
    tmp_path: Path, keypair: rsa.RSAPrivateKey, token_stub: Stub, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    caplog.set_level(logging.DEBUG)
    key_file = service_account_file(tmp_path, keypair, f"{token_stub.url}/token")
    cred = GoogleProvider({"GOOGLE_APPLICATION_CREDENTIALS": str(key_file)}).resolve("gcr.io")
    assert cred is not None and cred.password == ACCESS_TOKEN
    assert ACCESS_TOKEN not in caplog.text
