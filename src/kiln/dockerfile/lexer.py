"""Shell word expansion as BuildKit's Dockerfile lexer does it (a leaf module).

BuildKit expands variables per instruction at dispatch time, with the env seen at
that point, using a small POSIX-like lexer (not a shell): quotes, the escape
token, ``$V``/``${V}`` and the ``${V<op>word}`` modifiers.  Errors are raised as
:class:`LexError` (plain message); callers add the Dockerfile location.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_SPECIAL_PARAMS = frozenset("@*#?-$!0")
_EOF = ""


def is_space(ch: str) -> bool:
    """Go's unicode.IsSpace: Python's isspace() minus the ASCII separators \\x1c-\\x1f."""
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


class LexError(ValueError):
    """An expansion that cannot be performed (unterminated quote, bad modifier, ${V?msg})."""


@dataclass
class _Words:
    """Accumulates words the way BuildKit splits them: unquoted whitespace separates words."""

    words: list[str] = field(default_factory=list)
    word: str = ""
    in_word: bool = False

    def add_char(self, ch: str) -> None:
        if is_space(ch):
            if self.in_word and self.word:
                self.words.append(self.word)
                self.word = ""
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, text: str) -> None:
        self.word += text
        self.in_word = True

    def add_string(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def result(self) -> list[str]:
        return [*self.words, self.word] if self.word else list(self.words)


class _Scanner:
    def __init__(
        self,
        text: str,
        env: Mapping[str, str],
        escape: str,
        *,
        case_insensitive: bool = False,
        raw_quotes: bool = False,
        raw_escapes: bool = False,
        skip_unset: bool = False,
        skip_quotes: bool = False,
    ) -> None:
        self.text = text
        self.pos = 0
        self.env = env
        self.escape = escape
        self.case_insensitive = case_insensitive
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else _EOF

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def lookup(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            return self.env[name], True
        if self.case_insensitive:
            folded = name.casefold()
            for key, value in self.env.items():
                if key.casefold() == folded:
                    return value, True
        return "", False

    def process(self, stop: str, raw_escapes: bool | None = None) -> tuple[str, list[str]]:
        """Read up to ``stop`` (or the end when stop is empty); return the text and its words."""
        saved = self.raw_escapes
        if raw_escapes is not None:
            self.raw_escapes = raw_escapes
        try:
            return self._process(stop)
        finally:
            self.raw_escapes = saved

    def _process(self, stop: str) -> tuple[str, list[str]]:
        out: list[str] = []
        words = _Words()
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch == "$":
                part = self.dollar()
                out.append(part)
                words.add_string(part)
            elif ch == "'" and not self.skip_quotes:
                part = self.single_quote()
                out.append(part)
                words.add_raw(part)
            elif ch == '"' and not self.skip_quotes:
                part = self.double_quote()
                out.append(part)
                words.add_raw(part)
            else:
                ch = self.next()
                if ch == self.escape:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def single_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        quote = self.next()
        out = [quote] if self.raw_quotes else []
        while True:
            ch = self.peek()
            if not ch:
                raise LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.escape:
                following = self.peek()
                if not following:
                    continue
                if following in ('"', "$", self.escape):
                    if self.raw_escapes:
                        out.append(ch)
                    ch = self.next()
            out.append(ch)

    def name(self) -> str:
        chars: list[str] = []
        while self.peek():
            ch = self.peek()
            if not chars and ch.isdigit():
                while self.peek() and self.peek().isdigit():
                    chars.append(self.next())
                return "".join(chars)
            if not chars and ch in _SPECIAL_PARAMS:
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            chars.append(self.next())
        return "".join(chars)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "$" + name
            return value
        self.next()
        first = self.peek()
        if not first:
            raise LexError("syntax error: missing '}'")
        if first in "{}:":
            raise LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if ch == "}":
            value, found = self.lookup(name)
            if not found and self.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        modifier = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            modifier += ch
        if not ch:
            raise LexError("syntax error: missing '}'")
        if not null_is_unset and ch not in ("+", "-", "?", "#", "%"):
            raise LexError(f"unsupported modifier ({modifier}) in substitution")
        trims = ch in ("#", "%")
        if null_is_unset and trims:
            raise LexError(f"unsupported modifier ({modifier}) in substitution")
        try:
            word, _ = self.process("}", raw_escapes=trims)
        except LexError:
            if not self.peek():
                raise LexError("syntax error: missing '}'") from None
            raise
        if ch not in ("+", "-", "?", "#", "%"):
            raise LexError(f"unsupported modifier ({modifier}) in substitution")
        value, is_set = self.lookup(name)
        if self.skip_unset and not is_set:
            return "${" + name + modifier + word + "}"
        empty = null_is_unset and value == ""
        if ch == "-":
            return word if (not is_set or empty) else value
        if ch == "+":
            return "" if (not is_set or empty) else word
        if ch == "?":
            if not is_set:
                raise LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if empty:
                raise LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word.startswith(ch)
        if greedy:
            word = word[1:]
        return _trim(value, word, greedy, suffix=ch == "%", escape=self.escape)

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.process("/", raw_escapes=True)
        except LexError:
            if not self.peek():
                raise LexError("syntax error: missing '/' in ${}") from None
            raise
        try:
            replacement, _ = self.process("}", raw_escapes=True)
        except LexError:
            if not self.peek():
                raise LexError("syntax error: missing '}'") from None
            raise
        value, is_set = self.lookup(name)
        if self.skip_unset and not is_set:
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = re.compile(glob_to_regex(pattern, greedy=True, escape=self.escape), re.DOTALL)
        if replace_all:
            return regex.sub(lambda _m: replacement, value)
        match = regex.search(value)
        if match is None:
            return value
        return value[: match.start()] + replacement + value[match.end() :]


def glob_to_regex(pattern: str, *, greedy: bool, escape: str = "\\") -> str:
    """Translate a shell pattern (``*``, ``?``, ``[...]``, escapes) into a Python regex."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(".*" if greedy else ".*?")
        elif ch == "?":
            out.append(".")
        elif ch == escape or ch == "\\":
            if i < len(pattern):
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(re.escape(ch))
        elif ch == "[":
            end = pattern.find("]", i + 1 if i < len(pattern) and pattern[i] in "!^" else i)
            if end < 0:
                out.append(re.escape(ch))
                continue
            body = pattern[i:end]
            i = end + 1
            negate = body[:1] in ("!", "^")
            if negate:
                body = body[1:]
            body = body.replace("\\", "\\\\").replace("^", "\\^") if body else body
            out.append("[" + ("^" if negate else "") + body + "]")
        else:
            out.append(re.escape(ch))
    return "".join(out)


def _trim(value: str, pattern: str, greedy: bool, *, suffix: bool, escape: str) -> str:
    regex = re.compile(glob_to_regex(pattern, greedy=True, escape=escape), re.DOTALL)
    lengths = range(len(value), -1, -1) if greedy else range(len(value) + 1)
    for n in lengths:
        part = value[len(value) - n :] if suffix else value[:n]
        if regex.fullmatch(part):
            return value[: len(value) - n] if suffix else value[n:]
    return value


def expand_word(
    word: str, env: Mapping[str, str], escape: str = "\\", *, case_insensitive: bool = False
) -> str:
    """Expand one word without splitting it (ENV values, WORKDIR, USER, COPY paths...)."""
    scanner = _Scanner(word, env, escape, case_insensitive=case_insensitive)
    text, _ = scanner.process(_EOF)
    return text


def expand_words(
    word: str, env: Mapping[str, str], escape: str = "\\", *, case_insensitive: bool = False
) -> list[str]:
    """Expand and split on unquoted whitespace (also whitespace coming from variable values)."""
    scanner = _Scanner(word, env, escape, case_insensitive=case_insensitive)
    _, words = scanner.process(_EOF)
    return words


def split_raw_words(text: str, *, raw_escapes: bool, skip_unset: bool) -> list[str]:
    """Split with quotes kept (used to find heredoc markers); unset variables are kept literally."""
    scanner = _Scanner(text, {}, "\\", raw_quotes=True, raw_escapes=raw_escapes, skip_unset=skip_unset)
    _, words = scanner.process(_EOF)
    return words


def split_words_skip_unset(text: str) -> list[str]:
    """Split with quotes removed and unset variables kept literally (heredoc names)."""
    scanner = _Scanner(text, {}, "\\", skip_unset=True)
    _, words = scanner.process(_EOF)
    return words


def expand_heredoc(content: str, env: Mapping[str, str], escape: str = "\\") -> str:
    """Expand a here-document body: variables and escapes, but quotes stay literal characters."""
    scanner = _Scanner(content, env, escape, skip_quotes=True)
    text, _ = scanner.process(_EOF)
    return text
