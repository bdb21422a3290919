"""Helpers shared by the registry tests: a client configured for a test-bed registry."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from pathlib import Path

import requests

from fixtures.registry import RegistryServer
from kiln.registry.client import RegistryClient
from kiln.registry.keychain import default_keychain
from kiln.registry.options import RegistryOptions


def options_for(server: RegistryServer, config_dir: Path | None = None, **extra: object) -> RegistryOptions:
    """Options that reach ``server`` as a user would configure kaniko (HTTP registry, CA file, config.json)."""
    environ: dict[str, str] = {}
    if config_dir is not None:
        server.write_docker_config(config_dir)
        environ["DOCKER_CONFIG"] = str(config_dir)
    kwargs: dict[str, object] = {"environ": environ, "retry_base_delay": 0.01}
    if server.scheme == "http":
        kwargs["insecure_registries"] = (server.host,)
    if server.ca_path is not None:
        kwargs["registry_certificates"] = {server.host: str(server.ca_path)}
    kwargs.update(extra)
    return RegistryOptions(**kwargs)  # type: ignore[arg-type]


def client_for(server: RegistryServer, config_dir: Path | None = None, **extra: object) -> RegistryClient:
    options = options_for(server, config_dir, **extra)
    return RegistryClient(options, default_keychain(options.environ))


_HOP_HEADERS = ("transfer-encoding", "connection", "content-length", "content-encoding")


def relay(handler: BaseHTTPRequestHandler, resp: requests.Response) -> None:
    """Write an upstream registry answer back through a test proxy's handler (hop-by-hop headers dropped)."""
    handler.send_response(resp.status_code)
    for key, value in resp.headers.items():
        if key.lower() not in _HOP_HEADERS:
            handler.send_header(key, value)
    handler.send_header("Content-Length", str(len(resp.content)))
    handler.end_headers()
    if handler.command != "HEAD":
        handler.wfile.write(resp.content)
