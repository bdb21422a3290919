"""Go ``fmt`` spellings that BuildKit's history ``created_by`` strings use (``%q`` and ``%v`` of slices).

Matching them byte for byte keeps ``docker history`` of a kiln image identical to BuildKit's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable


def quote(text: str) -> str:
    """Go's ``%q`` of a string (JSON escaping agrees with it for printable text)."""
    return json.dumps(text, ensure_ascii=False)


def quoted_list(items: Iterable[str]) -> str:
    """``%q`` of a ``[]string``: ``["a" "b"]``."""
    return "[" + " ".join(quote(i) for i in items) + "]"


def plain_list(items: Iterable[str]) -> str:
    """``%v`` of a ``[]string``: ``[a b]``."""
    return "[" + " ".join(items) + "]"


def port_map(ports: Iterable[str]) -> str:
    """``%v`` of ``map[string]struct{}``: keys sorted, ``map[80/tcp:{} 53/udp:{}]``."""
    return "map[" + " ".join(f"{p}:{{}}" for p in sorted(ports)) + "]"


def duration(ns: int) -> str:
    """Go's ``time.Duration.String()`` for the values a HEALTHCHECK can hold."""
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_trim(ns / 1_000)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_trim(ns / 1_000_000)}ms"
    hours, rest = divmod(ns, 3600 * 10**9)
    minutes, rest = divmod(rest, 60 * 10**9)
    seconds = _trim(rest / 10**9)
    out = ""
    if hours:
        out += f"{hours}h"
    if hours or minutes:
        out += f"{minutes}m"
    return f"{sign}{out}{seconds}s"


def _trim(value: float) -> str:
    text = f"{value:.9f}".rstrip("0").rstrip(".")
    return text or "0"


def rune(value: int) -> str:
    """``%q`` of an int (Go prints it as a character literal): 3 -> ``'\\x03'``."""
    if 0x20 <= value < 0x7F and chr(value) not in "'\\":
        return f"'{chr(value)}'"
    if value < 0x100:
        return f"'\\x{value:02x}'"
    return f"'\\u{value:04x}'"
