"""Google Artifact Registry and Container Registry: an OAuth2 access token as password of ``oauth2accesstoken``.

The token comes from Application Default Credentials: ``GOOGLE_APPLICATION_CREDENTIALS`` in the given
environment (a service-account key, or a workload identity federation config), else google-auth's own search
(gcloud's ADC file, the GKE/GCE metadata server for workload identity). No credentials -> None (anonymous pulls of
public images keep working); credentials the token endpoint rejects -> AuthError.
"""

from __future__ import annotations

import logging
import re
import threading
import warnings
from collections.abc import Mapping
from typing import Any

from kiln.errors import AuthError
from kiln.registry.cloud.quiet import quiet_loggers
from kiln.registry.keychain import Credential

log = logging.getLogger(__name__)

SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
USERNAME = "oauth2accesstoken"
_GOOGLE_HOST = re.compile(r"^(?:[a-z0-9-]+\.)?gcr\.io$|^[a-z0-9-]+-docker\.pkg\.dev$")


def is_google_host(host: str) -> bool:
    """gcr.io, its regional mirrors (eu.gcr.io, ...) and Artifact Registry (REGION-docker.pkg.dev)."""
    return bool(_GOOGLE_HOST.match(host.lower().split(":", 1)[0]))


class GoogleProvider:
    """Access tokens from ADC, refreshed by google-auth when they expire."""

    def __init__(self, environ: Mapping[str, str], matches: Any = is_google_host) -> None:
        self._environ = environ
        self._matches = matches
        self._credentials: Any = None
        self._searched = False
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "GoogleProvider()"

    def _load(self) -> Any:
        import google.auth
        from google.auth.credentials import with_scopes_if_required
        from google.auth.exceptions import DefaultCredentialsError

        key_file = self._environ.get("GOOGLE_APPLICATION_CREDENTIALS")
        try:
            if key_file:
                with warnings.catch_warnings():  # the user's own ADC file, trusted as gcloud trusts it
                    warnings.simplefilter("ignore", DeprecationWarning)
                    # Loaded unscoped, then scoped: google-auth would otherwise look the project up over the
                    # network for workload identity configs, which a registry login does not need.
                    loaded = google.auth.load_credentials_from_file(key_file)[0]  # type: ignore[no-untyped-call]
                return with_scopes_if_required(loaded, SCOPES)  # type: ignore[no-untyped-call]
            return google.auth.default(scopes=SCOPES)[0]
        except DefaultCredentialsError as err:
            if key_file:
                raise AuthError(
                    f"GOOGLE_APPLICATION_CREDENTIALS file cannot be used: {str(err).splitlines()[0][:200]}",
                    code="CONFIG",
                ) from None
            return None

    def resolve(self, registry: str) -> Credential | None:
        if not self._matches(registry):
            return None
        try:
            from google.auth.exceptions import GoogleAuthError, RefreshError, TransportError
            from google.auth.transport.requests import Request
        except ImportError:
            log.warning(
                "%s is a Google registry; install kiln[gcs] (google-auth) to log in automatically", registry
            )
            return None
        with self._lock:
            if not self._searched:
                self._credentials = self._load()
                self._searched = True
            credentials = self._credentials
            if credentials is None:
                log.debug("no Google credentials for %s; trying anonymously", registry)
                return None
            try:
                if not credentials.valid:
                    with quiet_loggers("google", "urllib3"):
                        credentials.refresh(Request())
            except TransportError as err:
                raise AuthError(
                    f"cannot reach Google's token endpoint for {registry}: {type(err).__name__}",
                    code="CONNECTION",
                    temporary=True,
                ) from None
            except (RefreshError, GoogleAuthError) as err:
                reason = _reason(err)
                raise AuthError(
                    f"Google rejected the credentials for {registry}: {reason}",
                    code="DENIED",
                    hint="check GOOGLE_APPLICATION_CREDENTIALS or the workload identity binding",
                ) from None
            return Credential(username=USERNAME, password=str(credentials.token))


def _reason(err: Exception) -> str:
    """The OAuth error code in a google-auth error, never the request that carried secrets."""
    text = str(err)
    match = re.search(
        r"'error':\s*'([a-z_]+)'|\"error\":\s*\"([a-z_]+)\"|\b(invalid_[a-z_]+|unauthorized_client)\b", text
    )
    if match:
        return next(group for group in match.groups() if group)
    return type(err).__name__
