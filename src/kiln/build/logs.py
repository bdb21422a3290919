"""Step lines as the user sees them: ``STEP n/N: INSTRUCTION`` and how long it took."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

log = logging.getLogger("kiln.build")


class StepCounter:
    """Numbers the steps of a whole build (every stage's instructions, FROM lines included)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.current = 0

    @contextmanager
    def step(self, text: str) -> Iterator[None]:
        self.current += 1
        log.info("STEP %d/%d: %s", self.current, self.total, text)
        started = time.monotonic()
        yield
        log.info("STEP %d/%d done in %.2fs", self.current, self.total, time.monotonic() - started)


def run_output(line: str) -> None:
    """A RUN's output line, streamed as it comes."""
    logging.getLogger("kiln.run").info("%s", line)
