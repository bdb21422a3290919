"""The docs point at things that exist: relative links, repository paths, and every module of src/kiln."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_PATH = re.compile(
    r"`((?:docs|tests|src|bench|scripts|examples|actions|integrations|tekton|image)/[^`\s:*<>]*)`"
)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading slugs: lower case, punctuation dropped, spaces to dashes."""
    headings = re.findall(r"^#+\s+(.*?)\s*$", page.read_text(), re.M)
    return {re.sub(r"[^\w\- ]", "", h.lower()).replace(" ", "-") for h in headings}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page: Path) -> None:
    for target in _LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path) if path else page
        assert linked.exists(), f"{page.name}: link to missing {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in _anchors(linked), f"{page.name}: link to missing heading {target}"


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_repository_paths_exist(page: Path) -> None:
    text = page.read_text().split("\n## Modules\n")[0]  # architecture.md's module table is under src/kiln
    for named in _PATH.findall(text):
        path = REPO / named.rstrip("/")
        stem = path.parent / (path.name.split(".")[0] + ".py")  # `tests/x/mod.function`
        assert path.exists() or stem.exists(), f"{page.name}: `{named}` does not exist"


def _documented_modules() -> set[str]:
    text = (REPO / "docs" / "architecture.md").read_text().split("\n## Modules\n", 1)[1]
    found: set[str] = set()
    for cell in re.findall(r"^\| (`[^|]*`) \|", text, re.M):
        names = re.findall(r"`([\w/]+\.py)`", cell)
        folder = names[0].rpartition("/")[0] if names else ""
        found.update(n if "/" in n else f"{folder}/{n}".lstrip("/") for n in names)
    return found


def test_architecture_lists_every_module() -> None:
    src = REPO / "src" / "kiln"
    modules = {str(p.relative_to(src)) for p in src.rglob("*.py") if p.name != "__init__.py"}
    documented = _documented_modules()
    assert modules - documented == set(), "add these to docs/architecture.md, section Modules"
    assert documented - modules == set(), "docs/architecture.md lists modules that do not exist"
