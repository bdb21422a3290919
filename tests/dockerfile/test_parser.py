"""Golden and error tests for the Dockerfile parser (text -> nodes with line ranges)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.cli.debug import node_to_json
from kiln.dockerfile.parser import parse_dockerfile
from kiln.errors import DockerfileError

GOLDEN = Path(__file__).parent / "golden"
CASES = sorted(p.stem for p in GOLDEN.glob("*.Dockerfile"))


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    text = (GOLDEN / f"{name}.Dockerfile").read_bytes().decode()
    parsed = parse_dockerfile(text, f"{name}.Dockerfile")
    got = [node_to_json(node) for node in parsed.nodes]
    expected = [json.loads(line) for line in (GOLDEN / f"{name}.jsonl").read_text().splitlines()]
    assert got == expected


def test_golden_set_covers_the_tricky_patterns() -> None:
    assert {"continuations", "escape_backtick", "forms", "heredocs", "crlf", "bom", "directives"} <= set(
        CASES
    )


def test_directives_are_read_and_escape_applies() -> None:
    parsed = parse_dockerfile((GOLDEN / "directives.Dockerfile").read_text())
    assert parsed.directives == {"check": "skip=all", "syntax": "docker/dockerfile:1", "escape": "`"}
    assert parsed.escape == "`"


def test_directive_after_instruction_is_a_comment() -> None:
    parsed = parse_dockerfile("FROM a\n# escape=`\nRUN x \\\n y\n")
    assert parsed.escape == "\\"
    assert parsed.directives == {}
    assert parsed.nodes[1].args == ("x  y",)


def test_unknown_directive_ends_directive_section() -> None:
    parsed = parse_dockerfile("# foo=bar\n# escape=`\nFROM a\n")
    assert parsed.directives == {}
    assert parsed.escape == "\\"


def test_keyword_case_and_original_are_kept() -> None:
    node = parse_dockerfile("from alpine AS Build\n").nodes[0]
    assert node.keyword == "from"
    assert node.cmd == "from"
    assert node.original == "from alpine AS Build"


def test_flags_quotes_removed_and_double_dash_ends_flags() -> None:
    node = parse_dockerfile("FROM a\nCOPY --chown='a b' --from=\"x\" -- --notaflag /d\n").nodes[1]
    assert node.flags == ("--chown=a b", "--from=x")
    assert node.args == ("--notaflag", "/d")


def test_json_with_trailing_text_takes_the_array_like_go_decoder() -> None:
    node = parse_dockerfile('FROM a\nCMD ["a"] trailing\n').nodes[1]
    assert node.json is True
    assert node.args == ("a",)


def test_nan_is_not_json() -> None:
    node = parse_dockerfile("FROM a\nCMD [NaN]\n").nodes[1]
    assert node.json is False


ERRORS = [
    ("", "file with no instructions", 1, 1),
    ("# just a comment\n\n", "file with no instructions", None, None),
    ('FROM a\nCMD ["a", 1]\n', "arrays must be comprised of strings only", 2, 2),
    ('FROM a\nRUN ["a", \\\n  null]\n', "arrays must be comprised of strings only", 2, 3),
    ("FROM a\nENV onlykey\n", "ENV must have two arguments", 2, 2),
    ("FROM a\nLABEL a=b c\n", 'can\'t find = in "c"', 2, 2),
    ("# escape=x\nFROM a\n", "invalid escape token", 1, 1),
    ("# escape=`\n# escape=`\nFROM a\n", "only one escape parser directive", 2, 2),
    ("FROM a\nRUN <<EOF\nbody\n", "unterminated heredoc", 2, 3),
    ("FROM a\nCOPY <<A <<B /x\nA\nnever ends\n", "unterminated heredoc", 2, 4),
]


@pytest.mark.parametrize(("text", "message", "start", "end"), ERRORS)
def test_errors_are_located(text: str, message: str, start: int | None, end: int | None) -> None:
    with pytest.raises(DockerfileError, match=message) as info:
        parse_dockerfile(text, "Dockerfile")
    location = info.value.location
    assert location is not None
    assert location.file == "Dockerfile"
    if start is not None:
        assert (location.start_line, location.end_line) == (start, end)
    assert str(info.value).startswith("Dockerfile:")


def test_heredoc_with_chomp_matches_tab_indented_terminator_only() -> None:
    parsed = parse_dockerfile("FROM a\nRUN <<-X\n\tbody\n\tX\nRUN <<Y\n\tY\nY\n")
    assert parsed.nodes[1].heredocs[0].content == "\tbody\n"
    assert parsed.nodes[2].heredocs[0].content == "\tY\n"
    assert (parsed.nodes[2].start_line, parsed.nodes[2].end_line) == (5, 7)


def test_heredoc_in_other_instructions_is_plain_text() -> None:
    node = parse_dockerfile("FROM a\nLABEL x=<<EOF\n").nodes[1]
    assert node.heredocs == ()
    assert node.args == ("x=<<EOF",)


def test_crlf_heredoc_terminator() -> None:
    node = parse_dockerfile("FROM a\r\nRUN <<EOF\r\nhi\r\nEOF\r\n").nodes[1]
    assert node.heredocs[0].name == "EOF"
    assert node.heredocs[0].content == "hi\r\n"


def test_continuation_at_end_of_file() -> None:
    node = parse_dockerfile("FROM a\nRUN echo \\").nodes[1]
    assert node.args == ("echo",)


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from(list("FROMRUNCOPYENV <>-=\"'\\`$[]{},#\n\t\r abc123:/")), max_size=200)
)
def test_parser_raises_only_dockerfile_errors(text: str) -> None:
    try:
        parsed = parse_dockerfile(text)
    except DockerfileError as exc:
        assert exc.location is not None
    else:
        assert parsed.nodes
        for node in parsed.nodes:
            assert 1 <= node.start_line <= node.end_line


_LINES = st.lists(
    st.tuples(
        st.sampled_from(["FROM", "RUN", "COPY", "ADD", "ENV", "ARG", "LABEL", "EXPOSE", "VOLUME", "USER",
                         "WORKDIR", "CMD", "SHELL", "HEALTHCHECK", "ONBUILD", "STOPSIGNAL", "EOF", "#"]),
        st.lists(st.sampled_from(["a", "--from=x", "--mount=type=cache,target=/c", "AS", "[\"a\"]", "[1]",
                                  "<<EOF", "$V", "${V", "k=v", "\\", "CMD", "NONE", "--link", "'q", "0"]),
                 max_size=5),
    ),
    min_size=1,
    max_size=8,
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(_LINES)
def test_whole_pipeline_raises_only_dockerfile_errors(lines: list[tuple[str, list[str]]]) -> None:
    from kiln.dockerfile import build_stages

    text = "\n".join(" ".join([keyword, *words]) for keyword, words in lines) + "\n"
    try:
        graph = build_stages(parse_dockerfile(text), {"V": "1"})
        for stage in graph.stages:
            for instruction in stage.instructions:
                expand = getattr(instruction, "expand", None)
                if expand is not None:
                    expand({"V": "v"}, graph.escape)
    except DockerfileError as exc:
        assert exc.location is None or exc.location.start_line >= 1


def test_empty_continuation_line_is_a_warning() -> None:
    parsed = parse_dockerfile("FROM a\nRUN a \\\n\n  b\nRUN c \\\n  d\n")
    assert parsed.warnings == (
        "Dockerfile:2-4: empty continuation line (BuildKit warns; it may become an error)",
    )
    assert parsed.nodes[1].args == ("a   b",)
