"""Choosing a snapshotter: overlay where this process may mount overlayfs, else the walk."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from kiln.errors import UsageError
from kiln.fs.ignore import IgnoreList
from kiln.snapshot.base import Snapshotter
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.walk import MODES, Mode, WalkSnapshotter

Kind = Literal["auto", "overlay", "walk"]


def open_snapshotter(
    base: Path, scratch: Path, ignore: IgnoreList, kind: Kind = "auto", mode: str = "full"
) -> Snapshotter:
    """A snapshotter over the unpacked stage root ``base``; call ``start()`` before the first step.

    ``auto`` tries an overlay mount in ``scratch`` (root or CAP_SYS_ADMIN) and falls back to walking
    with ``mode`` (``--snapshot-mode``). With overlay, steps must run in ``snapshotter.root`` (the
    mount), and ``base`` holds the final tree after ``close()``; with the walk both are ``base``.
    """
    if mode not in MODES:
        raise UsageError(f"unknown --snapshot-mode {mode!r}", hint="use full, redo or time")
    walk_mode: Mode = mode  # type: ignore[assignment]
    if kind == "walk":
        return WalkSnapshotter(base, ignore, walk_mode)
    if kind == "overlay" or overlay_supported(scratch / "probe"):
        return OverlaySnapshotter(base, scratch / "overlay", ignore)
    return WalkSnapshotter(base, ignore, walk_mode)
