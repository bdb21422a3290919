"""COPY --parents matching (BuildKit's rules, from the Dockerfile reference): pivots, ``**``, kept paths."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.build.steps.sources import kept_parents, kept_path, match_parents, split_pivot


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("./x/a.txt", ("", "x/a.txt")),
        ("x/a.txt", ("", "x/a.txt")),
        ("/x/a.txt", ("", "x/a.txt")),
        ("./x/./y/*.txt", ("x", "y/*.txt")),
        ("/app/./bin/tool", ("app", "bin/tool")),
        ("/./app/bin", ("", "app/bin")),
        ("x/./y/./z", ("x", "y/z")),  # the first pivot counts
        ("x/./", ("x", "")),
    ],
)
def test_split_pivot(source: str, expected: tuple[str, str]) -> None:
    assert split_pivot(source) == expected


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for rel in ("src/a.txt", "src/x/b.txt", "src/x/y/c.txt", "src/x/y/d.md", "x/y/a.txt", "y/a.txt"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(rel)
    return tmp_path


def test_double_star_matches_any_number_of_components(tree: Path) -> None:
    assert match_parents(tree, "", "src/**/*.txt") == ["src/a.txt", "src/x/b.txt", "src/x/y/c.txt"]
    assert match_parents(tree, "", "**/a.txt") == ["src/a.txt", "x/y/a.txt", "y/a.txt"]


def test_pivot_and_ignored(tree: Path) -> None:
    assert match_parents(tree, "x", "y/*.txt") == ["x/y/a.txt"]
    assert match_parents(tree, "missing", "*.txt") == []
    assert match_parents(tree, "", "src/**/*.txt", lambda rel: rel.startswith("src/x")) == ["src/a.txt"]


def test_kept_path_and_parents() -> None:
    assert kept_path("x/y/a.txt", "x") == "y/a.txt"
    assert kept_path("x", "x") == ""
    assert kept_path("src/x/b.txt", "") == "src/x/b.txt"
    assert kept_parents("src/x/y/c.txt", "") == ["src", "src/x", "src/x/y"]
    assert kept_parents("x/y/a.txt", "x") == ["x/y"]
    assert kept_parents("x/a.txt", "x") == []
