"""Shared pytest plugins: each fixture module owns one kind of real part."""

import importlib.util

pytest_plugins = [
    name
    for name in ("fixtures.registry", "fixtures.images", "fixtures.tools")
    if importlib.util.find_spec(name) is not None
]
