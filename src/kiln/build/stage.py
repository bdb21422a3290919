"""One stage: base image -> rootfs on disk -> each instruction as a step -> a new image.

Metadata-only steps add an ``empty_layer`` history entry; steps that may change files are followed
by a snapshot, and a layer is added only when something changed (else the entry is empty too).
ONBUILD triggers of the base run first, and are not inherited by the new image (BuildKit).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from kiln.build.cache.hooks import StageCache
from kiln.build.cache.layer_cache import LayerCache
from kiln.build.logs import StepCounter
from kiln.build.rootfs import RootFactory, StageRoot
from kiln.build.state import StageState
from kiln.build.steps import METADATA_ONLY, StageFiles, StepContext, dispatch
from kiln.dockerfile import GlobalArgs, IgnoreMatcher, Stage, parse_dockerfile
from kiln.dockerfile.instructions import Instruction, Run, parse_instruction
from kiln.errors import BuildStepError, DockerfileError, KilnError, PolicyError
from kiln.fs.ignore import IgnoreList
from kiln.fs.kept import KeptBlobs
from kiln.oci import Image, ImageConfig, Layer, Platform
from kiln.oci.mutate import new_image
from kiln.sandbox import OutputSink, Runner
from kiln.snapshot.walk import Mode

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class StageSettings:
    """What every stage of one build shares."""

    context_dir: Path
    ignore: IgnoreMatcher | None
    runner: Runner | None
    cache_dir: Path
    build_args: Mapping[str, str]
    global_args: GlobalArgs
    escape: str
    platform: Platform
    ignore_list: IgnoreList
    snapshot_mode: Mode = "full"
    compression: str = "gzip"
    compression_level: int = -1
    layer_mtime: int | None = None
    created: str | None = None
    extract_retries: int = 0
    single_snapshot: bool = False
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    output: OutputSink | None = None
    environ: Mapping[str, str] = field(default_factory=dict, repr=False)
    layer_cache: LayerCache | None = None  # --cache: look up / push RUN layers
    cache_run_layers: bool = True
    cache_copy_layers: bool = False
    # the source policy for images named by a base's ONBUILD triggers (raises PolicyError)
    check_triggers: Callable[[Sequence[Instruction], Stage], None] | None = None
    roots: RootFactory | None = None  # where stages live: None = a dir under the work dir (chroot)
    use_new_run: bool = False  # kaniko's --use-new-run: after RUN, changed = mtime changed
    force_build_metadata: bool = False  # kaniko's --force-build-metadata: a layer for every step
    kept: KeptBlobs | None = None  # keep downloaded layer blobs for the local outputs


@dataclass
class StageResult:
    """A built stage: its image and where its files are (for ``COPY --from``)."""

    image: Image
    docker: bool
    root: StageRoot

    @property
    def files(self) -> Path:
        return self.root.files(self.image)


def base_config(base: Image | None, platform: Platform) -> ImageConfig:
    if base is None:
        return ImageConfig(architecture=platform.architecture, os=platform.os, variant=platform.variant)
    return base.config()


def onbuild_triggers(config: ImageConfig, where: Stage) -> list[Instruction]:
    """The base image's ONBUILD triggers as typed instructions, located at the FROM line."""
    out: list[Instruction] = []
    for text in config.config.on_build:
        try:
            parsed = parse_dockerfile(text + "\n", f"ONBUILD of {where.base}")
            for node in parsed.nodes:
                out.append(parse_instruction(node, parsed.filename))
        except DockerfileError as err:
            raise BuildStepError(
                f"invalid ONBUILD trigger {text!r} in {where.base}: {err.message}",
                location=where.from_.location,
            ) from None
    return out


def build_stage(
    stage: Stage,
    base: Image | None,
    docker: bool,
    settings: StageSettings,
    work: Path,
    sources: StageFiles,
    counter: StepCounter,
) -> StageResult:
    """Build ``stage`` on ``base`` (None = scratch) in ``work``; the caller closes ``result.root``."""
    if settings.roots is not None:
        root = settings.roots(work)
    else:
        root = StageRoot(
            work, settings.ignore_list, settings.snapshot_mode, settings.extract_retries, kept=settings.kept
        )
    try:
        return _build_on(stage, base, docker, settings, root, sources, counter)
    except BaseException:
        root.close()  # a failed stage releases its overlay mount; built ones are closed by the caller
        raise


def _build_on(
    stage: Stage,
    base: Image | None,
    docker: bool,
    settings: StageSettings,
    root: StageRoot,
    sources: StageFiles,
    counter: StepCounter,
) -> StageResult:
    work = root.work
    layers: list[Layer] = []
    with counter.step(stage.from_.original.strip()):
        if base is not None:
            layers = list(base.layers())
            size = sum(layer.size for layer in layers)
            log.info("base %s: unpacking %d layers, %.1f MB", stage.base, len(layers), size / 1e6)
            root.unpack(layers)
        files = root.start()
    config = base_config(base, settings.platform)
    state = StageState(
        config=replace(config, history=config.history),
        root=files,
        escape=settings.escape,
        build_args=settings.build_args,
        global_args=settings.global_args,
        created=settings.created,
    )
    ctx = StepContext(
        state=state,
        context_dir=settings.context_dir,
        ignore=settings.ignore,
        runner=settings.runner,
        sources=sources,
        work_dir=work,
        cache_dir=settings.cache_dir,
        secrets=settings.secrets,
        output=settings.output,
        mtime=settings.layer_mtime,
        environ=settings.environ,
    )
    triggers = onbuild_triggers(config, stage)
    if triggers and settings.check_triggers is not None:
        settings.check_triggers(triggers, stage)
    counter.total += len(triggers)
    if triggers:
        state.set_run(replace(state.run, on_build=()))
    pending = False
    scache = None
    if settings.layer_cache is not None and not settings.single_snapshot:
        scache = StageCache.for_base(
            settings.layer_cache,
            base,
            settings.platform,
            settings.cache_run_layers,
            settings.cache_copy_layers,
        )
    instructions = [*triggers, *stage.instructions]
    for index, instruction in enumerate(instructions):
        with counter.step(instruction.original.strip()):
            following = instructions[index + 1 :]
            key, entry = scache.before(instruction, ctx, following) if scache is not None else (None, None)
            if scache is not None and entry is not None:
                # a hit: the cached layer replaces running the step (RUN and COPY change no config); it is
                # applied only if a later step needs the files (root.ready), not for a rebuild that hits throughout
                root.defer(entry.layer)
                layers.append(entry.layer)
                state.add_history(entry.created_by, empty_layer=False)
                scache.after(instruction, state, key, entry.layer, entry.created_by, hit=True)
                continue
            if type(instruction) not in METADATA_ONLY or settings.force_build_metadata:
                root.ready()  # the step reads or changes files (or commits): cached layers go on disk first
            try:
                outcome = dispatch(instruction, ctx)
            except BuildStepError as err:
                if err.location is None:
                    err.location = instruction.location
                raise
            except PolicyError as err:
                if err.location is None:
                    err.location = instruction.location
                raise
            except DockerfileError:
                raise
            except KilnError as err:
                raise BuildStepError(err.message, location=instruction.location, hint=err.hint) from None
            last = index == len(instructions) - 1
            force = settings.force_build_metadata  # kaniko: every step snapshots, empty or not
            if outcome.touches_fs and settings.single_snapshot and not last and not force:
                pending = True
                state.add_history(outcome.created_by, empty_layer=True)
                continue
            layer = None
            if force or outcome.touches_fs or (settings.single_snapshot and last and pending):
                layer = root.commit(
                    settings.compression,
                    settings.compression_level,
                    settings.layer_mtime,
                    docker,
                    mode="time" if settings.use_new_run and isinstance(instruction, Run) else None,
                    allow_empty=force,
                )
            if layer is not None:
                layers.append(layer)
            state.add_history(outcome.created_by, empty_layer=layer is None)
            if scache is not None:
                scache.after(instruction, state, key, layer, outcome.created_by, hit=False)
    final = replace(state.config, created=settings.created)
    image = new_image(final, tuple(layers), docker)
    return StageResult(image, docker, root)
