"""Amazon ECR credentials against moto's server (real boto3, real HTTP on loopback), and helpers on PATH."""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from kiln.errors import AuthError
from kiln.registry.cloud import ECRProvider, HelperOnPathProvider, cloud_providers, parse_ecr_host
from kiln.registry.keychain import DockerConfigProvider, Keychain

moto_server = pytest.importorskip("moto.server")
requests = pytest.importorskip("requests")

REGISTRY = "123456789012.dkr.ecr.eu-west-1.amazonaws.com"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    port = _free_port()
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


def aws_env(endpoint: str, **extra: str) -> dict[str, str]:
    env = {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_ACCESS_KEY_ID": "AKIAKILNTEST",
        "AWS_SECRET_ACCESS_KEY": "kiln-secret",
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
    }
    env.update(extra)
    return env


def test_ecr_hosts() -> None:
    parsed = parse_ecr_host(REGISTRY)
    assert parsed is not None and parsed.account == "123456789012" and parsed.region == "eu-west-1"
    assert parse_ecr_host("123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com") is not None
    assert parse_ecr_host("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") is not None
    assert parse_ecr_host("public.ecr.aws") is None
    assert parse_ecr_host("123456789012.dkr.ecr.eu-west-1.amazonaws.com.evil.example") is None


def test_ecr_token_from_moto(moto_endpoint: str) -> None:
    provider = ECRProvider(aws_env(moto_endpoint))
    cred = provider.resolve(REGISTRY)
    assert cred is not None
    assert cred.username == "AWS"
    assert cred.password == "123456789012-auth-token"  # moto's token for the account asked for
    assert "auth-token" not in repr(cred) and "auth-token" not in repr(provider)
    assert provider.resolve("gcr.io") is None


def test_ecr_wrong_credentials(moto_endpoint: str) -> None:
    # moto checks credentials only with its auth switch on (POST /moto-api/reset-auth 0); restored afterwards.
    requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    try:
        provider = ECRProvider(aws_env(moto_endpoint, AWS_ACCESS_KEY_ID="AKIANOSUCHKEY"))
        with pytest.raises(AuthError, match=rf"Amazon ECR refused a login token for {REGISTRY}: \w+") as info:
            provider.resolve(REGISTRY)
    finally:
        requests.post(f"{moto_endpoint}/moto-api/reset-auth", data=b"inf", timeout=10).raise_for_status()
    assert "kiln-secret" not in str(info.value)
    assert "\n" not in str(info.value)


HELPER = """#!/bin/sh
# fake docker-credential-test: answers for one registry, 'credentials not found' otherwise
read server
if [ "$server" = "registry.test.example" ]; then
  echo '{"ServerURL":"registry.test.example","Username":"helper-user","Secret":"helper-secret"}'
else
  echo "credentials not found in native keychain" ; exit 1
fi
"""


@pytest.fixture
def helper_path(tmp_path: Path) -> str:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    script = bindir / "docker-credential-test"
    script.write_text(HELPER)
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return f"{bindir}:/usr/bin:/bin"


def test_helper_on_path(helper_path: str) -> None:
    provider = HelperOnPathProvider("test", lambda host: host.endswith(".example"), {"PATH": helper_path})
    cred = provider.resolve("registry.test.example")
    assert cred is not None and cred.username == "helper-user" and cred.password == "helper-secret"
    assert provider.resolve("other.example") is None  # the helper says "credentials not found"
    assert provider.resolve("gcr.io") is None  # not a host it is meant for


def test_helper_not_on_path_is_skipped() -> None:
    provider = HelperOnPathProvider("test", lambda host: True, {"PATH": "/nonexistent"})
    assert provider.resolve("registry.test.example") is None


def test_keychain_with_cloud_providers(tmp_path: Path, helper_path: str, moto_endpoint: str) -> None:
    env = aws_env(
        moto_endpoint, PATH=helper_path, HOME=str(tmp_path), DOCKER_CONFIG=str(tmp_path / "nodocker")
    )
    keychain = Keychain(
        [
            DockerConfigProvider(env),
            *cloud_providers(env),
            HelperOnPathProvider("test", lambda host: host.endswith(".example"), env),
        ]
    )
    assert keychain.resolve(REGISTRY).username == "AWS"
    assert keychain.resolve("registry.test.example").username == "helper-user"
    assert keychain.resolve("quay.io").anonymous


def test_ecr_token_never_logged(moto_endpoint: str, caplog: pytest.LogCaptureFixture) -> None:
    import base64
    import logging

    caplog.set_level(logging.DEBUG)
    cred = ECRProvider(aws_env(moto_endpoint)).resolve(REGISTRY)
    assert cred is not None and cred.password
    token = base64.b64encode(f"AWS:{cred.password}".encode()).decode()
    assert caplog.records, "DEBUG logging was on"
    assert token not in caplog.text and cred.password not in caplog.text
    assert "kiln-secret" not in caplog.text
    assert logging.getLogger("botocore").level == logging.NOTSET, "logger levels are restored"
