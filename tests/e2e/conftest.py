"""End-to-end builds need root (chroot RUN isolation, chown) and the real registry fixture."""

from __future__ import annotations

import os

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e" in str(item.fspath) and os.geteuid() != 0:
            item.add_marker(pytest.mark.skip(reason="e2e builds run RUN in the chroot sandbox: needs root"))
