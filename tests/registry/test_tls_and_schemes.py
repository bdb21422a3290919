"""Scheme and TLS choices per RegistryOptions, against the real HTTP and HTTPS registries."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryPKI, RegistryServer
from kiln.errors import RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.options import RegistryOptions

# these tests skip TLS verification on purpose; urllib3 warns about each such request
pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")


@pytest.fixture(scope="module")
def tls_image(registry_tls: RegistryServer, busybox_layout: LayoutImage) -> Reference:
    return Reference.parse(push_layout(busybox_layout, registry_tls, "tls/busybox:1").ref)


@pytest.fixture(scope="module")
def http_image(registry_http: RegistryServer, busybox_layout: LayoutImage) -> Reference:
    return Reference.parse(push_layout(busybox_layout, registry_http, "scheme/busybox:1").ref)


@pytest.mark.parametrize(
    "options",
    [
        RegistryOptions(skip_tls_verify=True),
        RegistryOptions(skip_tls_verify_pull=True),
    ],
    ids=["skip-tls-verify", "skip-tls-verify-pull"],
)
def test_skip_verify_options_reach_tls_registry(options: RegistryOptions, tls_image: Reference) -> None:
    with RegistryClient(options) as client:
        assert client.get_manifest(tls_image).media_type


def test_skip_verify_per_registry(tls_image: Reference) -> None:
    with RegistryClient(RegistryOptions(skip_tls_verify_registries=(tls_image.registry,))) as client:
        assert client.get_manifest(tls_image).raw
    with RegistryClient(RegistryOptions(skip_tls_verify_registries=("other:1",))) as client:
        with pytest.raises(RegistryError) as info:
            client.get_manifest(tls_image)
        assert info.value.code == "TLS"


def test_skip_verify_pull_does_not_cover_push(tls_image: Reference) -> None:
    with (
        RegistryClient(RegistryOptions(skip_tls_verify_pull=True)) as client,
        pytest.raises(RegistryError) as info,
    ):
        client.check_push_permission(tls_image)
    assert info.value.code == "TLS"


def test_ca_file_verifies(registry_tls: RegistryServer, tls_image: Reference) -> None:
    options = RegistryOptions(registry_certificates={registry_tls.host: str(registry_tls.ca_path)})
    with RegistryClient(options) as client:
        client.check_push_permission(tls_image)
        assert client.transport.endpoint(registry_tls.host, True).base.startswith("https://")


def test_http_registry_needs_insecure_flag(http_image: Reference) -> None:
    with RegistryClient(RegistryOptions()) as client, pytest.raises(RegistryError) as info:
        client.get_manifest(http_image)
    assert info.value.code == "TLS"
    assert "--insecure-registry" in str(info.value)


def test_insecure_pull_and_insecure_push_are_separate(
    registry_http: RegistryServer, http_image: Reference
) -> None:
    with RegistryClient(RegistryOptions(insecure_pull=True)) as client:
        assert client.get_manifest(http_image).raw
        with pytest.raises(RegistryError):
            client.check_push_permission(http_image)
    with RegistryClient(RegistryOptions(insecure=True)) as client:
        client.check_push_permission(http_image)
        assert client.transport.endpoint(registry_http.host, True).base == f"http://{registry_http.host}"


def test_mutual_tls(registry_mtls: RegistryServer, registry_pki: RegistryPKI) -> None:
    ref = Reference.parse(registry_mtls.ref("mtls/app:1"))
    ca = {registry_mtls.host: str(registry_pki.ca_path)}
    cert = {registry_mtls.host: (str(registry_pki.client_cert_path), str(registry_pki.client_key_path))}
    with RegistryClient(RegistryOptions(registry_certificates=ca, registry_client_certs=cert)) as client:
        client.check_push_permission(ref)
    # client cert without a CA file (verification skipped): the cert still goes out
    options = RegistryOptions(skip_tls_verify_registries=(registry_mtls.host,), registry_client_certs=cert)
    with RegistryClient(options) as client:
        client.check_push_permission(ref)
    with (
        RegistryClient(RegistryOptions(registry_certificates=ca)) as client,
        pytest.raises(RegistryError) as info,
    ):
        client.check_push_permission(ref)
    assert info.value.code in ("TLS", "CONNECTION")


def test_missing_tls_files_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(RegistryError) as info:
        RegistryClient(RegistryOptions(registry_certificates={"r.io": str(tmp_path / "nope.pem")}))
    assert (
        info.value.code == "TLS"
        and "nope.pem" in str(info.value)
        and "--registry-certificate" in str(info.value)
    )
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate")
    with pytest.raises(RegistryError):
        RegistryClient(RegistryOptions(registry_certificates={"r.io": str(bad)}))
    with pytest.raises(RegistryError) as info:
        RegistryClient(RegistryOptions(registry_client_certs={"r.io": (str(bad), str(tmp_path / "key.pem"))}))
    assert "key.pem" in str(info.value)


def test_insecure_fallback_does_not_back_off_on_https(
    http_image: Reference, registry_http: RegistryServer
) -> None:
    sleeps: list[float] = []
    options = RegistryOptions(insecure_registries=(registry_http.host,), image_download_retry=3)
    with RegistryClient(options, sleep=sleeps.append) as client:
        assert client.get_manifest(http_image).raw
    assert sleeps == []
