"""COPY/ADD path rules: glob matching, destination directory rules, relative destinations."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.build.steps import chmod
from kiln.build.steps.sources import absolute_dest, destination_is_dir, match_sources, place


@pytest.fixture
def ctx(tmp_path: Path) -> Path:
    (tmp_path / "dir" / "sub").mkdir(parents=True)
    for name in ("a.txt", "b.txt", ".hidden.txt", "c.log", "dir/x.txt", "dir/sub/y.txt"):
        (tmp_path / name).write_text(name)
    (tmp_path / "link").symlink_to("/etc/passwd")
    return tmp_path


def test_plain_path_and_missing(ctx: Path) -> None:
    assert match_sources(ctx, "a.txt") == ["a.txt"]
    assert match_sources(ctx, "./dir/../a.txt") == ["a.txt"]
    assert match_sources(ctx, "nope") == []
    assert match_sources(ctx, ".") == [""]


def test_glob_matches_dotfiles_like_go(ctx: Path) -> None:
    assert match_sources(ctx, "*.txt") == [".hidden.txt", "a.txt", "b.txt"]
    assert match_sources(ctx, "dir/*/y.txt") == ["dir/sub/y.txt"]
    assert match_sources(ctx, "[ab].txt") == ["a.txt", "b.txt"]


def test_ignored_paths_do_not_exist(ctx: Path) -> None:
    assert match_sources(ctx, "*.txt", lambda p: p.startswith("a")) == [".hidden.txt", "b.txt"]
    assert match_sources(ctx, "a.txt", lambda p: True) == []


def test_symlink_source_is_followed_inside_the_context_only(ctx: Path) -> None:
    assert match_sources(ctx, "link") == []  # /etc/passwd means <context>/etc/passwd: absent
    (ctx / "etc").mkdir()
    (ctx / "etc" / "passwd").write_text("inside")
    assert match_sources(ctx, "link") == ["link"]


@pytest.mark.parametrize(
    ("dest", "count", "existing", "expected"),
    [
        ("/d/", 1, False, True),
        ("/d", 1, False, False),
        ("/d", 2, False, True),
        ("/d", 1, True, True),
        (".", 1, False, True),
        ("/", 1, False, True),
        ("/d/.", 1, False, True),
    ],
)
def test_destination_is_dir(dest: str, count: int, existing: bool, expected: bool) -> None:
    assert destination_is_dir(dest, count, existing) is expected


def test_relative_destination_is_below_workdir_and_keeps_slash() -> None:
    assert absolute_dest("rel/", "/app") == "/app/rel/"
    assert absolute_dest("rel", "/app") == "/app/rel"
    assert absolute_dest("/abs/../x", "/app") == "/x"
    assert absolute_dest(".", "") == "/"
    assert absolute_dest(".", "/app") == "/app/"  # "." names the directory even before it exists
    assert absolute_dest("sub/.", "/app") == "/app/sub/"


def test_place_files_and_directory_contents() -> None:
    got = place([("a.txt", False), ("dir", True)], "/out/", True)
    assert [(p.source, p.dest, p.contents_of) for p in got] == [
        ("a.txt", "/out/a.txt", False),
        ("dir", "/out", True),
    ]
    (renamed,) = place([("a.txt", False)], "/new-name", False)
    assert renamed.dest == "/new-name"


@pytest.mark.parametrize(
    ("value", "mode", "is_dir", "expected"),
    [
        ("0755", 0o600, False, 0o755),
        ("u+x", 0o644, False, 0o744),
        ("go-w", 0o666, False, 0o644),
        ("a=r", 0o755, False, 0o444),
        ("u=rwx,g=rx,o=", 0o600, False, 0o750),
        ("a+X", 0o644, True, 0o755),
        ("a+X", 0o644, False, 0o644),
        ("u+s", 0o755, False, 0o4755),
    ],
)
def test_chmod_octal_and_symbolic(value: str, mode: int, is_dir: bool, expected: int) -> None:
    assert chmod.parse(value)(mode, is_dir) == expected


def test_chmod_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        chmod.parse("u+q")
