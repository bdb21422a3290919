"""Hostile Dockerfiles, shell words and .dockerignore files: each ends in a result or a kiln error (DockerfileError,
or the lexer's LexError that the instructions turn into one), never another exception or a hang.

Inputs are built from the pieces that make parsers fall over -- continuations and escape directives, heredoc
markers, unbalanced quotes and braces, JSON-looking forms, ``${VAR:-${VAR%%pattern}}`` nests, CR/LF/BOM, NULs --
mixed with plain random text. Every input runs under a time limit, so a pathological (exponential) case fails.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kiln.dockerfile import IgnoreMatcher, LexError, build_stages, expand_word, expand_words, parse_dockerfile
from kiln.errors import KilnError
from reliability import stats
from reliability.fuzzing import TooSlow, remove_tree, tally, time_limit

SETTINGS = settings(
    max_examples=stats.examples(),
    deadline=None,
    derandomize=True,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
    database=None,
)

KEYWORDS = st.sampled_from(
    [
        "FROM", "RUN", "CMD", "COPY", "ADD", "ENV", "ARG", "LABEL", "WORKDIR", "USER", "EXPOSE", "VOLUME",
        "ENTRYPOINT", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "MAINTAINER", "from", "NOPE", "#", "# escape=`",
        "# syntax=docker/dockerfile:1", "# escape=\\",
    ]
)  # fmt: skip
FRAGMENTS = st.sampled_from(
    [
        " ", "\\", "\\\n", "`", "`\n", "\n", "\r\n", "\t", '"', "'", "$", "${", "}", "${A:-", "${A:+x}", "${A%%*}",
        "${A##*/}", "${A/x/y}", "$$", "[", "]", '["sh", "-c"]', '["a"', "<<EOF", "<<-EOF", "<<'EOF'", "EOF", "=",
        "--from=", "--mount=type=cache,target=/x", "--chown=1:1", "--platform=$BUILDPLATFORM", "AS", "base", "a=b",
        "scratch", "alpine:3", "\x00", "\ufeff", "ü", "*", "?", "**", "{", "(", ")", "--interval=", "NONE", "0",
    ]
)  # fmt: skip
LINES = st.lists(st.one_of(KEYWORDS, FRAGMENTS, st.text(max_size=12)), min_size=1, max_size=12).map("".join)
INSTRUCTION = st.tuples(
    st.sampled_from(
        ["RUN", "CMD", "ENV", "ARG", "LABEL", "WORKDIR", "USER", "EXPOSE", "COPY", "ENTRYPOINT", "SHELL"]
    ),
    st.lists(
        st.one_of(FRAGMENTS, st.sampled_from(["a", "b=c", "/x", "A=1", "$A", "8080/tcp", "src", "dst/"])),
        min_size=1,
        max_size=6,
    ),
).map(lambda kv: kv[0] + " " + " ".join(kv[1]))
# mostly-valid files reach the typing and expansion stages; the rest stress the parser itself
STRUCTURED = st.tuples(
    st.sampled_from(["", "# escape=`\n", "# syntax=docker/dockerfile:1\n", "ARG BASE=scratch\n"]),
    st.sampled_from(
        ["FROM scratch", "FROM alpine:3 AS base", "FROM ${BASE}", "FROM --platform=$BUILDPLATFORM busybox"]
    ),
    st.lists(INSTRUCTION, max_size=10),
).map(lambda t: t[0] + t[1] + "\n" + "\n".join(t[2]) + "\n")
DOCKERFILES = st.one_of(
    STRUCTURED,
    STRUCTURED,
    st.lists(LINES, min_size=1, max_size=12).map("\n".join),
    st.text(max_size=300),
)
WORDS = st.lists(
    st.one_of(FRAGMENTS, st.sampled_from(["A", "B", "x", "*", "/"]), st.text(max_size=6)), max_size=20
).map("".join)
ENV = st.dictionaries(st.sampled_from(["A", "B", "HOME", "PATH"]), st.text(max_size=30), max_size=4)


def test_dockerfiles_parse_type_and_expand_or_fail_cleanly() -> None:
    with tally("Dockerfile parse + stages + expand") as counted:

        @SETTINGS
        @given(text=DOCKERFILES, args=ENV, env=ENV)
        def check(text: str, args: dict[str, str], env: dict[str, str]) -> None:
            counted.inputs += 1
            try:
                with time_limit(5):
                    parsed = parse_dockerfile(text, "Dockerfile")
                    graph = build_stages(parsed, args)
                    for stage in graph.stages:
                        for instruction in stage.instructions:
                            expand = getattr(instruction, "expand", None)
                            if expand is not None:
                                expand(env, graph.escape)
            except KilnError:
                counted.rejected += 1
            except TooSlow as err:
                counted.crashes.append(f"{err}: {text!r}")
                raise
            except Exception as err:
                counted.crashes.append(f"{type(err).__name__}: {err}: {text!r}")
                raise

        check()
    assert counted.inputs > 0 and not counted.crashes


def test_shell_words_expand_or_fail_cleanly() -> None:
    with tally("shell lexer (expand_word/expand_words)") as counted:

        @SETTINGS
        @given(word=WORDS, env=ENV, escape=st.sampled_from(["\\", "`"]), long=st.integers(0, 3000))
        def check(word: str, env: dict[str, str], escape: str, long: int) -> None:
            counted.inputs += 1
            env = {**env, "LONG": "ab" * long}
            try:
                with time_limit(5):
                    expand_word(word, env, escape)
                    expand_words(word.replace("A", "LONG"), env, escape)
            except (LexError, KilnError):
                counted.rejected += 1
            except Exception as err:
                counted.crashes.append(f"{type(err).__name__}: {err}: {word!r}")
                raise

        check()
    assert counted.inputs > 0 and not counted.crashes


IGNORE_PIECES = st.sampled_from(
    [
        "*",
        "**",
        "?",
        "[",
        "]",
        "[a-",
        "[^a]",
        "\\",
        "!",
        "/",
        "..",
        ".",
        "a",
        "b",
        "c",
        " ",
        "#",
        "\\*",
        "{",
        "}",
    ]
)
PATTERNS = st.lists(st.lists(IGNORE_PIECES, max_size=10).map("".join), max_size=8)
PATHS = st.lists(
    st.lists(st.sampled_from(["a", "b", "c", "..", ".", "*", "[", "x" * 50]), min_size=1, max_size=30).map(
        "/".join
    ),
    max_size=6,
)


def test_dockerignore_patterns_match_or_fail_cleanly() -> None:
    with tally(".dockerignore matcher") as counted:

        @SETTINGS
        @given(patterns=PATTERNS, paths=PATHS)
        def check(patterns: list[str], paths: list[str]) -> None:
            counted.inputs += 1
            try:
                with time_limit(5):
                    matcher = IgnoreMatcher(patterns)
                    for path in paths:
                        assert isinstance(matcher.matches(path), bool)
                        matcher.may_reinclude_under(path)
            except KilnError:
                counted.rejected += 1
            except Exception as err:
                counted.crashes.append(f"{type(err).__name__}: {err}: {patterns!r}")
                raise

        check()
    assert counted.inputs > 0 and not counted.crashes


def test_literal_pattern_and_its_negation() -> None:
    """Two properties any matcher must keep: a literal name matches itself, and ``!name`` after it re-includes."""
    with tally(".dockerignore literal/negation property") as counted:

        @SETTINGS
        @given(
            parts=st.lists(
                st.text(alphabet="abcxyz_-.", min_size=1, max_size=8).filter(lambda p: p not in (".", "..")),
                min_size=1,
                max_size=5,
            )
        )
        def check(parts: list[str]) -> None:
            counted.inputs += 1
            path = "/".join(parts)
            assert IgnoreMatcher([path]).matches(path)
            assert IgnoreMatcher([path]).matches(path + "/inner/file")
            assert not IgnoreMatcher([path, "!" + path]).matches(path)

        check()
    assert counted.inputs > 0


def test_walk_of_a_very_deep_context(tmp_path: Path) -> None:
    """A context tarball may hold a directory chain 1000 deep (unpacking it is fine): walking it must be too."""
    context = tmp_path / "ctx"
    deep = context
    context.mkdir()
    for _ in range(1000):  # pathlib's mkdir(parents=True) recurses per level
        deep = deep / "d"
        deep.mkdir()
    (deep / "f").write_text("x")
    counted_error: str | None = None
    try:
        with time_limit(30):
            walked = list(IgnoreMatcher(["**/nothing"]).walk(context))
    except KilnError as err:
        walked, counted_error = [], str(err)
    finally:
        remove_tree(context)
    stats.record(
        "fuzz", "context walk 1000 deep", inputs=1, rejected=int(counted_error is not None), crashes=0
    )
    assert len(walked) == 1001
