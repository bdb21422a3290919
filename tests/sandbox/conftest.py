"""Fixtures for the sandbox tests: a busybox rootfs and a root-only guard."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from busybox_rootfs import make_rootfs


@pytest.fixture(scope="session")
def rootfs_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_rootfs(tmp_path_factory.mktemp("busybox") / "root")


@pytest.fixture
def rootfs(tmp_path: Path, rootfs_template: Path) -> Path:
    """A fresh copy per test: tests change and fingerprint it."""
    root = tmp_path / "root"
    shutil.copytree(rootfs_template, root, symlinks=True)
    return root


@pytest.fixture
def privileged() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mount and PID namespaces)")
