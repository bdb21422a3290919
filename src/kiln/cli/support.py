"""The one table of what kiln accepts by name but does not implement yet.

A flag listed here fails with "not supported yet" (exit 2) whenever it is given a value other than
its default, so nothing is silently ignored; a flag set to its default is accepted. Remove a flag
from the table when its feature lands (docs/flags.md is generated from this table and a test
checks it is up to date: run ``python -m kiln.cli.flagdoc > docs/flags.md``).

Context schemes are not listed here: ``kiln.context.open_context`` raises a ContextError for any
scheme it cannot fetch, which is the same promise (nothing ignored) kept where the schemes live.
"""

from __future__ import annotations

from collections.abc import Mapping

from kiln.errors import NotSupportedYet

# flag name without dashes -> the feature that will implement it
NOT_SUPPORTED_YET: Mapping[str, str] = {}

# command name -> the feature that will implement it
COMMANDS_NOT_SUPPORTED_YET: Mapping[str, str] = {}


def reject_unsupported(given: Mapping[str, object]) -> None:
    """Raise for the first not-yet-supported flag in ``given`` (flag name -> value set by the user)."""
    for name in given:
        feature = NOT_SUPPORTED_YET.get(name)
        if feature is not None:
            raise NotSupportedYet(
                f"--{name} is not supported yet ({feature})", hint="remove the flag or use kaniko"
            )


def reject_unsupported_command(name: str) -> None:
    """Raise when a whole command (the warmer) is not implemented yet."""
    feature = COMMANDS_NOT_SUPPORTED_YET.get(name)
    if feature is not None:
        raise NotSupportedYet(
            f"{name} is not supported yet ({feature})", hint="build without --cache for now"
        )
