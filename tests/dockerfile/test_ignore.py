""".dockerignore semantics and the context walk, on real directories."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.dockerfile.ignore import IgnoreMatcher, load_ignore, read_patterns
from kiln.errors import DockerfileError


@pytest.mark.parametrize(
    ("patterns", "path", "ignored"),
    [
        (["*.pyc"], "a.pyc", True),
        (["*.pyc"], "sub/a.pyc", False),
        (["**/*.pyc"], "sub/deep/a.pyc", True),
        (["**/*.pyc"], "a.pyc", True),
        (["**"], "anything/at/all", True),
        (["sub"], "sub/file", True),
        (["sub/"], "sub/file", True),
        (["/sub"], "sub", True),
        (["./sub/../other"], "other/x", True),
        (["*/temp*"], "a/temp1", True),
        (["*/temp*"], "a/b/temp1", False),
        (["temp?"], "temp1", True),
        (["temp?"], "temp12", False),
        (["[a-c].txt"], "b.txt", True),
        (["[a-c].txt"], "d.txt", False),
        (["a\\*b"], "a*b", True),
        (["a\\*b"], "axb", False),
        (["file.(txt)"], "file.(txt)", True),
        (["*", "!keep"], "keep", False),
        (["*", "!keep"], "other", True),
        (["!keep", "*"], "keep", True),
        (["docs", "!docs/README.md"], "docs/README.md", False),
        (["docs", "!docs/README.md"], "docs/other.md", True),
        (["docs", "!docs/README.md", "docs/README.md"], "docs/README.md", True),
        (["  spaced  "], "spaced", True),
        (["**/node_modules"], "a/b/node_modules/x/y.js", True),
        (["a/**/b"], "a/b", True),
        (["a/**/b"], "a/x/y/b", True),
        (["a/**/b"], "a/x/c", False),
    ],
)
def test_matches(patterns: list[str], path: str, ignored: bool) -> None:
    assert IgnoreMatcher(patterns).matches(path) is ignored


def test_comments_only_in_column_one_and_bom() -> None:
    lines = read_patterns("\ufeff# comment\n*.log\n  # not a comment\n\n")
    assert lines == ["", "*.log", "  # not a comment", ""]
    matcher = IgnoreMatcher(lines)
    assert matcher.matches("x.log")
    assert matcher.matches("# not a comment")
    assert not matcher.matches("# comment")


def test_lone_bang_is_a_located_error() -> None:
    with pytest.raises(DockerfileError, match="illegal exclusion pattern") as info:
        IgnoreMatcher(["a", "", "!"], "ctx/.dockerignore")
    assert info.value.location is not None and info.value.location.start_line == 3


def _tree(root: Path, files: list[str]) -> None:
    for name in files:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)


def test_walk_descends_into_excluded_dir_for_exceptions(tmp_path: Path) -> None:
    _tree(tmp_path, ["b.txt", "a.txt", "node_modules/x/y.js", "node_modules/keep/k.js", "logs/1.log",
                     "src/main.py", "src/cache.pyc", ".git/HEAD"])  # fmt: skip
    matcher = IgnoreMatcher([".git", "node_modules", "!node_modules/keep", "**/*.pyc", "logs"])
    walked = list(matcher.walk(tmp_path))
    assert walked == ["a.txt", "b.txt", "node_modules/keep", "node_modules/keep/k.js", "src", "src/main.py"]


def test_walk_without_exceptions_skips_excluded_dirs(tmp_path: Path) -> None:
    _tree(tmp_path, ["big/1", "big/2", "ok"])
    assert list(IgnoreMatcher(["big"]).walk(tmp_path)) == ["ok"]
    assert list(IgnoreMatcher([]).walk(tmp_path)) == ["big", "big/1", "big/2", "ok"]


def test_load_ignore_prefers_dockerfile_specific_file(tmp_path: Path) -> None:
    context = tmp_path / "ctx"
    _tree(context, ["a.log", "b.tmp"])
    (context / ".dockerignore").write_text("*.log\n")
    assert load_ignore(context).matches("a.log")
    dockerfile = tmp_path / "build" / "app.Dockerfile"
    dockerfile.parent.mkdir()
    dockerfile.write_text("FROM a\n")
    assert load_ignore(context, dockerfile).matches("a.log")
    (tmp_path / "build" / "app.Dockerfile.dockerignore").write_text("*.tmp\n")
    specific = load_ignore(context, dockerfile)
    assert specific.matches("b.tmp") and not specific.matches("a.log")


def test_missing_ignore_file_ignores_nothing(tmp_path: Path) -> None:
    assert not load_ignore(tmp_path).matches("anything")


def test_bad_pattern_is_a_located_error() -> None:
    with pytest.raises(DockerfileError, match="syntax error in pattern") as info:
        IgnoreMatcher(["ok", "[abc"], ".dockerignore")
    assert info.value.location is not None and info.value.location.start_line == 2


def test_class_with_python_set_syntax_is_literal() -> None:
    """Go reads '[' and doubled '&', '~', '|' in a class as plain characters; no FutureWarning, same result."""
    import warnings

    from kiln.dockerfile.ignore import IgnoreMatcher

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        matcher = IgnoreMatcher(["a[[x]b", "c[&&]d"])
    assert matcher.matches("a[b") and matcher.matches("axb")
    assert matcher.matches("c&d") and not matcher.matches("cqd")
