"""Everything a build needs to know, in one frozen value built by the CLI and passed down.

Field names are kaniko's flag names in snake_case (``--image-name-with-digest-file`` ->
``image_name_with_digest_file``); see docs/flags.md for defaults and environment aliases.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from kiln.context.base import GitOptions
from kiln.registry.options import RegistryOptions

SnapshotMode = Literal["full", "redo", "time"]
CompressionName = Literal["gzip", "zstd"]
Isolation = Literal["chroot", "inplace"]


@dataclass(frozen=True)
class SecretSource:
    """Where ``--secret id=NAME,src=FILE|env=VAR`` reads a secret; the value itself is never stored here."""

    id: str
    src: str | None = None
    env: str | None = None


@dataclass(frozen=True)
class BuildOptions:
    # What to build
    dockerfile: str = "Dockerfile"
    context: str = "/workspace/"
    context_sub_path: str = ""
    git: GitOptions = field(default_factory=GitOptions)
    target: str = ""
    build_args: tuple[
        tuple[str, str], ...
    ] = ()  # in flag order; a bare KEY was resolved from the environment
    labels: tuple[tuple[str, str], ...] = ()
    custom_platform: str = ""  # normalised os/arch[/variant]; the host's when the flag is empty
    skip_unused_stages: bool = False
    secrets: tuple[SecretSource, ...] = ()

    # Where the image goes
    destinations: tuple[str, ...] = ()
    no_push: bool = False
    tar_path: str = ""
    oci_layout_path: str = ""
    digest_file: str = ""
    image_name_with_digest_file: str = ""
    image_name_tag_with_digest_file: str = ""
    push_ignore_immutable_tag_errors: bool = False
    skip_push_permission_check: bool = False

    # How layers are made
    snapshot_mode: SnapshotMode = "full"
    single_snapshot: bool = False
    reproducible: bool = False
    compression: CompressionName = "gzip"
    compression_level: int = -1
    ignore_var_run: bool = True
    ignore_paths: tuple[str, ...] = ()
    force_build_metadata: bool = False
    use_new_run: bool = False
    image_fs_extract_retry: int = 0

    # Caching
    cache: bool = False
    cache_repo: str = ""
    cache_dir: str = "/cache"
    cache_ttl: timedelta = timedelta(hours=336)
    cache_copy_layers: bool = False
    cache_run_layers: bool = True
    no_push_cache: bool = False
    compressed_caching: bool = True

    # Where and how kiln runs
    kaniko_dir: str = "/kaniko"
    work_dir: str = (
        ""  # kiln's private scratch space (stage roots, layers); derived from kaniko_dir by the CLI
    )
    isolation: Isolation = "chroot"
    force: bool = False
    cleanup: bool = False

    # Logging (applied by the CLI; kept for the record and for integrations)
    verbosity: str = "info"
    log_format: str = "color"
    log_timestamp: bool = False

    registry: RegistryOptions = field(default_factory=RegistryOptions)
    environ: Mapping[str, str] = field(default_factory=dict)

    def build_arg_map(self) -> dict[str, str]:
        """Build args with later flags winning, as Docker does."""
        return dict(self.build_args)
