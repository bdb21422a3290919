"""Keep CLI tests from creating kiln work dirs on the machine: no /kaniko, temp dirs under tmp_path."""

from __future__ import annotations

import tempfile
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
