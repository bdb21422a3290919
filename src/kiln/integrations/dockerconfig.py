"""Registry logins written as a docker ``config.json`` in a private directory.

Why a file: a password on the executor's command line is visible in ``ps`` and CI logs; a 0600 file
named by ``DOCKER_CONFIG`` is what kaniko users already mount at /kaniko/.docker.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kiln.errors import AuthError

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_NAMES = frozenset({"", "docker.io", "index.docker.io", "registry-1.docker.io", DOCKER_HUB_KEY})


def registry_key(registry: str) -> str:
    """The ``auths`` key docker login would use: Docker Hub's legacy URL, else the bare host."""
    name = registry.strip()
    if name in _HUB_NAMES:
        return DOCKER_HUB_KEY
    return name.split("://", 1)[-1].rstrip("/")


@dataclass(frozen=True)
class RegistryLogin:
    """A username and password (or token) for one registry; the secret stays out of repr()."""

    registry: str
    username: str
    password: str = field(repr=False)

    def auth_entry(self) -> dict[str, str]:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return {"auth": token}

    def secrets(self) -> list[str]:
        """Every spelling of the secret that could leak: the password and the base64 auth string."""
        return [s for s in (self.password, self.auth_entry()["auth"]) if s]


def parse_docker_config(text: str, origin: str) -> dict[str, Any]:
    """A config.json given as text (GitLab's DOCKER_AUTH_CONFIG, a Jenkins secret file)."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise AuthError(
            f"{origin} is not a JSON object",
            code="CONFIG",
            hint='it must look like {"auths": {"registry.example.com": {"auth": "..."}}}',
        )
    return data


def docker_config_json(
    logins: Iterable[RegistryLogin], base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``base`` (kept as is: credHelpers, credsStore, other auths) with ``logins`` added over it."""
    config: dict[str, Any] = dict(base or {})
    auths = dict(config.get("auths") or {})
    for login in logins:
        auths[registry_key(login.registry)] = login.auth_entry()
    if auths:
        config["auths"] = auths
    return config


def write_docker_config(directory: Path, config: Mapping[str, Any]) -> Path:
    """Write ``directory/config.json`` readable by the owner only; returns the directory for DOCKER_CONFIG."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    os.chmod(path, 0o600)
    return directory


def existing_docker_config(environ: Mapping[str, str]) -> dict[str, Any]:
    """The config a previous login step left (``$DOCKER_CONFIG`` or ``~/.docker``), to merge into."""
    candidates = []
    if environ.get("DOCKER_CONFIG"):
        candidates.append(Path(environ["DOCKER_CONFIG"]) / "config.json")
    if environ.get("HOME"):
        candidates.append(Path(environ["HOME"]) / ".docker" / "config.json")
    for path in candidates:
        if path.is_file():
            return parse_docker_config(path.read_text(), str(path))
    return {}
