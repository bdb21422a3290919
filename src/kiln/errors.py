"""The exception tree every layer raises; it imports nothing from kiln.

Each error renders to one line for the user: what went wrong, where, and (as a
hint) what to do next. The CLI prints ``str(err)`` and exits with ``exit_code``.
"""

from __future__ import annotations

from dataclasses import dataclass


class KilnError(Exception):
    """Base of every error a user can cause or meet; never shown as a traceback."""

    exit_code: int = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} (hint: {self.hint})"
        return self.message


class UsageError(KilnError):
    """A flag, option or argument that cannot be honoured (exit 1, as kaniko)."""


class NotSupportedYet(UsageError):
    """A kaniko flag kiln accepts by name but does not implement yet (exit 2, so scripts can tell)."""

    exit_code = 2


@dataclass(frozen=True)
class Location:
    """Where in a Dockerfile (1-based, inclusive lines)."""

    file: str
    start_line: int
    end_line: int | None = None

    def __str__(self) -> str:
        if self.end_line is not None and self.end_line != self.start_line:
            return f"{self.file}:{self.start_line}-{self.end_line}"
        return f"{self.file}:{self.start_line}"


class LocatedError(KilnError):
    """An error about a Dockerfile line: rendered as ``file:line: message`` when the line is known."""

    def __init__(self, message: str, location: Location | None = None, hint: str | None = None) -> None:
        super().__init__(message, hint)
        self.location = location

    def __str__(self) -> str:
        text = super().__str__()
        return f"{self.location}: {text}" if self.location else text


class DockerfileError(LocatedError):
    """A Dockerfile that cannot be parsed, expanded or resolved."""


class ReferenceError_(KilnError):
    """An image reference that does not parse."""


InvalidReference = ReferenceError_


class RegistryError(KilnError):
    """A registry answered with an error, or could not be reached.

    ``code`` is the distribution-spec error code (MANIFEST_UNKNOWN, DENIED, ...)
    or a transport code (CONNECTION, TLS); ``temporary`` drives retries.
    """

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        temporary: bool = False,
        hint: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.code = code
        self.status = status
        self.temporary = temporary
        self.retry_after = retry_after


class AuthError(RegistryError):
    """Credentials missing, rejected (401) or insufficient (403)."""


class DigestMismatch(KilnError):
    """Bytes whose digest differs from the one they were fetched or stored under."""

    def __init__(self, expected: str, actual: str, what: str = "blob") -> None:
        super().__init__(
            f"{what} digest mismatch: expected {expected}, got {actual}",
            hint="the data was corrupted in transit or at rest; retry, or check the registry/storage",
        )
        self.expected = expected
        self.actual = actual


class LayerError(KilnError):
    """A layer tar that is malformed or tries to escape the root."""


class ContextError(KilnError):
    """A build context that cannot be fetched or read."""


class CacheError(KilnError):
    """A cache that cannot be read or written (usually degraded to a warning)."""


class BuildStepError(LocatedError):
    """A build step failed; a failing RUN carries the command's exit code."""

    def __init__(
        self,
        message: str,
        *,
        location: Location | None = None,
        step: str | None = None,
        exit_code: int | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, location, hint)
        self.step = step
        if exit_code is not None and exit_code > 0:
            self.exit_code = exit_code


class PolicyError(LocatedError):
    """An image the source policy (``--allowed-*``/``--denied-*``) refuses; raised before any request for it."""
