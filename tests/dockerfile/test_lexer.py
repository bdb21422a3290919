"""Table tests for BuildKit-compatible word expansion (kiln.dockerfile.lexer)."""

from __future__ import annotations

import pytest

from kiln.dockerfile.lexer import LexError, expand_word, expand_words

ENV = {
    "PWD": "/home",
    "SHELL": "bash",
    "EMPTY": "",
    "SPACED": "a  b",
    "PATHV": "/usr/local/bin/tool",
    "FILE": "archive.tar.gz",
}

WORD_CASES = [
    ("hello", "hello"),
    ("he'll'o", "hello"),
    ("he\\'llo", "he'llo"),
    ("abc\\\\", "abc\\"),
    ('"abc\\\\"', "abc\\"),
    ("'abc\\\\'", "abc\\\\"),
    ('"a\\b"', "a\\b"),
    ('"a\\"b"', 'a"b'),
    ('"a\\$b"', "a$b"),
    ("\\$PWD", "$PWD"),
    ("$PWD", "/home"),
    ("${PWD}", "/home"),
    ("$PWD$PWD", "/home/home"),
    ("'$PWD'", "$PWD"),
    ('"$PWD"', "/home"),
    ("${PWD}x", "/homex"),
    ("$PWDx", ""),
    ("$", "$"),
    ("a$", "a$"),
    ("$ x", "$ x"),
    ("$1", ""),
    ("$UNSET", ""),
    ("${UNSET:-def}", "def"),
    ("${EMPTY:-def}", "def"),
    ("${EMPTY-def}", ""),
    ("${UNSET-def}", "def"),
    ("${PWD:-def}", "/home"),
    ("${PWD:+alt}", "alt"),
    ("${EMPTY:+alt}", ""),
    ("${EMPTY+alt}", "alt"),
    ("${UNSET+alt}", ""),
    ("${UNSET:-$PWD}", "/home"),
    ("${UNSET:-'$PWD'}", "$PWD"),
    ("${PWD:?oops}", "/home"),
    ("${PATHV#*/}", "usr/local/bin/tool"),
    ("${PATHV##*/}", "tool"),
    ("${PATHV%/*}", "/usr/local/bin"),
    ("${PATHV%%/*}", ""),
    ("${FILE%.*}", "archive.tar"),
    ("${FILE%%.*}", "archive"),
    ("${FILE#*.}", "tar.gz"),
    ("${FILE##*.}", "gz"),
    ("${FILE#nomatch}", "archive.tar.gz"),
    ("${FILE%t?r.gz}", "archive."),
    ("${FILE/a/A}", "Archive.tar.gz"),
    ("${FILE//a/A}", "Archive.tAr.gz"),
    ("${FILE/.*/}", "archive"),
    ("${UNSET/a/b}", ""),
    ("${SPACED}", "a  b"),
    ("x${SHELL}y", "xbashy"),
    ("${SHELL:-a b}", "bash"),
]


@pytest.mark.parametrize(("word", "expected"), WORD_CASES)
def test_expand_word(word: str, expected: str) -> None:
    assert expand_word(word, ENV) == expected


WORDS_CASES = [
    ("a b  c", ["a", "b", "c"]),
    ('"a b" c', ["a b", "c"]),
    ("'a b'c d", ["a bc", "d"]),
    ("$SPACED", ["a", "b"]),
    ('"$SPACED"', ["a  b"]),
    ("x$SPACED", ["xa", "b"]),
    ('a"" b', ["a", "b"]),
    ('""', []),
    ("", []),
    ("   ", []),
    ("a\\ b", ["a b"]),
    ("${UNSET:-x y}", ["x", "y"]),
    ("$EMPTY", []),
    ("${FILE%%.*} $PWD", ["archive", "/home"]),
]


@pytest.mark.parametrize(("word", "expected"), WORDS_CASES)
def test_expand_words(word: str, expected: list[str]) -> None:
    assert expand_words(word, ENV) == expected


BACKTICK_CASES = [
    ("a\\b", "a\\b"),
    ("a`$PWD", "a$PWD"),
    ("C:\\path\\$SHELL", "C:\\path\\bash"),
    ('"a`"b"', 'a"b'),
    ("x``", "x`"),
]


@pytest.mark.parametrize(("word", "expected"), BACKTICK_CASES)
def test_backtick_escape(word: str, expected: str) -> None:
    assert expand_word(word, ENV, "`") == expected


ERROR_CASES = [
    ("he'llo", "single-quote"),
    ('"abc', "double-quote"),
    ("he\\\\'llo", "single-quote"),
    ("${}", "bad substitution"),
    ("${:x}", "bad substitution"),
    ("${{x}", "bad substitution"),
    ("${PWD", "missing '}'"),
    ("${", "missing '}'"),
    ("${PWD:-x", "missing '}'"),
    ("${UNSET?}", "UNSET: is not allowed to be unset"),
    ("${UNSET:?}", "UNSET: is not allowed to be unset"),
    ("${EMPTY:?}", "EMPTY: is not allowed to be empty"),
    ("${UNSET?custom message}", "UNSET: custom message"),
    ("${PWD:#x}", "unsupported modifier (:#)"),
    ("${PWD:%x}", "unsupported modifier (:%)"),
    ("${PWD!x}", "unsupported modifier (!)"),
    ("${PWD:=x}", "unsupported modifier (:=)"),
    ("${PWD/x", "missing '/'"),
    ("${FILE//.}", "missing '/'"),
    ("${PWD:x}", "unsupported modifier (:x)"),
    ("${PWD:x", "missing '}'"),
    ("${PWD:}", "missing '}'"),
    ("${PWD:}x}", "unsupported modifier (:})"),
    ("${PWD/x/y", "missing '}'"),
]


@pytest.mark.parametrize(("word", "message"), ERROR_CASES)
def test_errors(word: str, message: str) -> None:
    with pytest.raises(LexError, match=message.replace("(", r"\(").replace(")", r"\)")):
        expand_word(word, ENV)


def test_empty_value_with_question_mark_is_allowed_when_only_unset_is_checked() -> None:
    assert expand_word("${EMPTY?}", ENV) == ""


def test_case_insensitive_lookup_only_when_asked() -> None:
    env = {"Path": "C:\\bin"}
    assert expand_word("$PATH", env) == ""
    assert expand_word("$PATH", env, case_insensitive=True) == "C:\\bin"


def test_values_are_not_re_expanded() -> None:
    assert expand_word("$A", {"A": "$B", "B": "no"}) == "$B"
