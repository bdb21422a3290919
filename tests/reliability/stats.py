"""Figures for docs/reliability.md, written by the tests themselves so the report and CI measure the same thing.

``bench/reliability_report.py`` runs the reliability tests with ``KILN_RELIABILITY_STATS`` naming a JSON-lines
file; each test appends one record per measured unit. Without the variable nothing is written.
``KILN_FUZZ_EXAMPLES`` raises the number of fuzzing examples per property above the CI default.
"""

from __future__ import annotations

import json
import os
import threading
from typing import Any

_lock = threading.Lock()
CI_EXAMPLES = 150


def examples(default: int = CI_EXAMPLES) -> int:
    """How many hypothesis examples a fuzz property runs: bounded in CI, more when the report asks."""
    value = os.environ.get("KILN_FUZZ_EXAMPLES")
    return int(value) if value and value.isdigit() else default


def record(category: str, name: str, **figures: Any) -> None:
    path = os.environ.get("KILN_RELIABILITY_STATS")
    if not path:
        return
    line = json.dumps({"category": category, "name": name, **figures}, sort_keys=True)
    with _lock, open(path, "a", encoding="utf-8") as out:
        out.write(line + "\n")
