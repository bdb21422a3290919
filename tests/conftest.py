"""Shared pytest plugins (each fixture module owns one kind of real part) and hypothesis profiles."""

import importlib.util
import os

from hypothesis import settings

pytest_plugins = [
    name
    for name in ("fixtures.registry", "fixtures.images", "fixtures.tools", "fixtures.sniffer")
    if importlib.util.find_spec(name) is not None
]

# CI runs the same examples every time (a property failure is then reproducible, never a coin toss);
# local runs explore new examples.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None)
settings.load_profile("ci" if os.environ.get("CI") else "dev")
