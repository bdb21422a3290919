"""Keeping secrets out of what kiln prints: URLs lose their userinfo and secret-looking query values."""

from __future__ import annotations

import re
from collections.abc import Iterable

_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:sig|signature|token|access_token|x-amz-signature|key)=)[^&#\s]+")


def scrub_url(url: str) -> str:
    """``url`` without a ``user:password@`` part or signed-URL secrets, fit for logs and errors."""
    url = _USERINFO.sub(lambda m: m.group("scheme") + "***@", url)
    return _SECRET_QUERY.sub(r"\1***", url)


def scrub_text(text: str, secrets: Iterable[str]) -> str:
    """``text`` (e.g. a tool's stderr) with URLs scrubbed and every known secret masked."""
    text = scrub_url(text)
    for secret in secrets:
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, shortened: errors stay one line."""
    for line in text.splitlines():
        line = line.strip()
        if line:
            return line if len(line) <= limit else line[: limit - 3] + "..."
    return ""
