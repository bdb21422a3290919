"""Keeping cloud SDKs from logging the tokens they fetch for us.

botocore logs whole response bodies at DEBUG (an ECR authorization token among them), and google-auth logs
token responses too. kiln's ``--verbosity=debug`` must never print a secret, so while a provider fetches a token
those SDK loggers are held at INFO; everything else they log is untouched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_LOCK = threading.RLock()
_HELD: dict[str, tuple[int, int]] = {}  # logger name -> (level before, holders)


@contextmanager
def quiet_loggers(*names: str, level: int = logging.INFO) -> Iterator[None]:
    """Raise the named loggers to at least ``level`` for the duration (nesting and threads are counted)."""
    with _LOCK:
        for name in names:
            logger = logging.getLogger(name)
            before, holders = _HELD.get(name, (logger.level, 0))
            _HELD[name] = (before, holders + 1)
            if logger.getEffectiveLevel() < level:
                logger.setLevel(level)
    try:
        yield
    finally:
        with _LOCK:
            for name in names:
                before, holders = _HELD[name]
                if holders <= 1:
                    del _HELD[name]
                    logging.getLogger(name).setLevel(before)
                else:
                    _HELD[name] = (before, holders - 1)
