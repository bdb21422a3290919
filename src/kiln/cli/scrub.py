"""Masking secrets in everything the CLI prints (errors and log lines).

Lower layers already keep credentials out of their messages; this is the last line of defence
for what they could not know: the values behind ``--secret id=..,env=VAR``, well-known credential
variables of CI systems and cloud SDKs, and ``user:password@`` in any URL.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping

MASK = "***"
# Environment variables that hold credentials kiln (or a tool it runs) may use.
CREDENTIAL_VARIABLES = (
    "GIT_PASSWORD",
    "GIT_TOKEN",
    "CI_REGISTRY_PASSWORD",
    "CI_JOB_TOKEN",
    "AZURE_STORAGE_ACCESS_KEY",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "GITHUB_TOKEN",
)
_MIN_SECRET_LENGTH = 4  # shorter values ("1", "yes") would mask ordinary words
_URL_USERINFO = re.compile(r"([a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


class Scrubber:
    """Knows the secret values of one run and masks them in text.

    One instance per command invocation, handed to click as ``obj`` so commands can add the
    secrets they learn about while the error renderer and the log formatter use them.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets.update(s for s in secrets if len(s) >= _MIN_SECRET_LENGTH)

    def add_from_environ(self, environ: Mapping[str, str], names: Iterable[str]) -> None:
        """Treat the values of these environment variables as secrets."""
        self.add(environ[name] for name in names if name in environ)

    def __call__(self, text: str) -> str:
        text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
        for secret in sorted(self._secrets, key=len, reverse=True):  # longest first: no partial leaks
            text = text.replace(secret, MASK)
        return text

    def __repr__(self) -> str:
        return f"Scrubber({len(self._secrets)} secrets)"


class ScrubbingFormatter(logging.Formatter):
    """Wraps a formatter so every finished log line passes through a Scrubber."""

    def __init__(self, inner: logging.Formatter, scrub: Scrubber) -> None:
        super().__init__()
        self._inner = inner
        self._scrub = scrub

    def format(self, record: logging.LogRecord) -> str:
        return self._scrub(self._inner.format(record))
