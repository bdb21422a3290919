"""``build(options) -> BuildResult``: parse, plan the stages, build them in order, write every output.

Nothing is pushed unless every stage built; for each destination the registry client uploads all
blobs before the manifest. Local outputs (--tar-path, --oci-layout-path, digest files) are written
after the push, as kaniko does.
"""

from __future__ import annotations

import logging
import tempfile
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from kiln.build.cache.setup import OpenCache, open_cache
from kiln.build.image_metadata import with_labels, with_manifest_annotations
from kiln.build.inplace import check_kiln_survives, inplace_ignore_list, kiln_files
from kiln.build.logs import StepCounter, run_output
from kiln.build.options import BuildOptions
from kiln.build.outputs import local_outputs_requested, write_outputs
from kiln.build.rootfs import InplaceRoots, RootFactory
from kiln.build.source_policy import check_cache_repo, check_plan, onbuild_check
from kiln.build.sources import ImageSources, read_secrets
from kiln.build.stage import StageResult, StageSettings, build_stage
from kiln.context import ContextSpec, open_context
from kiln.digest import Digest
from kiln.dockerfile import (
    PlatformSpec,
    StageGraph,
    build_stages,
    load_ignore,
    parse_dockerfile,
    unused_build_args,
)
from kiln.dockerfile.instructions import Arg, Run
from kiln.errors import ContextError, KilnError
from kiln.fs import trash
from kiln.fs.clear import clear_root
from kiln.fs.ignore import CHROOT_IGNORED, IgnoreList
from kiln.fs.kept import KeptBlobs
from kiln.oci import Image, Platform
from kiln.oci.mutate import canonical, epoch_timestamp
from kiln.sandbox import OutputSink, Runner, RunSpec, make_runner

if TYPE_CHECKING:
    from kiln.registry.client import RegistryClient

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildResult:
    """The built image, its manifest digest and where it went."""

    image: Image
    digest: Digest
    pushed: tuple[str, ...]


class _LazyRunner(Runner):
    """Creates the runner at the first RUN, so builds without RUN need no privileges.

    ``eager``: made at once, for inplace builds whose stages live in ``/``: its check that kiln runs in
    a (disposable) container must refuse the build before the first base image is unpacked there.
    """

    def __init__(self, options: BuildOptions, state_dir: Path, eager: bool = False) -> None:
        self._options = options
        self._state_dir = state_dir
        self._runner: Runner | None = None
        if eager:
            self._runner = self._make()

    def _make(self) -> Runner:
        self._state_dir.mkdir(parents=True, exist_ok=True)
        return make_runner(
            self._options.isolation,
            state_dir=str(self._state_dir),
            environ=self._options.environ,
            force=self._options.force,
        )

    def run(self, spec: RunSpec, output: OutputSink | None = None) -> int:
        if self._runner is None:
            if self._options.isolation == "inplace":  # only a base's ONBUILD RUN gets here
                raise KilnError(
                    "RUN from the base image's ONBUILD trigger: with --isolation=inplace a RUN executes in /, "
                    "but this Dockerfile has no RUN of its own, so its stages were kept in kiln's work dir",
                    hint="use --isolation=chroot, or give the stage a RUN (e.g. RUN true) to build it in /",
                )
            self._runner = self._make()
        return self._runner.run(spec, output)


def source_date_epoch(options: BuildOptions) -> int:
    value = options.environ.get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.isdigit() else 0


class DockerfileSource(NamedTuple):
    """The Dockerfile, read once: its text (newlines made ``\\n``), the name errors show, and the digest of
    its bytes as read (on disk or downloaded), which the provenance records."""

    text: str
    name: str
    digest: Digest


def read_dockerfile(options: BuildOptions, context_dir: Path) -> DockerfileSource:
    """Read the Dockerfile (a URL, or a path; relative paths are inside the context)."""
    if options.dockerfile.startswith(("https://", "http://")):
        data, name = fetch_dockerfile(options.dockerfile), "Dockerfile"
    else:
        path = Path(options.dockerfile)
        if not path.is_absolute():
            path = context_dir / path
        try:
            data, name = path.read_bytes(), options.dockerfile
        except FileNotFoundError:
            raise ContextError(
                f"Dockerfile {options.dockerfile!r} not found", hint=f"looked for {path}; use --dockerfile"
            ) from None
        except OSError as err:
            raise ContextError(f"cannot read Dockerfile {path}: {err.strerror}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ContextError(
            f"Dockerfile {name!r} is not UTF-8 text (invalid byte at offset {err.start})"
        ) from None
    return DockerfileSource(text.replace("\r\n", "\n").replace("\r", "\n"), name, Digest.of_bytes(data))


def fetch_dockerfile(url: str) -> bytes:
    """``--dockerfile https://...`` (kaniko downloads it before the build)."""
    import requests

    from kiln.context.scrub import scrub_url

    try:
        resp = requests.get(url, timeout=60)
    except requests.RequestException as err:
        raise ContextError(f"cannot download Dockerfile {scrub_url(url)}: {type(err).__name__}") from None
    if resp.status_code >= 300:
        raise ContextError(f"cannot download Dockerfile {scrub_url(url)}: HTTP {resp.status_code}")
    return resp.content


def stages_to_build(graph: StageGraph, skip_unused: bool) -> list[int]:
    """--skip-unused-stages: only what the target needs; else every stage up to the target (kaniko)."""
    if skip_unused:
        return graph.build_order()
    return list(range(graph.target + 1))


def build(options: BuildOptions, client: RegistryClient | None = None) -> BuildResult:
    """``client``: the run's registry client (the caller closes it); None: the build makes and closes one."""
    started = _rfc3339_now()
    work_root = Path(options.work_dir or tempfile.mkdtemp(prefix="kiln-"))
    work_root.mkdir(parents=True, exist_ok=True)
    if trash.pending(trash.trash_dir(work_root)):
        trash.start_sweeper(trash.trash_dir(work_root))  # left by an earlier run whose sweeper was stopped
    work = Path(tempfile.mkdtemp(prefix="build-", dir=work_root))
    results: dict[int, StageResult] = {}
    sources: ImageSources | None = None
    cache: OpenCache | None = None
    # base and cached layers are kept as they download when a local output will need them again
    kept = KeptBlobs(work / "kept") if local_outputs_requested(options) else None
    try:
        spec = ContextSpec(options.context, options.context_sub_path, options.git, options.environ)
        context_source = open_context(spec)
        context_dir = context_source.fetch(work / "context")
        dockerfile = read_dockerfile(options, context_dir)
        platform = Platform.parse(options.platform) if options.platform else Platform.host()
        target_spec = PlatformSpec(platform.os, platform.architecture, platform.variant or "")
        graph = build_stages(
            parse_dockerfile(dockerfile.text, dockerfile.name),
            options.build_arg_map(),
            options.target or None,
            target_platform=target_spec,
        )
        order = stages_to_build(graph, options.skip_unused_stages)
        in_root = options.isolation == "inplace" and _runs(graph, order)
        runner = _LazyRunner(options, work / "run", eager=in_root)
        check_cache_repo(options)
        check_plan(options, graph, order)  # before the first pull: a refused image sends no request
        declared = {
            d.key for i in graph.stages for ins in i.instructions if isinstance(ins, Arg) for d in ins.args
        }
        declared |= set(graph.global_args.declared)
        unused = unused_build_args(options.build_arg_map(), declared)
        if unused:
            log.warning("build args were not consumed by any ARG: %s", ", ".join(unused))
        reproducible = options.reproducible
        epoch = source_date_epoch(options)
        created = epoch_timestamp(epoch) if reproducible else _now()
        sources = ImageSources(options, platform, work / "images", results, graph, client)
        cache = open_cache(options, platform, sources.client)
        ignore_list, roots = _stage_roots(options, work_root, context_dir, in_root, kept)
        if options.use_new_run:
            log.info("--use-new-run: after RUN, a file counts as changed when its mtime moved")
        settings = StageSettings(
            context_dir=context_dir,
            ignore=load_ignore(
                context_dir, Path(options.dockerfile) if Path(options.dockerfile).is_absolute() else None
            ),
            runner=runner,
            cache_dir=Path(options.cache_dir) if options.cache_dir else work_root / "cache",
            build_args=options.build_arg_map(),
            global_args=graph.global_args,
            escape=graph.escape,
            platform=platform,
            ignore_list=ignore_list,
            roots=roots,
            snapshot_mode=options.snapshot_mode,
            compression=options.compression,
            compression_level=options.compression_level,
            layer_mtime=epoch if reproducible else None,
            created=created,
            extract_retries=options.image_fs_extract_retry,
            single_snapshot=options.single_snapshot,
            use_new_run=options.use_new_run,
            force_build_metadata=options.force_build_metadata,
            secrets=read_secrets(options),
            output=run_output,
            environ=options.environ,
            layer_cache=cache.cache if cache is not None else None,
            cache_run_layers=options.cache_run_layers,
            cache_copy_layers=options.cache_copy_layers,
            check_triggers=lambda triggers, stage: onbuild_check(options, graph, triggers, stage),
            kept=kept,
        )
        counter = StepCounter(sum(1 + len(graph.stages[i].instructions) for i in order))
        for index in order:
            stage = graph.stages[index]
            base, docker = sources.base_of(stage)
            results[index] = build_stage(
                stage, base, docker, settings, work / f"stage-{index}", sources, counter
            )
        image = results[graph.target].image
        image = with_labels(image, options)
        if reproducible:
            image = canonical(image, epoch)
        image = with_manifest_annotations(image, options)
        pushed = write_outputs(image, options, sources.client, kept)
        if options.generate_provenance:
            # here, not at the top: a build without --generate-provenance does not load them (start-up)
            from kiln.build.attest import publish_provenance, subject_names
            from kiln.build.provenance import ProvenanceFacts, context_origin, resolved_images

            facts = ProvenanceFacts(
                invocation_id=str(uuid.uuid4()),
                started_on=started,
                finished_on=_rfc3339_now(),
                dockerfile_digest=dockerfile.digest,
                images=resolved_images(
                    ((name, plat, img.digest()) for name, plat, img in sources.pulled()),
                    (graph.stages[i].base for i in order if graph.stages[i].base_stage is None),
                ),
                context=context_origin(options, context_dir, context_source.archive_digest),
                subjects=subject_names(options, pushed, image.digest()),
                image_digest=image.digest(),
                platform=str(platform),
            )
            publish_provenance(image, options, sources.client, pushed, facts, list(settings.secrets.values()))
        if options.cleanup and roots is not None:  # kaniko's --cleanup: / as it was, minus the image
            log.info("--cleanup: clearing / (ignored paths stay)")
            clear_root("/", ignore_list)
        log.info("built %s", image.digest())
        return BuildResult(image, image.digest(), pushed)
    finally:
        if kept is not None:
            kept.close()  # its writers finish before the work dir is moved away
        if cache is not None:
            cache.close()  # queued pushes read layers from the work dir: join them before it goes
        for result in results.values():
            result.root.close()
        if sources is not None:
            sources.close()
        # the outputs are written: the scratch tree leaves by one rename, and a detached process deletes it
        # (--cleanup waits for the deletion); see kiln.fs.trash
        trash.discard(work, work_root, wait=options.cleanup)


def _runs(graph: StageGraph, order: list[int]) -> bool:
    """Whether a stage to build has a RUN (its base's ONBUILD triggers are known only once pulled)."""
    return any(isinstance(ins, Run) for index in order for ins in graph.stages[index].instructions)


def _stage_roots(
    options: BuildOptions, work_root: Path, context_dir: Path, in_root: bool, kept: KeptBlobs | None
) -> tuple[IgnoreList, RootFactory | None]:
    """Stages under the work dir (None: the default), or in ``/`` once kiln is known safe there.

    ``/`` only for inplace builds with a RUN: RUN executes in ``/``, so the image must be there. A
    build without RUN changes nothing outside the work dir, whatever the isolation.
    """
    if not in_root:
        return IgnoreList.build(options.ignore_paths, options.ignore_var_run, defaults=CHROOT_IGNORED), None
    ignore = inplace_ignore_list(options, work_root, context_dir)
    check_kiln_survives(ignore, kiln_files())
    return ignore, InplaceRoots(ignore, options.snapshot_mode, options.image_fs_extract_retry, kept)


def _rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
