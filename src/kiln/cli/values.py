"""Parsers for kaniko's flag value syntaxes (Go durations, ParseBool, k=v maps, git options)."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from kiln.context.base import GitOptions
from kiln.errors import UsageError

_TRUE = {"1", "t", "T", "TRUE", "true", "True"}
_FALSE = {"0", "f", "F", "FALSE", "false", "False"}
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_bool(text: str) -> bool | None:
    """Go's strconv.ParseBool; None when the text is not a boolean."""
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def parse_duration(text: str, flag: str) -> timedelta:
    """A Go duration such as ``336h``, ``1h30m`` or ``90s``."""
    s = text.strip()
    sign = 1.0
    if s[:1] in "+-" and s:
        sign = -1.0 if s[0] == "-" else 1.0
        s = s[1:]
    if s == "0":
        return timedelta(0)
    pos = 0
    total = 0.0
    while pos < len(s):
        m = _DURATION_PART.match(s, pos)
        if m is None:
            raise UsageError(
                f"invalid value {text!r} for {flag}: not a duration", hint="e.g. 336h, 90m, 1h30m"
            )
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    if not s:
        raise UsageError(f"invalid value {text!r} for {flag}: not a duration", hint="e.g. 336h, 90m, 1h30m")
    return timedelta(seconds=sign * total)


def parse_key_values(values: Iterable[str], flag: str) -> dict[str, str]:
    """Repeatable ``key=value``; later wins."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"invalid value {item!r} for {flag}: expected key=value")
        out[key] = value
    return out


def parse_multi_key_values(values: Iterable[str], flag: str) -> dict[str, tuple[str, ...]]:
    """Repeatable ``key=value`` where one value may hold several pairs separated by ``;``."""
    out: dict[str, list[str]] = {}
    for item in values:
        for pair in item.split(";"):
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            if not sep or not key or not value:
                raise UsageError(f"invalid value {pair!r} for {flag}: expected key=value")
            out.setdefault(key, []).append(value)
    return {k: tuple(v) for k, v in out.items()}


def parse_git_options(values: Iterable[str]) -> GitOptions:
    """``--git branch=main,single-branch=true`` (repeatable, comma-separated ``key=value``)."""
    fields: dict[str, object] = {}
    for item in values:
        for pair in item.split(","):
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            if not sep:
                raise UsageError(f"invalid value {pair!r} for --git: expected key=value")
            if key == "branch":
                fields["branch"] = value
                continue
            name = {
                "single-branch": "single_branch",
                "recurse-submodules": "recurse_submodules",
                "insecure-skip-tls": "insecure_skip_tls",
            }.get(key)
            if name is None:
                raise UsageError(
                    f"unknown --git option {key!r}",
                    hint="known: branch, single-branch, recurse-submodules, insecure-skip-tls",
                )
            parsed = parse_bool(value)
            if parsed is None:
                raise UsageError(f"invalid value {value!r} for --git {key}: expected true or false")
            fields[name] = parsed
    return GitOptions(**fields)  # type: ignore[arg-type]


def parse_client_certs(values: Iterable[str]) -> dict[str, tuple[str, str]]:
    """``--registry-client-cert registry=/cert.pem,/key.pem``."""
    out: dict[str, tuple[str, str]] = {}
    for registry, paths in parse_key_values(values, "--registry-client-cert").items():
        cert, sep, key = paths.partition(",")
        if not sep or not cert or not key:
            raise UsageError(
                f"invalid value for --registry-client-cert {registry}: expected registry=/path/cert,/path/key"
            )
        out[registry] = (cert, key)
    return out
