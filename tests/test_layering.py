"""Imports flow one way through kiln's layers (see ARCHITECTURE.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "kiln"

# A package may import only from the packages at a lower or equal rank (its own included).
RANK = {
    "errors": 0,
    "digest": 1,
    "compression": 1,
    "reference": 2,
    "oci": 2,
    "dockerfile": 2,
    "fs": 2,
    "registry": 3,
    "policy": 3,  # source policy: references and patterns only, never the network
    "storage": 3,
    "context": 3,
    "snapshot": 3,
    "sandbox": 3,
    "build": 4,
    "integrations": 5,
    "cli": 6,  # the top: it may register the integrations' commands, nothing imports it
}
FORBIDDEN = {("dockerfile", "oci")}


def _top(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "kiln" or len(parts) < 2:
        return None
    return parts[1]


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), str(path))
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append(node.module)
    return out


def _owner(path: Path) -> str:
    rel = path.relative_to(SRC)
    return rel.parts[0].removesuffix(".py")


FILES = sorted(p for p in SRC.rglob("*.py") if _owner(p) in RANK)


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_downwards(path: Path) -> None:
    owner = _owner(path)
    for module in _imports(path):
        target = _top(module)
        if target is None or target == owner:
            continue
        assert target in RANK, f"{path}: imports unknown kiln package {module}"
        assert (owner, target) not in FORBIDDEN, f"{path}: {owner} must not import {target}"
        assert RANK[target] < RANK[owner], (
            f"{path}: {owner} (rank {RANK[owner]}) imports {module} (rank {RANK[target]})"
        )


def test_every_package_is_ranked() -> None:
    tops = {_owner(p) for p in SRC.rglob("*.py")} - {"__init__", "__main__"}
    assert tops <= set(RANK), f"unranked packages: {tops - set(RANK)}"
