"""Keep CLI tests from creating kiln work dirs on the machine: no /kaniko, temp dirs under tmp_path."""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_work_dirs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The default /kaniko is only taken when it already exists; fallbacks land in tmp_path."""
    import kiln.sandbox.inplace

    monkeypatch.setattr(kiln.sandbox.inplace, "detect_container", lambda *a, **k: False)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    return scratch


@pytest.fixture(autouse=True)
def restore_kiln_logger() -> Iterator[None]:
    """Commands configure the ``kiln`` logger; put it back so one test's stream never leaks into the next."""
    root = logging.getLogger("kiln")
    saved = (list(root.handlers), root.level, root.propagate)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    root.propagate = saved[2]
