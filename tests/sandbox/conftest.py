"""Fixtures for the sandbox tests: a busybox rootfs and a root-only guard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from busybox_rootfs import make_rootfs


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path / "root")


@pytest.fixture
def privileged() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (mount and PID namespaces)")
