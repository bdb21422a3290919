"""A ``docker-credential-<name>`` helper found on PATH, asked for the registries it is meant for.

Why: kaniko's image ships the ECR, GCR and ACR helpers and its keychain asks them without any config.json entry;
users who keep those helpers (or their own) on PATH expect the same.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping

from kiln.registry.keychain import Credential, CredentialHelper


class HelperOnPathProvider:
    """Asks ``docker-credential-<name> get`` for matching registries, only if the program is on PATH."""

    def __init__(self, name: str, matches: Callable[[str], bool], environ: Mapping[str, str]) -> None:
        self.name = name
        self._matches = matches
        self._environ = environ

    def __repr__(self) -> str:
        return f"HelperOnPathProvider({self.name!r})"

    def resolve(self, registry: str) -> Credential | None:
        if not self._matches(registry):
            return None
        program = f"docker-credential-{self.name}"
        if shutil.which(program, path=self._environ.get("PATH")) is None:
            return None
        return CredentialHelper(self.name, self._environ).get(registry, missing_ok=True)
