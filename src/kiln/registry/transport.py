"""HTTP to registries: scheme and TLS per registry, auth challenges, retries with backoff, safe redirects.

Why one class: every request needs the same decisions (HTTP or HTTPS for this host, which CA, which client
cert, which token for which scopes, whether a 503 is worth another try). One ``requests.Session`` per client keeps
connections pooled; tests may pass their own session (e.g. with an adapter that injects failures).
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import requests.utils
from requests.adapters import HTTPAdapter

from kiln.errors import AuthError, RegistryError
from kiln.registry.auth import Challenge, TokenSource, parse_challenges, pick_challenge
from kiln.registry.errors import TEMPORARY_STATUSES, error_from_exception, error_from_response, scrub_url
from kiln.registry.keychain import Credential, Keychain
from kiln.registry.options import RegistryOptions

log = logging.getLogger(__name__)

Body = Any  # bytes, or a file-like object with read() (and ideally __len__) that requests streams
MAX_REDIRECTS = 5
MAX_RETRY_AFTER = 60.0


# (host, plain HTTP allowed, TLS verified): see Transport._endpoint_key
_EndpointKey = tuple[str, bool, bool]


@dataclass(frozen=True)
class Endpoint:
    """How one registry is reached: base URL (scheme+host) and its auth challenge from ``/v2/``."""

    base: str
    challenge: Challenge | None


class _ContextAdapter(HTTPAdapter):
    """An adapter whose TLS context adds a registry's CA to the system roots (and its client cert)."""

    def __init__(self, context: ssl.SSLContext) -> None:
        self._context = context
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["ssl_context"] = self._context
        super().init_poolmanager(*args, **kwargs)


class Transport:
    """Sends authenticated, retried requests to registries as ``RegistryOptions`` say."""

    def __init__(
        self,
        options: RegistryOptions,
        keychain: Keychain,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.options = options
        self.keychain = keychain
        self.session = session or requests.Session()
        self.session.headers["User-Agent"] = options.user_agent
        self.sleep = sleep
        self._endpoints: dict[_EndpointKey, Endpoint] = {}
        self._ping_locks: dict[_EndpointKey, threading.Lock] = {}
        self._creds: dict[str, Credential] = {}
        self._lock = threading.Lock()
        self.tokens = TokenSource(
            self.session, self._credential, self._tls_kwargs_for_url, options.user_agent
        )
        for host, client in options.registry_client_certs.items():
            for path in client:
                if not os.path.isfile(path):
                    raise RegistryError(
                        f"client certificate file {path} for {host} does not exist",
                        code="TLS",
                        hint="check --registry-client-cert REGISTRY=CERT,KEY",
                    )
        for host, ca in options.registry_certificates.items():
            if host not in options.skip_tls_verify_registries and not options.skip_tls_verify:
                self.session.mount(f"https://{host}/", _ContextAdapter(_tls_context(host, ca, options)))

    # -- per-registry decisions ------------------------------------------------------------------------------
    def _credential(self, host: str) -> Credential:
        with self._lock:
            cred = self._creds.get(host)
        if cred is None:
            cred = self.keychain.resolve(host)
            with self._lock:
                self._creds[host] = cred
        return cred

    def plain_http(self, host: str, push: bool) -> bool:
        """kaniko: --insecure (push), --insecure-pull (pull), --insecure-registry (both) allow plain HTTP."""
        o = self.options
        return host in o.insecure_registries or (o.insecure if push else o.insecure_pull)

    def verify(self, host: str, push: bool) -> bool:
        o = self.options
        if o.skip_tls_verify or host in o.skip_tls_verify_registries:
            return False
        return not (not push and o.skip_tls_verify_pull)

    def _tls_kwargs(self, host: str, push: bool) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"verify": self.verify(host, push), "timeout": self.options.timeout}
        client = self.options.registry_client_certs.get(host)
        if client and host not in self.options.registry_certificates:
            kwargs["cert"] = client
        return kwargs

    def _tls_kwargs_for_url(self, url: str) -> dict[str, Any]:
        host = urlsplit(url).netloc
        return self._tls_kwargs(host, push=False) if host else {"timeout": self.options.timeout}

    # -- ping ------------------------------------------------------------------------------------------------
    def _endpoint_key(self, host: str, push: bool) -> _EndpointKey:
        """What decides how ``host`` is reached: whether plain HTTP is allowed and whether TLS is verified
        (CA file and client certificate are per host). Pulls and pushes that agree share one ping, so a
        build that pulls from and pushes to one registry pings it once; ``--insecure`` (pushes only) or
        ``--skip-tls-verify-pull`` keep them apart."""
        return (host, self.plain_http(host, push), self.verify(host, push))

    def endpoint(self, host: str, push: bool) -> Endpoint:
        """Ping ``/v2/`` (HTTPS, then HTTP if this registry may be insecure) and remember the challenge.

        One ping per key, also when threads (prefetch, cache pushes) ask at once: the others wait for it.
        """
        key = self._endpoint_key(host, push)
        with self._lock:
            cached = self._endpoints.get(key)
            ping_lock = self._ping_locks.setdefault(key, threading.Lock())
        if cached is not None:
            return cached
        with ping_lock:
            with self._lock:
                cached = self._endpoints.get(key)
            if cached is not None:
                return cached
            return self._ping(host, push, key)

    def _ping(self, host: str, push: bool, key: _EndpointKey) -> Endpoint:
        """Send the ping (no lock held but ``key``'s): HTTPS first, then HTTP when ``key`` allows it."""
        schemes = ["https", "http"] if key[1] else ["https"]
        last: RegistryError | None = None
        for scheme in schemes:
            if scheme == "https" and len(schemes) > 1 and self._answers_without_tls(host, push):
                log.debug("ping registry %s: it answers a TLS handshake in plain HTTP; using http", host)
                continue
            base = f"{scheme}://{host}"
            retries = self.options.retries(push)
            try:
                resp = self._with_retries(
                    lambda b=base: self.session.get(b + "/v2/", **self._tls_kwargs(host, push)),  # type: ignore[misc]
                    f"ping registry {host}",
                    base + "/v2/",
                    retries if scheme == schemes[-1] else 0,  # no backoff before falling back to HTTP
                )
            except RegistryError as err:
                last = err
                if err.code in ("CONNECTION", "TLS"):
                    continue
                raise
            resp.close()
            if resp.status_code == 401:
                challenge = pick_challenge(parse_challenges(resp.headers.get("WWW-Authenticate", "")))
            elif resp.status_code < 300:
                challenge = None
            else:
                raise error_from_response(resp, f"ping registry {host}")
            endpoint = Endpoint(base, challenge)
            with self._lock:
                self._endpoints[key] = endpoint
            return endpoint
        assert last is not None
        raise last

    def _answers_without_tls(self, host: str, push: bool) -> bool:
        """Whether ``host`` (allowed plain HTTP) answers a TLS handshake with something that is not TLS.

        Why: the verified HTTPS attempt that would find this out first builds a TLS context and loads the CA
        bundle, 20-35 ms of a warm rebuild's start-up; a bare handshake (nothing verified, nothing sent
        after it) costs ~1 ms. Only a non-TLS answer (``WRONG_VERSION_NUMBER``: the plain-HTTP server's
        reply read as a TLS record) or no answer within the timeout (the HTTPS attempt would have timed out
        and gone on to HTTP too, a timeout later) skips the HTTPS attempt; a completed handshake, a TLS alert
        or a refused connection leave the decision to the verified attempt, as before. Not asked when the
        attempt would be cheap or would not connect directly: TLS unverified, a CA file or client
        certificate for the host, a proxy from the environment, or an adapter other than requests' own
        (tests inject failures through their own).
        """
        url = f"https://{host}/v2/"
        if (
            not self.verify(host, push)
            or host in self.options.registry_client_certs
            or type(self.session.get_adapter(url)) is not HTTPAdapter
            or (self.session.trust_env and requests.utils.get_environ_proxies(url))
        ):
            return False
        parts = urlsplit(url)
        if parts.hostname is None:
            return False
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        try:
            address = (parts.hostname, parts.port or 443)
            with (
                socket.create_connection(address, timeout=self.options.timeout) as raw,
                context.wrap_socket(raw, server_hostname=parts.hostname),
            ):
                return False
        except ssl.SSLError as err:
            return err.reason == "WRONG_VERSION_NUMBER"
        except TimeoutError:
            return True  # the verified attempt would wait as long again, and then go on to HTTP all the same
        except (OSError, ValueError):
            return False

    # -- requests --------------------------------------------------------------------------------------------
    def request(
        self,
        method: str,
        host: str,
        path: str,
        *,
        scopes: Iterable[str],
        push: bool,
        what: str,
        ok: Iterable[int] = (200,),
        headers: Mapping[str, str] | None = None,
        body: Callable[[], Body] | None = None,
        stream: bool = False,
        default_code: str | None = None,
        follow_redirects: bool = True,
        retries: int | None = None,
    ) -> requests.Response:
        """Send one API request with auth, retries and redirect handling; raise a typed error unless in ``ok``.

        ``path`` is relative to the registry (``/v2/...``) or an absolute Location URL from the registry.
        ``body`` is a factory so a retried request can re-open its stream. ``retries`` overrides the options'
        count (uploads pass 0: a half-sent upload cannot be resent to the same session, the caller restarts it).
        """
        endpoint = self.endpoint(host, push)
        scope_list = sorted(set(scopes))
        url = path if "://" in path else endpoint.base + path
        if retries is None:
            retries = self.options.retries(push)
        ok_set = set(ok)
        auth_refreshed = False
        while True:
            auth = self.tokens.header(host, endpoint.challenge, scope_list)
            send_headers = dict(headers or {})
            if auth:
                send_headers["Authorization"] = auth

            def attempt(h: dict[str, str] = send_headers) -> requests.Response:
                return self._send_following(method, url, host, push, h, body, stream, follow_redirects)

            resp = self._with_retries(attempt, what, url, retries)
            fresh = None
            if resp.status_code == 401 and not auth_refreshed:
                fresh = pick_challenge(parse_challenges(resp.headers.get("WWW-Authenticate", "")))
            if fresh is not None or (resp.status_code == 401 and not auth_refreshed and endpoint.challenge):
                resp.close()
                auth_refreshed = True
                self.tokens.forget(host, scope_list)
                if fresh is not None and fresh.params.get("scope"):
                    # insufficient_scope: the registry names what it wants (e.g. delete); ask for that as well
                    scope_list = sorted(set(scope_list) | set(fresh.params["scope"].split(" ")))
                if fresh is not None and _different_authority(endpoint.challenge, fresh):
                    # /v2/ was open (or pointed elsewhere) but this repository wants other credentials
                    endpoint = Endpoint(endpoint.base, fresh)
                    with self._lock:
                        self._endpoints[self._endpoint_key(host, push)] = endpoint
                continue
            if resp.status_code in ok_set:
                return resp
            error = error_from_response(resp, what, default_code)
            resp.close()
            if isinstance(error, AuthError) and self._credential(host).anonymous:
                error.hint = (
                    f"no credentials found for {host}; add them to docker config.json (auths or credHelpers)"
                )
            raise error

    def _send_following(
        self,
        method: str,
        url: str,
        host: str,
        push: bool,
        headers: dict[str, str],
        body: Callable[[], Body] | None,
        stream: bool,
        follow: bool,
    ) -> requests.Response:
        """Follow redirects ourselves so Authorization never goes to another host (blob storage, CDNs)."""
        current, current_headers = url, headers
        for _hop in range(MAX_REDIRECTS + 1):
            target_host = urlsplit(current).netloc
            kwargs = self._tls_kwargs(host if target_host == host else target_host, push)
            resp = self.session.request(
                method,
                current,
                headers=current_headers,
                data=body() if body is not None else None,
                stream=stream,
                allow_redirects=False,
                **kwargs,  # type: ignore[arg-type]
            )
            if (
                not follow
                or resp.status_code not in (301, 302, 303, 307, 308)
                or "Location" not in resp.headers
            ):
                return resp
            location = urljoin(current, resp.headers["Location"])
            resp.close()
            if urlsplit(location).netloc != urlsplit(current).netloc:
                current_headers = {k: v for k, v in current_headers.items() if k.lower() != "authorization"}
            if resp.status_code == 303:
                method, body = "GET", None
            current = location
        raise RegistryError(f"too many redirects from {scrub_url(url)}", code="REDIRECT")

    def _with_retries(
        self, send: Callable[[], requests.Response], what: str, url: str, retries: int
    ) -> requests.Response:
        """Retry connection failures, 408, 429 and 5xx up to ``retries`` times with exponential backoff."""
        attempt = 0
        while True:
            try:
                resp = send()
            except requests.RequestException as err:
                error = error_from_exception(err, what, url)
                if not error.temporary or attempt >= retries:
                    raise error from None
                delay = self.options.retry_base_delay * (2**attempt)
            else:
                if resp.status_code not in TEMPORARY_STATUSES or attempt >= retries:
                    return resp
                retry_after = error_from_response(resp, what).retry_after
                resp.close()
                delay = self.options.retry_base_delay * (2**attempt)
                if retry_after is not None:
                    delay = min(max(delay, retry_after), MAX_RETRY_AFTER)
            attempt += 1
            log.info("%s: retrying (%d/%d) in %.1fs", what, attempt, retries, delay)
            self.sleep(delay)


def _different_authority(old: Challenge | None, new: Challenge) -> bool:
    if old is None:
        return True
    return (old.scheme, old.params.get("realm"), old.params.get("service")) != (
        new.scheme,
        new.params.get("realm"),
        new.params.get("service"),
    )


def _tls_context(host: str, ca: str, options: RegistryOptions) -> ssl.SSLContext:
    """System roots plus ``ca`` (and the host's client certificate), or a clear error naming the file."""
    context = ssl.create_default_context()
    try:
        context.load_verify_locations(cafile=ca)
        client = options.registry_client_certs.get(host)
        if client:
            context.load_cert_chain(client[0], client[1])
    except (OSError, ssl.SSLError) as err:
        raise RegistryError(
            f"cannot load TLS files for {host} ({ca}): {type(err).__name__}: {getattr(err, 'strerror', None) or err}",
            code="TLS",
            hint="check --registry-certificate REGISTRY=CA.pem and --registry-client-cert REGISTRY=CERT,KEY",
        ) from None
    return context
