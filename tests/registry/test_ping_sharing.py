"""One ``/v2/`` ping per registry and way of reaching it, counted on the wire in front of the real registry.

The client talks to a :class:`fixtures.sniffer.Sniffer` (counts TLS attempts, relays TLS to the registry and
plain HTTP to a logging FaultProxy armed with no fault), so ``proxy.log`` lists every request that reached
the registry over HTTP and ``sniffer.tls_attempts`` every HTTPS try.
"""

from __future__ import annotations

import contextlib
import socket
import threading

import pytest

from fixtures.images import LayoutImage, push_layout
from fixtures.registry import RegistryServer
from fixtures.sniffer import Sniffer
from kiln.errors import RegistryError
from kiln.reference import Reference
from kiln.registry.client import RegistryClient
from kiln.registry.options import RegistryOptions
from reliability.faultproxy import FaultProxy


def test_pull_and_push_to_one_insecure_registry_ping_once(wire: tuple[Sniffer, FaultProxy]) -> None:
    sniffer, proxy = wire
    base = Reference.parse(f"{sniffer.host}/fixtures/busybox:latest")
    options = RegistryOptions(insecure_registries=(sniffer.host,), retry_base_delay=0.01)
    with RegistryClient(options) as client:
        client.check_push_permission(Reference.parse(f"{sniffer.host}/ping/shared:1"))  # a push
        assert client.get_manifest(base).raw  # a pull
        assert client.head_manifest(base) is not None
    assert proxy.pings() == 1
    assert sniffer.tls_attempts == 1  # HTTPS tried once, then plain HTTP as --insecure-registry allows
    assert any("/manifests/latest" in entry.path for entry in proxy.log)  # the pull did go through


def test_different_tls_settings_for_pull_and_push_ping_separately(wire: tuple[Sniffer, FaultProxy]) -> None:
    """--skip-tls-verify-pull: pulls and pushes would not connect the same way, so each pings."""
    sniffer, proxy = wire
    base = Reference.parse(f"{sniffer.host}/fixtures/busybox:latest")
    options = RegistryOptions(
        insecure=True, insecure_pull=True, skip_tls_verify_pull=True, retry_base_delay=0.01
    )
    with RegistryClient(options) as client:
        assert client.get_manifest(base).raw
        client.check_push_permission(Reference.parse(f"{sniffer.host}/ping/separate:1"))
        assert client.get_manifest(base).raw  # both remembered: no third ping
        client.check_push_permission(Reference.parse(f"{sniffer.host}/ping/separate:1"))
    assert proxy.pings() == 2
    assert sniffer.tls_attempts == 2


def test_threads_asking_at_once_share_one_ping(wire: tuple[Sniffer, FaultProxy]) -> None:
    sniffer, proxy = wire
    base = Reference.parse(f"{sniffer.host}/fixtures/busybox:latest")
    options = RegistryOptions(insecure_registries=(sniffer.host,), retry_base_delay=0.01)
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    with RegistryClient(options) as client:

        def pull() -> None:
            start.wait()
            try:
                client.get_manifest(base)
            except BaseException as err:  # reported below, not lost in the thread
                errors.append(err)

        threads = [threading.Thread(target=pull) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert errors == []
    assert proxy.pings() == 1
    assert sniffer.tls_attempts == 1
    assert sum(1 for entry in proxy.log if "/manifests/latest" in entry.path) == 4


def _verified_https_pools(client: RegistryClient) -> list[object]:
    """The connection pools requests opened for verified HTTPS (each built a TLS context with the CA bundle)."""
    adapter = client.transport.session.get_adapter("https://registry.invalid/")
    pools = adapter.poolmanager.pools  # type: ignore[attr-defined]
    return [key for key in pools.keys() if key.key_scheme == "https"]  # noqa: SIM118 (no __iter__)


def test_a_plain_http_registry_costs_one_bare_handshake_not_a_verified_attempt(
    wire: tuple[Sniffer, FaultProxy],
) -> None:
    """--insecure-registry: a ~1 ms handshake that the registry answers in plain HTTP decides for HTTP, before
    requests builds a verified TLS context (CA bundle load) for an attempt that could only fail."""
    sniffer, proxy = wire
    base = Reference.parse(f"{sniffer.host}/fixtures/busybox:latest")
    with RegistryClient(RegistryOptions(insecure_registries=(sniffer.host,))) as client:
        assert client.get_manifest(base).raw
        assert client.transport.endpoint(sniffer.host, False).base == f"http://{sniffer.host}"
        assert _verified_https_pools(client) == []
    assert sniffer.tls_attempts == 1  # the handshake reached the registry's port, once
    assert proxy.pings() == 1


def test_an_insecure_listed_registry_that_speaks_tls_is_still_reached_over_https(
    registry_tls: RegistryServer, busybox_layout: LayoutImage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handshake completes, so the verified attempt decides (here it verifies: requests takes its CA
    bundle from REQUESTS_CA_BUNDLE, set to the test CA) and HTTPS is used, as before."""
    assert registry_tls.ca_path is not None
    ref = Reference.parse(push_layout(busybox_layout, registry_tls, "ping/tls:1").ref)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(registry_tls.ca_path))
    with RegistryClient(RegistryOptions(insecure_registries=(registry_tls.host,))) as client:
        assert client.get_manifest(ref).raw
        assert client.transport.endpoint(registry_tls.host, False).base == f"https://{registry_tls.host}"
        assert _verified_https_pools(client) != []


def test_a_registry_that_never_answers_is_waited_for_once_per_scheme() -> None:
    """A host that accepts connections and stays silent: the handshake times out, so HTTPS is not attempted a
    second time (a second timeout) before HTTP; counted as connections on a real silent loopback server."""
    accepted: list[socket.socket] = []
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.settimeout(10)
        host = f"127.0.0.1:{server.getsockname()[1]}"

        def accept() -> None:
            with contextlib.suppress(OSError):
                while True:
                    conn, _ = server.accept()
                    accepted.append(conn)  # kept open and silent until the test ends

        thread = threading.Thread(target=accept, daemon=True)
        thread.start()
        options = RegistryOptions(insecure_registries=(host,), timeout=0.5, request_retries=0)
        with RegistryClient(options) as client, pytest.raises(RegistryError) as info:
            client.transport.endpoint(host, False)
        assert info.value.code == "CONNECTION" and "timed out" in str(info.value)
        assert len(accepted) == 2  # the handshake, then plain HTTP; no verified HTTPS attempt in between
        for conn in accepted:
            conn.close()
