"""Turning registry HTTP answers and transport failures into typed, one-line, secret-free errors.

Why here: every request site needs the same mapping (OCI error body -> code, 401/403 -> AuthError, 429/5xx ->
temporary) and the same scrubbing of URLs (signed blob-storage URLs carry credentials in their query).
"""

from __future__ import annotations

import json
import re
from urllib.parse import urlsplit, urlunsplit

import requests

from kiln.errors import AuthError, RegistryError

TEMPORARY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_STATUS_CODES = {
    401: "UNAUTHORIZED",
    403: "DENIED",
    404: "NOT_FOUND",
    405: "UNSUPPORTED",
    429: "TOOMANYREQUESTS",
}
_URL = re.compile(r"https?://[^\s'\"]+")
AUTH_HINT = "check the credentials for this registry (docker config.json auths/credHelpers, or docker login)"
TLS_HINT = (
    "pass the registry's CA with --registry-certificate REGISTRY=ca.pem, "
    "or (unsafe) --skip-tls-verify / --skip-tls-verify-registry REGISTRY"
)


def scrub_url(url: str) -> str:
    """A URL without userinfo, query or fragment (signed URLs and tokens live there)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<url>"
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def scrub_text(text: str) -> str:
    return _URL.sub(lambda m: scrub_url(m.group(0)), text)


def parse_error_body(resp: requests.Response) -> tuple[str | None, str | None]:
    """The first (code, message) of an OCI distribution error body, if the body is one."""
    try:
        data = json.loads(resp.content[:65536] or b"{}")
    except (ValueError, RuntimeError, requests.RequestException):  # a body cut off is no body
        return None, None
    errors = data.get("errors") if isinstance(data, dict) else None
    if isinstance(errors, list) and errors and isinstance(errors[0], dict):
        code = errors[0].get("code")
        message = errors[0].get("message")
        detail = errors[0].get("detail")
        text = str(message) if message else None
        if detail and isinstance(detail, (str, int, float)):
            text = f"{text}: {detail}" if text else str(detail)
        return (str(code) if code else None), text
    return None, None


def retry_after_seconds(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    import datetime

    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def error_from_response(resp: requests.Response, what: str, default_code: str | None = None) -> RegistryError:
    """A RegistryError (AuthError for 401/403) naming what failed, where, the registry's code and message."""
    code, message = parse_error_body(resp)
    status = resp.status_code
    code = code or (default_code if status == 404 else None) or _STATUS_CODES.get(status) or f"HTTP_{status}"
    text = f"{what}: {scrub_url(resp.url)} answered {status} {code}"
    if message:
        text += f": {scrub_text(message)[:300]}"
    temporary = status in TEMPORARY_STATUSES
    if status in (401, 403):
        return AuthError(text, code=code, status=status, hint=AUTH_HINT)
    hint = None
    if code in ("MANIFEST_UNKNOWN", "NAME_UNKNOWN", "NOT_FOUND"):
        hint = "check the image name and tag exist in that registry"
    elif temporary:
        hint = "the registry is busy or failing; retry later or raise --push-retry / --image-download-retry"
    return RegistryError(
        text, code=code, status=status, temporary=temporary, hint=hint, retry_after=retry_after_seconds(resp)
    )


def error_from_exception(err: requests.RequestException, what: str, url: str) -> RegistryError:
    """CONNECTION or TLS errors for failures below HTTP."""
    where = scrub_url(url)
    if isinstance(err, requests.exceptions.SSLError):
        reason = _ssl_reason(err)
        hint = TLS_HINT
        if "WRONG_VERSION_NUMBER" in str(err):
            hint = "the registry seems to speak plain HTTP; allow it with --insecure-registry HOST (or --insecure)"
        return RegistryError(f"{what}: TLS handshake with {where} failed: {reason}", code="TLS", hint=hint)
    if isinstance(err, requests.exceptions.Timeout):
        return RegistryError(
            f"{what}: {where} timed out",
            code="CONNECTION",
            temporary=True,
            hint="check the registry is reachable; raise --push-retry/--image-download-retry",
        )
    return RegistryError(
        f"{what}: cannot reach {where}: {_short(err)}",
        code="CONNECTION",
        temporary=True,
        hint="check the registry host and port, DNS and proxies; use --insecure-registry for plain-HTTP registries",
    )


def _ssl_reason(err: Exception) -> str:
    text = str(err)
    for marker in ("CERTIFICATE_VERIFY_FAILED", "WRONG_VERSION_NUMBER", "hostname mismatch", "certificate"):
        if marker in text:
            match = re.search(r"\[SSL: ([A-Z_]+)\][^('\"]*", text)
            return scrub_text(match.group(0)).strip() if match else marker
    return scrub_text(text)[:200]


def _short(err: Exception) -> str:
    text = str(err)
    for marker in ("Connection refused", "Name or service not known", "Connection reset", "timed out"):
        if marker in text:
            return marker
    return scrub_text(text)[:200]
