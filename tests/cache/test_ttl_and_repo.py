"""--cache-ttl arithmetic on registry timestamps, and kaniko's default cache repository."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from kiln.build.cache.layer_cache import expired, parse_created
from kiln.build.cache.store import default_cache_repo

NOW = datetime(2026, 1, 15, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "text",
    [
        "2026-01-15T11:00:00Z",
        "2026-01-15T11:00:00.123456789Z",
        "2026-01-15T12:00:00+01:00",
        "2026-01-15T11:00:00",
    ],
)
def test_parse_created_accepts_rfc3339_variants(text: str) -> None:
    parsed = parse_created(text)
    assert parsed is not None
    assert abs(NOW - parsed - timedelta(hours=1)) < timedelta(seconds=1)


def test_expiry() -> None:
    assert not expired("2026-01-15T11:00:00Z", timedelta(hours=2), NOW)
    assert expired("2026-01-15T09:00:00Z", timedelta(hours=2), NOW)
    assert expired(None, timedelta(days=14), NOW)  # no age: never trusted
    assert expired("yesterday", timedelta(days=14), NOW)


def test_default_cache_repo_follows_the_first_destination() -> None:
    assert (
        default_cache_repo(("reg.example:5000/team/app:1.0", "other.example/x"))
        == "reg.example:5000/team/app/cache"
    )
    assert default_cache_repo(()) == ""
