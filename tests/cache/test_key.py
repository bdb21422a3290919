"""Cache keys: differing inputs never share a key, identical inputs always do (real files, no mocks)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kiln.build.cache import base_key, source_digest, step_key
from kiln.digest import Digest

BASE = Digest("sha256", "a" * 64)
OTHER = Digest("sha256", "b" * 64)


def _tree(root: Path) -> Path:
    (root / "app").mkdir(parents=True)
    (root / "app" / "main.py").write_text("print('hi')\n")
    (root / "app" / "lib").mkdir()
    (root / "app" / "lib" / "util.py").write_text("X = 1\n")
    os.symlink("main.py", root / "app" / "link")
    (root / "README").write_text("readme\n")
    return root


def _key(root: Path, ignored=None) -> Digest:  # type: ignore[no-untyped-def]
    return source_digest(root, [("app", ["app"]), ("README", ["README"])], ignored)


def test_base_key_depends_on_image_and_platform() -> None:
    keys = {
        base_key(BASE, "linux/amd64"),
        base_key(OTHER, "linux/amd64"),
        base_key(BASE, "linux/arm64"),
        base_key(None, "linux/amd64"),
    }
    assert len(keys) == 4
    assert base_key(BASE, "linux/amd64") == base_key(BASE, "linux/amd64")


def test_step_key_changes_with_every_input() -> None:
    parent = base_key(BASE, "linux/amd64")
    src = Digest("sha256", "c" * 64)
    ref = step_key(parent, "RUN make", {"V": "1"}, {"PATH": "/bin"}, None, {"user": "root"})
    variants = [
        step_key(
            base_key(OTHER, "linux/amd64"), "RUN make", {"V": "1"}, {"PATH": "/bin"}, None, {"user": "root"}
        ),
        step_key(parent, "RUN make all", {"V": "1"}, {"PATH": "/bin"}, None, {"user": "root"}),
        step_key(parent, "RUN make", {"V": "2"}, {"PATH": "/bin"}, None, {"user": "root"}),
        step_key(parent, "RUN make", {"V": "1", "W": ""}, {"PATH": "/bin"}, None, {"user": "root"}),
        step_key(parent, "RUN make", {}, {"PATH": "/bin", "V": "1"}, None, {"user": "root"}),
        step_key(parent, "RUN make", {"V": "1"}, {"PATH": "/usr/bin"}, None, {"user": "root"}),
        step_key(parent, "RUN make", {"V": "1"}, {"PATH": "/bin"}, src, {"user": "root"}),
        step_key(parent, "RUN make", {"V": "1"}, {"PATH": "/bin"}, None, {"user": "app"}),
    ]
    assert ref not in variants
    assert len(set(variants)) == len(variants)
    # identical inputs (dict order does not matter) give the same key
    assert ref == step_key(parent, "RUN make", {"V": "1"}, {"PATH": "/bin"}, None, {"user": "root"})


def test_keys_chain_through_parents() -> None:
    first = step_key(base_key(BASE, "linux/amd64"), "RUN a", {}, {})
    second = step_key(first, "RUN b", {}, {})
    changed_first = step_key(base_key(BASE, "linux/amd64"), "RUN a2", {}, {})
    assert step_key(changed_first, "RUN b", {}, {}) != second


@given(
    st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=4),
    st.lists(st.tuples(st.text(max_size=8), st.text(max_size=8)), max_size=4),
)
def test_arg_maps_never_collide(a: list[tuple[str, str]], b: list[tuple[str, str]]) -> None:
    parent = base_key(None, "linux/amd64")
    ka, kb = step_key(parent, "RUN x", dict(a), {}), step_key(parent, "RUN x", dict(b), {})
    assert (ka == kb) == (dict(a) == dict(b))


@given(st.text(max_size=20), st.text(max_size=20))
def test_instruction_text_never_collides(a: str, b: str) -> None:
    parent = base_key(None, "linux/amd64")
    assert (step_key(parent, a, {}, {}) == step_key(parent, b, {}, {})) == (a == b)


def test_source_digest_is_stable(tmp_path: Path) -> None:
    one = _tree(tmp_path / "one")
    two = _tree(tmp_path / "two")
    assert _key(one) == _key(one)
    assert _key(one) == _key(two)  # same names, content, modes, owners -> same key anywhere


@pytest.mark.parametrize(
    "change",
    ["content", "name", "mode", "owner", "new_file", "symlink_target", "empty_dir"],
)
def test_source_digest_sees_every_change(tmp_path: Path, change: str) -> None:
    root = _tree(tmp_path / "ctx")
    before = _key(root)
    main = root / "app" / "main.py"
    if change == "content":
        main.write_text("print('ho')\n")
    elif change == "name":
        main.rename(root / "app" / "main2.py")
    elif change == "mode":
        main.chmod(0o755)
    elif change == "owner":
        if os.geteuid() != 0:
            pytest.skip("changing a file's owner needs root")
        os.chown(main, 1234, 1234)
    elif change == "new_file":
        (root / "app" / "lib" / "new.py").write_text("")
    elif change == "symlink_target":
        (root / "app" / "link").unlink()
        os.symlink("lib", root / "app" / "link")
    elif change == "empty_dir":
        (root / "app" / "empty").mkdir()
    assert _key(root) != before


def test_source_digest_skips_ignored_files(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ctx")

    def ignored(rel: str) -> bool:
        return rel.endswith(".log")

    before = _key(root, ignored)
    (root / "app" / "debug.log").write_text("noise\n")
    assert _key(root, ignored) == before  # .dockerignore'd files are not copied, so not keyed
    assert _key(root) != before


def test_source_digest_counts_patterns_and_their_order(tmp_path: Path) -> None:
    root = _tree(tmp_path / "ctx")
    a = source_digest(root, [("app", ["app"]), ("README", ["README"])])
    b = source_digest(root, [("README", ["README"]), ("app", ["app"])])
    c = source_digest(root, [("app", ["app"]), ("README", ["README"]), ("nothing*", [])])
    assert len({a, b, c}) == 3


def test_moving_content_between_files_changes_the_key(tmp_path: Path) -> None:
    root = tmp_path / "ctx"
    root.mkdir()
    (root / "a").write_text("x")
    (root / "b").write_text("")
    before = source_digest(root, [(".", [""])])
    (root / "a").write_text("")
    (root / "b").write_text("x")
    assert source_digest(root, [(".", [""])]) != before
