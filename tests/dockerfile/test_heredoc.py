"""Heredoc bodies: RUN scripts and COPY contents, as BuildKit turns them into commands and files."""

from __future__ import annotations

from kiln.dockerfile.heredoc import chomp
from kiln.dockerfile.instructions import Copy, Run, parse_instructions
from kiln.dockerfile.lexer import expand_heredoc
from kiln.dockerfile.parser import parse_dockerfile


def last(text: str) -> object:
    return parse_instructions(parse_dockerfile("FROM a\n" + text))[-1]


def test_lone_heredoc_runs_its_body() -> None:
    run = last("RUN <<-EOF\n\techo $HOME\n\t\tls\n\tEOF\n")
    assert isinstance(run, Run)
    assert run.lone_heredoc() is not None
    assert run.script() == ("echo $HOME\nls\n",)


def test_heredoc_after_command_becomes_shell_heredoc() -> None:
    run = last("RUN python3 <<PY > /out\nprint(1)\nPY\n")
    assert isinstance(run, Run)
    assert run.lone_heredoc() is None
    assert run.script() == ("python3 <<PY > /out\nprint(1)\nPY",)


def test_plain_and_exec_runs_are_unchanged() -> None:
    plain = last("RUN echo hi\n")
    exec_form = last('RUN ["echo", "<<EOF"]\n')
    assert isinstance(plain, Run) and plain.script() == ("echo hi",)
    assert isinstance(exec_form, Run) and exec_form.script() == ("echo", "<<EOF")


def test_copy_heredoc_content_expands_unless_quoted() -> None:
    copy = last("COPY <<A <<'B' /d/\nv=$V \"kept\" 'too'\nA\nv=$V\nB\n")
    assert isinstance(copy, Copy)
    env = {"V": "1"}
    assert copy.heredoc_content("<<A", env) == "v=1 \"kept\" 'too'\n"
    assert copy.heredoc_content("<<'B'", env) == "v=$V\n"
    assert copy.heredoc_content("/not/heredoc", env) is None


def test_chomp_and_quote_free_expansion() -> None:
    assert chomp("\t\ta\n\tb\nc\t\n") == "a\nb\nc\t\n"
    assert expand_heredoc("'$X' \"$X\" \\$X", {"X": "y"}) == "'y' \"y\" $X"
