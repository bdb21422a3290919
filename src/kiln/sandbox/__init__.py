"""RUN isolation: a RunSpec in, an exit code out, output streamed line by line.

``chroot`` (default where kiln holds CAP_SYS_ADMIN): namespaces and
pivot_root into the stage rootfs. ``inplace`` (kaniko's model): directly in ``/``
of kiln's own container. See docs/isolation.md.

Names are imported lazily: the chroot runner's helper process imports
``kiln.sandbox._init`` once per RUN and should not pay for the whole package.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kiln.sandbox.base import (
        DEFAULT_HOSTNAME,
        DEFAULT_PATH,
        Mount,
        OutputSink,
        Runner,
        RunSpec,
        SandboxError,
        hosts_file,
    )
    from kiln.sandbox.chroot import ChrootRunner, chroot_supported
    from kiln.sandbox.inplace import InplaceRunner, detect_container

ISOLATIONS = ("chroot", "inplace")

_EXPORTS = {
    "DEFAULT_HOSTNAME": "kiln.sandbox.base",
    "DEFAULT_PATH": "kiln.sandbox.base",
    "Mount": "kiln.sandbox.base",
    "OutputSink": "kiln.sandbox.base",
    "Runner": "kiln.sandbox.base",
    "RunSpec": "kiln.sandbox.base",
    "SandboxError": "kiln.sandbox.base",
    "hosts_file": "kiln.sandbox.base",
    "ChrootRunner": "kiln.sandbox.chroot",
    "chroot_supported": "kiln.sandbox.chroot",
    "InplaceRunner": "kiln.sandbox.inplace",
    "detect_container": "kiln.sandbox.inplace",
}


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'kiln.sandbox' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def default_isolation(proc_status: str = "/proc/self/status") -> str:
    """``chroot`` where kiln holds CAP_SYS_ADMIN, else ``inplace`` (kaniko's unprivileged-pod model)."""
    from kiln.sandbox._linux import has_cap_sys_admin

    return "chroot" if has_cap_sys_admin(proc_status) else "inplace"


def make_runner(isolation: str, *, state_dir: str, environ: Mapping[str, str], force: bool = False) -> Runner:
    """The runner ``--isolation`` names; ``state_dir`` is a scratch dir inside kiln's work dir."""
    from kiln.errors import UsageError
    from kiln.sandbox.chroot import ChrootRunner, chroot_supported
    from kiln.sandbox.inplace import InplaceRunner

    if isolation == "chroot":
        if not chroot_supported():
            raise UsageError(
                "--isolation=chroot needs CAP_SYS_ADMIN (root in a privileged container or on a host)",
                hint="run kiln as root, or use --isolation=inplace inside a container",
            )
        return ChrootRunner(state_dir)
    if isolation == "inplace":
        return InplaceRunner(environ, force=force)
    raise UsageError(f"unknown --isolation={isolation}", hint="use chroot or inplace")


__all__ = [
    "DEFAULT_HOSTNAME",
    "DEFAULT_PATH",
    "ISOLATIONS",
    "ChrootRunner",
    "InplaceRunner",
    "Mount",
    "OutputSink",
    "RunSpec",
    "Runner",
    "SandboxError",
    "chroot_supported",
    "default_isolation",
    "detect_container",
    "hosts_file",
    "make_runner",
]
