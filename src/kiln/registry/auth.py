"""Registry authentication: WWW-Authenticate challenges, Basic, and Bearer tokens (GET and OAuth2 POST).

Why a cache keyed by scope set: a push needs ``pull,push`` on the target and, for a cross-repo mount, ``pull`` on
the source; tokens are minted per scope set, so asking again with a wider set is how scopes are "refreshed".
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import requests

from kiln.errors import AuthError
from kiln.registry.errors import AUTH_HINT, error_from_exception, parse_error_body, scrub_url
from kiln.registry.keychain import Credential

DEFAULT_TOKEN_LIFETIME = 60.0  # the token spec's default when expires_in is absent
EXPIRY_MARGIN = 10.0
_PARAM = re.compile(r'\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,]*))\s*,?')


@dataclass(frozen=True)
class Challenge:
    """One WWW-Authenticate challenge: ``scheme`` lower-cased (``basic``/``bearer``) and its parameters."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)


def parse_challenges(header: str) -> list[Challenge]:
    """Parse ``Bearer realm="...",service="...",scope="..."`` (several challenges may be present)."""
    challenges: list[Challenge] = []
    pos = 0
    header = header.strip()
    while pos < len(header):
        match = re.match(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*", header[pos:])
        if not match:
            break
        scheme = match.group(1).lower()
        pos += match.end()
        params: dict[str, str] = {}
        while pos < len(header):
            pm = _PARAM.match(header, pos)
            if not pm:
                break
            value = pm.group(2) if pm.group(2) is not None else (pm.group(3) or "")
            params[pm.group(1).lower()] = re.sub(r"\\(.)", r"\1", value)
            pos = pm.end()
        challenges.append(Challenge(scheme, params))
        pos += len(re.match(r"[\s,]*", header[pos:]).group(0))  # type: ignore[union-attr]
    return challenges


def pick_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """Prefer Bearer over Basic, as Docker does."""
    found = {c.scheme: c for c in challenges}
    return found.get("bearer") or found.get("basic")


def basic_header(cred: Credential) -> str:
    raw = f"{cred.username or ''}:{cred.password or ''}".encode()
    return "Basic " + base64.b64encode(raw).decode()


class TokenSource:
    """Mints and caches Authorization header values per (registry, challenge, scopes)."""

    def __init__(
        self,
        session: requests.Session,
        credential_for: Callable[[str], Credential],
        request_kwargs: Callable[[str], dict[str, Any]],
        user_agent: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = session
        self._clock = clock
        self._credential_for = credential_for
        self._request_kwargs = request_kwargs
        self._user_agent = user_agent
        self._cache: dict[tuple[str, frozenset[str]], tuple[str, float]] = {}  # value, expiry (clock time)
        self._lock = threading.Lock()

    def header(self, registry: str, challenge: Challenge | None, scopes: Iterable[str]) -> str | None:
        """The Authorization value for a request to ``registry`` needing ``scopes`` (None: anonymous)."""
        if challenge is None:
            return None
        key = (registry, frozenset(scopes))
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[1] > now:
            return cached[0]
        cred = self._credential_for(registry)
        lifetime = float("inf")
        if challenge.scheme == "basic":
            value = None if cred.anonymous else basic_header(cred)
        elif challenge.scheme == "bearer":
            token, lifetime = self._bearer(registry, challenge, sorted(key[1]), cred)
            value = "Bearer " + token
        else:
            raise AuthError(
                f"registry {registry} asks for unsupported auth scheme {challenge.scheme!r}",
                code="UNSUPPORTED",
            )
        if value is not None:
            with self._lock:
                # renew a little early so a long upload never starts with a token about to expire
                self._cache[key] = (value, now + max(0.0, lifetime - EXPIRY_MARGIN))
        return value

    def forget(self, registry: str, scopes: Iterable[str]) -> None:
        with self._lock:
            self._cache.pop((registry, frozenset(scopes)), None)

    def _bearer(
        self, registry: str, challenge: Challenge, scopes: list[str], cred: Credential
    ) -> tuple[str, float]:
        """A token and its lifetime in seconds."""
        if cred.registry_token:
            return cred.registry_token, float("inf")
        realm = challenge.params.get("realm")
        if not realm:
            raise AuthError(
                f"registry {registry} sent a Bearer challenge without a realm", code="UNSUPPORTED"
            )
        service = challenge.params.get("service", "")
        if cred.identity_token:
            return self._oauth_post(registry, realm, service, scopes, cred)
        params: list[tuple[str, str]] = [("service", service)] if service else []
        params += [("scope", s) for s in scopes]
        headers = {"User-Agent": self._user_agent}
        if not cred.anonymous:
            headers["Authorization"] = basic_header(cred)
            if cred.username:
                params.append(("account", cred.username))
        resp = self._send("GET", realm, registry, params=params, headers=headers)
        if resp.status_code in (404, 405) and cred.username and cred.password:
            return self._oauth_post(registry, realm, service, scopes, cred)
        return self._token_from(resp, registry)

    def _oauth_post(
        self, registry: str, realm: str, service: str, scopes: list[str], cred: Credential
    ) -> tuple[str, float]:
        form = {"service": service, "scope": " ".join(scopes), "client_id": "kiln"}
        if cred.identity_token:
            form.update(grant_type="refresh_token", refresh_token=cred.identity_token)
        else:
            form.update(grant_type="password", username=cred.username or "", password=cred.password or "")
        resp = self._send("POST", realm, registry, data=form, headers={"User-Agent": self._user_agent})
        return self._token_from(resp, registry)

    def _send(self, method: str, realm: str, registry: str, **kwargs: object) -> requests.Response:
        try:
            return self._session.request(method, realm, **kwargs, **self._request_kwargs(realm))  # type: ignore[arg-type]
        except requests.RequestException as err:
            raise error_from_exception(err, f"token request for {registry}", realm) from None

    def _token_from(self, resp: requests.Response, registry: str) -> tuple[str, float]:
        if resp.status_code != 200:
            code, message = parse_error_body(resp)
            code = code or ("UNAUTHORIZED" if resp.status_code == 401 else f"HTTP_{resp.status_code}")
            text = f"token server {scrub_url(resp.url)} refused credentials for {registry}: {resp.status_code} {code}"
            if message:
                text += f": {message[:200]}"
            raise AuthError(text, code=code, status=resp.status_code, hint=AUTH_HINT)
        lifetime = DEFAULT_TOKEN_LIFETIME
        try:
            data = resp.json()
            token = data.get("token") or data.get("access_token")
            if isinstance(data.get("expires_in"), (int, float)) and data["expires_in"] > 0:
                lifetime = float(data["expires_in"])
        except (ValueError, AttributeError):
            token = None
        if not token or not isinstance(token, str):
            raise AuthError(
                f"token server {scrub_url(resp.url)} returned no token for {registry}", code="UNAUTHORIZED"
            )
        return token, lifetime
