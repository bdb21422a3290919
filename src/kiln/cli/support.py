"""The one table of kaniko flags kiln accepts by name but does not implement yet.

A flag listed here fails with "not supported yet" whenever it is given a value other than its default,
so nothing is silently ignored. Remove a flag from the table when its feature lands.
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.errors import NotSupportedYet

NOT_SUPPORTED_YET: Mapping[str, str] = {
    "cache": "the layer cache",
    "cache-repo": "the layer cache",
    "cache-copy-layers": "the layer cache",
    "cache-run-layers": "the layer cache",
    "cache-ttl": "the layer cache",
    "no-push-cache": "the layer cache",
    "compressed-caching": "the layer cache",
    "use-new-run": "the experimental RUN snapshotter",
}


def reject_unsupported(given: Mapping[str, object]) -> None:
    """Raise for the first not-yet-supported flag in ``given`` (flag name -> value set by the user)."""
    for name in given:
        feature = NOT_SUPPORTED_YET.get(name)
        if feature is not None:
            raise NotSupportedYet(
                f"--{name} is not supported yet ({feature})", hint="remove the flag or use kaniko"
            )
