"""The layer cache: a key per step, computed before the step runs (see docs/cache.md)."""

from kiln.build.cache.key import KEY_VERSION, SourceEntry, base_key, source_digest, source_entries, step_key

__all__ = ["KEY_VERSION", "SourceEntry", "base_key", "source_digest", "source_entries", "step_key"]
