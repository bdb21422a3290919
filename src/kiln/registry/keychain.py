"""Where registry credentials come from: a Keychain of providers, asked in order.

Why providers: kaniko users keep credentials in a docker ``config.json`` (``auths``, ``credsStore``,
``credHelpers``); cloud registries (ECR, GCR, ACR) need their own token exchanges. Each source is one small
provider with ``resolve(registry)``; the Keychain asks them in order and the first answer wins, so a cloud
provider is added later without touching the others. Everything reads the environment through the mapping it is
given, never ``os.environ``.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kiln.errors import AuthError

DOCKER_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io")
KANIKO_CONFIG = Path("/kaniko/.docker/config.json")


@dataclass(frozen=True)
class Credential:
    """Secrets for one registry; repr and str never show them."""

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(
        default=None, repr=False
    )  # OAuth2 refresh token (docker login --oauth)
    registry_token: str | None = field(default=None, repr=False)  # a bearer token used as-is

    @property
    def anonymous(self) -> bool:
        return not (self.username or self.password or self.identity_token or self.registry_token)

    def __str__(self) -> str:
        return f"credential for {self.username or '<token>'}" if not self.anonymous else "anonymous"


ANONYMOUS = Credential()


class CredentialProvider(Protocol):
    """One credential source. ``registry`` is the API host (``index.docker.io`` for Docker Hub)."""

    def resolve(self, registry: str) -> Credential | None: ...


def _candidate_keys(registry: str) -> tuple[str, ...]:
    if registry in DOCKER_HUB_KEYS:
        return DOCKER_HUB_KEYS
    return (
        registry,
        f"https://{registry}",
        f"http://{registry}",
        f"https://{registry}/v1/",
        f"https://{registry}/v2/",
    )


def _host_of_key(key: str) -> str:
    host = key.split("://", 1)[-1].split("/", 1)[0]
    return host


def find_docker_config(environ: Mapping[str, str]) -> Path | None:
    """kaniko's order: ``$DOCKER_CONFIG/config.json``, ``$HOME/.docker/config.json``, ``/kaniko/.docker``."""
    candidates: list[Path] = []
    if environ.get("DOCKER_CONFIG"):
        base = Path(environ["DOCKER_CONFIG"])
        candidates.append(base if base.name == "config.json" else base / "config.json")
    if environ.get("HOME"):
        candidates.append(Path(environ["HOME"]) / ".docker" / "config.json")
    candidates.append(KANIKO_CONFIG)
    for path in candidates:
        if path.is_file():
            return path
    return None


class DockerConfigProvider:
    """Credentials from a docker ``config.json``: credHelpers, then auths, then credsStore."""

    def __init__(self, environ: Mapping[str, str], path: Path | None = None) -> None:
        self._environ = environ
        self._path = path
        self._loaded: dict[str, Any] | None = None

    def _config(self) -> dict[str, Any]:
        if self._loaded is None:
            path = self._path or find_docker_config(self._environ)
            data: dict[str, Any] = {}
            if path is not None:
                try:
                    data = json.loads(path.read_text())
                except (OSError, ValueError) as err:
                    raise AuthError(
                        f"cannot read docker config {path}: {type(err).__name__}",
                        code="CONFIG",
                        hint="fix or remove the file; it must be JSON like docker login writes",
                    ) from None
            self._loaded = data if isinstance(data, dict) else {}
        return self._loaded

    def resolve(self, registry: str) -> Credential | None:
        config = self._config()
        keys = _candidate_keys(registry)
        helpers = config.get("credHelpers") or {}
        for key in keys:
            if key in helpers:
                return CredentialHelper(str(helpers[key]), self._environ).get(key)
        auths = config.get("auths") or {}
        for key, entry in auths.items():
            if (key in keys or _host_of_key(key) in keys) and isinstance(entry, dict):
                cred = _from_auth_entry(entry, key)
                if cred is not None:
                    return cred
        store = config.get("credsStore")
        if store:
            return CredentialHelper(str(store), self._environ).get(keys[0], missing_ok=True)
        return None


def _from_auth_entry(entry: Mapping[str, Any], key: str) -> Credential | None:
    username, password = entry.get("username"), entry.get("password")
    if entry.get("auth"):
        try:
            decoded = base64.b64decode(str(entry["auth"])).decode()
        except (ValueError, UnicodeDecodeError):
            raise AuthError(
                f"docker config entry {key!r} has an 'auth' value that is not base64 of user:password",
                code="CONFIG",
            ) from None
        username, _, password = decoded.partition(":")
    cred = Credential(
        username=username or None,
        password=password or None,
        identity_token=entry.get("identitytoken") or None,
        registry_token=entry.get("registrytoken") or None,
    )
    return None if cred.anonymous else cred


class CredentialHelper:
    """``docker-credential-<name> get``: server URL on stdin, JSON ``{Username, Secret}`` on stdout."""

    def __init__(self, name: str, environ: Mapping[str, str]) -> None:
        self.program = f"docker-credential-{name}"
        self._environ = environ

    def get(self, server: str, missing_ok: bool = False) -> Credential | None:
        try:
            proc = subprocess.run(
                [self.program, "get"],
                input=server.encode(),
                capture_output=True,
                env=dict(self._environ),
                timeout=60,
                check=False,
            )
        except FileNotFoundError:
            if missing_ok:
                return None
            raise AuthError(
                f"credential helper {self.program} not found for {server}",
                code="CONFIG",
                hint="install it on PATH or remove it from credHelpers in config.json",
            ) from None
        except subprocess.TimeoutExpired:
            raise AuthError(
                f"credential helper {self.program} timed out for {server}", code="CONFIG"
            ) from None
        out = proc.stdout.decode(errors="replace").strip()
        if proc.returncode != 0:
            if "credentials not found" in (out + proc.stderr.decode(errors="replace")).lower():
                return None
            raise AuthError(
                f"credential helper {self.program} failed for {server} (exit {proc.returncode})",
                code="CONFIG",
                hint="run the helper by hand to see why",
            )
        try:
            data = json.loads(out)
        except ValueError:
            raise AuthError(f"credential helper {self.program} printed invalid JSON for {server}") from None
        username, secret = data.get("Username") or None, data.get("Secret") or None
        if username == "<token>":
            return Credential(identity_token=secret)
        cred = Credential(username=username, password=secret)
        return None if cred.anonymous else cred


class Keychain:
    """Providers asked in order; the first credential found wins, else anonymous."""

    def __init__(self, providers: Sequence[CredentialProvider]) -> None:
        self.providers = tuple(providers)

    def resolve(self, registry: str) -> Credential:
        for provider in self.providers:
            cred = provider.resolve(registry)
            if cred is not None:
                return cred
        return ANONYMOUS


class StaticProvider:
    """Fixed credentials per registry host (for callers that were handed them directly, and for tests)."""

    def __init__(self, credentials: Mapping[str, Credential]) -> None:
        self._credentials = dict(credentials)

    def resolve(self, registry: str) -> Credential | None:
        for key in _candidate_keys(registry):
            if key in self._credentials:
                return self._credentials[key]
        return None


class GitLabCIProvider:
    """GitLab CI's job credentials (``CI_REGISTRY``, ``CI_REGISTRY_USER``, ``CI_REGISTRY_PASSWORD``), as kaniko has."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ

    def resolve(self, registry: str) -> Credential | None:
        host = self._environ.get("CI_REGISTRY", "").split("://", 1)[-1].rstrip("/")
        user, password = self._environ.get("CI_REGISTRY_USER"), self._environ.get("CI_REGISTRY_PASSWORD")
        if host and user and password and host == registry:
            return Credential(username=user, password=password)
        return None


def default_keychain(environ: Mapping[str, str]) -> Keychain:
    """The keychain kaniko users expect: docker config.json (DOCKER_CONFIG, HOME, /kaniko/.docker), then
    GitLab CI job credentials, then the clouds' own identities (ECR, Google, ACR, credential helpers on PATH)."""
    from kiln.registry.cloud import cloud_providers  # here: the cloud package imports this module

    return Keychain([DockerConfigProvider(environ), GitLabCIProvider(environ), *cloud_providers(environ)])
