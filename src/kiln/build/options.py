"""Everything a build needs to know, in one frozen value built by the CLI and passed down.

Field names are kaniko's flag names in snake_case (``--image-name-with-digest-file`` ->
``image_name_with_digest_file``; repeatable flags take the plural: ``--destination`` ->
``destinations``). docs/flags.md lists every flag with its default, environment alias and status.
The CLI resolves defaults that depend on the machine (platform, isolation, work dir) and the
environment aliases, so code below the CLI never reads ``os.environ`` or guesses a default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import timedelta
from typing import Literal

from kiln.context.base import GitOptions
from kiln.policy import SourcePolicy
from kiln.registry.options import RegistryOptions

SnapshotMode = Literal["full", "redo", "time"]
CompressionName = Literal["gzip", "zstd"]
Isolation = Literal["chroot", "inplace"]
Verbosity = Literal["trace", "debug", "info", "warn", "error", "fatal", "panic"]
LogFormat = Literal["text", "color", "json"]


@dataclass(frozen=True)
class SecretSource:
    """Where ``--secret id=NAME,src=FILE|env=VAR`` reads a secret; the value itself is never stored here.

    Exactly one of ``src`` (a file path) and ``env`` (an environment variable name, read from
    ``BuildOptions.environ`` when a RUN mounts the secret) is set.
    """

    id: str
    src: str | None = None
    env: str | None = None


@dataclass(frozen=True)
class BuildOptions:
    """One build's settings, grouped as below; every value is already parsed and validated.

    What to build: ``dockerfile`` (a path as given -- made absolute when it exists relative to the
    current directory, else kept relative so the build resolves it inside the context, as kaniko;
    or an http(s) URL), ``context`` (bare paths made absolute; ``scheme://`` URLs kept),
    ``context_sub_path``, ``git``, ``target``, ``build_args`` (flag order; a bare ``KEY`` was
    resolved from the environment, or dropped when unset), ``labels``, ``annotations`` and the standard
    ``image_source``/``image_revision``/``image_created`` (kiln.build.image_metadata), ``custom_platform``
    (normalised ``os/arch[/variant]``, the host's when the flag is empty; also ``platform``),
    ``skip_unused_stages``, ``secrets``, ``source_policy`` (``--allowed-registries`` and co., checked
    before any image is pulled: kiln.build.source_policy).

    Where the image goes: ``destinations`` (never empty unless ``no_push``), ``no_push``
    (``KANIKO_NO_PUSH`` applied), the outputs ``tar_path``, ``oci_layout_path`` and the three digest
    files (absolute paths, or "" when not wanted), push behaviour flags, ``generate_provenance``
    (a SLSA provenance statement attached to the pushed image and the layout: build/attest.py). Multi-arch (docs/ci/multi-arch.md):
    ``push_by_digest`` leaves the destinations' tags alone; ``publish_index`` merges this image with the
    ``digests_from`` images into an index at the destinations (digest files then name the index).

    How layers are made: snapshot mode, single snapshot, reproducible, compression and level (-1 =
    the compressor's fast default), ignore list additions, forced metadata layers, extract retries.

    Caching: kaniko's layer-cache and base-image-cache settings (``cache_ttl`` as a timedelta).

    Where and how kiln runs: ``kaniko_dir`` (``--kaniko-dir``, else ``$KANIKO_DIR``, else
    ``/kaniko``) and ``work_dir``: kiln's private scratch space (Dockerfile copy, stage roots, layer
    temp files). The CLI sets ``work_dir`` to ``kaniko_dir`` when the user chose one explicitly, or
    when the default ``/kaniko`` is usable (exists and is writable, or can be created inside a
    container); otherwise to a fresh private ``/tmp/kiln-*`` directory. It is never "" in options
    made by the CLI. ``isolation``: how RUN is isolated (``chroot`` where kiln holds CAP_SYS_ADMIN,
    else ``inplace``, unless ``--isolation`` says). ``force``, ``cleanup``.

    Logging: applied by the CLI before the options are built; kept for the record and for
    integrations that re-render a command line.

    ``registry`` holds every registry flag (TLS, insecure, mirrors and maps including
    ``--registry-mirror`` and the ``KANIKO_REGISTRY_*`` aliases as ``index.docker.io`` entries,
    retries). ``environ`` is the process environment read once by the CLI; pass it to anything
    that needs an environment variable instead of reading ``os.environ``.
    """

    # What to build
    dockerfile: str = "Dockerfile"
    context: str = "/workspace/"
    context_sub_path: str = ""
    git: GitOptions = field(default_factory=GitOptions)
    target: str = ""
    build_args: tuple[tuple[str, str], ...] = ()
    labels: tuple[tuple[str, str], ...] = ()
    annotations: tuple[tuple[str, str], ...] = ()  # --annotation: on the image manifest
    image_source: str = ""  # --image-source: org.opencontainers.image.source (label and annotation)
    image_revision: str = ""  # --image-revision: org.opencontainers.image.revision
    image_created: bool = False  # --image-created: org.opencontainers.image.created = the config's time
    custom_platform: str = ""
    skip_unused_stages: bool = False
    secrets: tuple[SecretSource, ...] = ()
    source_policy: SourcePolicy = field(default_factory=SourcePolicy)

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
    push_by_digest: bool = False  # push to each destination repository by digest only, no tag
    publish_index: bool = False  # push by digest, then an index of it + digests_from at the destinations
    digests_from: tuple[str, ...] = ()  # digest files/directories of the other platforms' builds
    legacy_manifest_list: bool = False  # the published index is a Docker manifest list
    index_annotations: tuple[tuple[str, str], ...] = ()
    generate_provenance: bool = False
    provenance_refs_file: str = ""  # JSON: where the statement was attached (for CI adapters)

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
    work_dir: str = ""
    isolation: Isolation = "chroot"
    force: bool = False
    cleanup: bool = False

    # Logging
    verbosity: Verbosity = "info"
    log_format: LogFormat = "color"
    log_timestamp: bool = False

    registry: RegistryOptions = field(default_factory=RegistryOptions)
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)

    def __repr__(self) -> str:
        """Every field but the environment (it holds CI tokens), also inside ``registry``."""
        shown = []
        for f in fields(self):
            if not f.repr:
                continue
            value = getattr(self, f.name)
            if isinstance(value, RegistryOptions):
                value = replace(value, environ={})
            shown.append(f"{f.name}={value!r}")
        return f"BuildOptions({', '.join(shown)})"

    @property
    def platform(self) -> str:
        """The target platform (``--custom-platform`` or the host's), normalised ``os/arch[/variant]``."""
        return self.custom_platform

    def build_arg_map(self) -> dict[str, str]:
        """Build args with later flags winning, as Docker does."""
        return dict(self.build_args)
