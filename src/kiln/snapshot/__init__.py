"""Snapshots: turn what a build step changed into a layer (overlay upper dir, or a walk of the root)."""

from kiln.snapshot.base import Snapshotter
from kiln.snapshot.overlay import OverlaySnapshotter, overlay_supported
from kiln.snapshot.select import open_snapshotter
from kiln.snapshot.walk import WalkSnapshotter

__all__ = ["OverlaySnapshotter", "Snapshotter", "WalkSnapshotter", "open_snapshotter", "overlay_supported"]
