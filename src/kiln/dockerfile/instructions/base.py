"""Shared pieces of the typed instructions: flag parsing, locations, expansion with located errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum

from kiln.dockerfile.lexer import LexError, expand_word, expand_words
from kiln.errors import DockerfileError, Location


class FlagKind(Enum):
    STRING = "string"
    BOOL = "bool"
    LIST = "list"


FlagValue = str | bool | tuple[str, ...]


@dataclass(frozen=True)
class Instruction:
    """Base of every typed instruction: where it came from and its source text (history ``created_by``)."""

    location: Location
    original: str

    @property
    def keyword(self) -> str:
        return self.original.split(None, 1)[0].upper() if self.original.strip() else ""


def error(where: Location, message: str, hint: str | None = None) -> DockerfileError:
    return DockerfileError(message, where, hint)


def parse_flags(
    keyword: str, words: tuple[str, ...], spec: Mapping[str, FlagKind], where: Location
) -> dict[str, FlagValue]:
    """Validate ``--name[=value]`` words against ``spec``; lists may repeat, others may not."""
    values: dict[str, FlagValue] = {}
    for word in words:
        if not word.startswith("--"):
            raise error(where, f"{keyword}: arg should start with -- : {word}")
        name, has_value, value = word[2:].partition("=")
        kind = spec.get(name)
        if kind is None:
            known = ", ".join(f"--{k}" for k in sorted(spec)) or "none"
            raise error(where, f"{keyword}: unknown flag: --{name}", hint=f"{keyword} accepts: {known}")
        if kind is FlagKind.LIST:
            if not has_value:
                raise error(where, f"{keyword}: missing a value on flag: --{name}")
            previous = values.get(name, ())
            assert isinstance(previous, tuple)
            values[name] = (*previous, value)
            continue
        if name in values:
            raise error(where, f"{keyword}: duplicate flag specified: --{name}")
        if kind is FlagKind.BOOL:
            if not has_value:
                values[name] = True
            elif value.lower() in ("true", "false"):
                values[name] = value.lower() == "true"
            else:
                raise error(where, f"{keyword}: expecting boolean value for flag --{name}, not: {value}")
        else:
            if not has_value:
                raise error(where, f"{keyword}: missing a value on flag: --{name}")
            values[name] = value
    return values


def str_flag(values: Mapping[str, FlagValue], name: str) -> str | None:
    value = values.get(name)
    return value if isinstance(value, str) else None


def bool_flag(values: Mapping[str, FlagValue], name: str) -> bool:
    return values.get(name) is True


def list_flag(values: Mapping[str, FlagValue], name: str) -> tuple[str, ...]:
    value = values.get(name, ())
    return value if isinstance(value, tuple) else ()


@dataclass(frozen=True)
class Expander:
    """Expands words with one env and escape token, turning lexer errors into located errors."""

    env: Mapping[str, str]
    escape: str
    where: Location
    case_insensitive: bool = False

    def word(self, word: str) -> str:
        try:
            return expand_word(word, self.env, self.escape, case_insensitive=self.case_insensitive)
        except LexError as exc:
            raise error(self.where, f"failed to expand {word!r}: {exc}") from None

    def words(self, word: str) -> list[str]:
        try:
            return expand_words(word, self.env, self.escape, case_insensitive=self.case_insensitive)
        except LexError as exc:
            raise error(self.where, f"failed to expand {word!r}: {exc}") from None

    def optional(self, word: str | None) -> str | None:
        return None if word is None else self.word(word)
