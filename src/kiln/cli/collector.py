"""The interpreter's last garbage collection, skipped (start-up and exit are most of a warm rebuild).

At exit the interpreter clears every module and runs a last cyclic collection through everything still
alive: after a build, the ~130 kiln modules, requests and urllib3 with their classes and the functions
``dataclass`` made, 30-50 ms after kiln's last line on the benchmark host (docs/performance.md,
"Start-up"). :func:`skip_final_collection` registers ``gc.freeze`` to run at exit: it moves everything
alive then into the permanent generation, which that collection skips; the process ends and the memory
goes with it.

Why it is safe: nothing kiln writes depends on a collector finaliser. Outputs are written and closed
(``with`` blocks, atomic renames) before the ``built`` line; ``logging.shutdown`` (an ``atexit`` hook
registered earlier, so it runs after this one) flushes and closes the log handlers; the interpreter
flushes stdout and stderr itself; objects that are not in a reference cycle are still freed (and
finalised) as the modules are cleared. In a process that runs several commands (tests), the hook is
registered once and runs only when that process exits.

Measured and not kept: ``gc.disable()`` while the build path is imported saved ~10 ms of import time
but nothing end to end (the collection it put off came right after, over a larger young generation).
"""

from __future__ import annotations

import atexit
import gc


def skip_final_collection() -> None:
    """Freeze the heap at interpreter exit, so the last collection does not walk it (see the module doc)."""
    atexit.unregister(gc.freeze)  # once per process, however many commands run in it
    atexit.register(gc.freeze)
