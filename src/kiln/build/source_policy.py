"""The source policy applied to one build: every image it will pull is checked before the first request.

``check_plan`` walks the stages to build once the Dockerfile is planned (FROM bases, ``COPY --from``
and ``RUN --mount from=`` images, expanded with the global ARGs); ``check_image`` is called again right
before each pull (it also sees names only known later: ONBUILD triggers, --from values that use stage
ARGs), and ``check_cache_repo`` before the push-permission check and the first cache lookup.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from kiln.build.cache.store import default_cache_repo
from kiln.build.options import BuildOptions
from kiln.dockerfile import SCRATCH, Stage, StageGraph, expand_word
from kiln.dockerfile.instructions import Copy, Instruction, Run
from kiln.errors import KilnError, Location, PolicyError
from kiln.policy import SourcePolicy
from kiln.reference import Reference
from kiln.registry.mirrors import mirror_candidates
from kiln.registry.options import RegistryOptions

_HINT = "change the image, or the --allowed-*/--denied-* flags (docs/supply-chain.md)"


def pull_registries(registry: RegistryOptions, ref: Reference) -> list[str]:
    """Every registry a pull of ``ref`` may send requests to (mirrors first), as RegistryClient tries them."""
    return [candidate.registry for candidate in mirror_candidates(registry, ref.context())]


def check_reference(
    policy: SourcePolicy,
    registry: RegistryOptions,
    ref: Reference,
    what: str,
    location: Location | None = None,
) -> None:
    """Raise PolicyError naming the rule when ``ref`` (or a mirror its pull would use) is refused."""
    refusal = policy.refusal(ref, pull_registries(registry, ref))
    if refusal is not None:
        raise PolicyError(refusal.sentence(f"{what} {ref}"), location, hint=_HINT)


def check_image(options: BuildOptions, name: str, what: str, location: Location | None = None) -> None:
    """``check_reference`` for a name as written; a name that does not parse is left to the pull to report."""
    if not options.source_policy.active:
        return
    try:
        ref = Reference.parse(name)
    except KilnError:
        return
    check_reference(options.source_policy, options.registry, ref, what, location)


def check_cache_repo(options: BuildOptions) -> None:
    """--cache-repo (or the default ``<destination>/cache``) is pulled from: the same rules apply."""
    if not options.cache or not options.source_policy.active or options.cache_repo.startswith("oci:"):
        return
    repo = options.cache_repo or default_cache_repo(options.destinations)
    if not repo:
        return
    try:
        ref = Reference.parse(repo)
    except KilnError:
        return
    check_reference(options.source_policy, options.registry, ref, "--cache-repo")


def check_plan(options: BuildOptions, graph: StageGraph, order: Sequence[int]) -> None:
    """Every image the stages in ``order`` name, checked before any of them is pulled."""
    if not options.source_policy.active:
        return
    env = graph.global_args.values
    for index in order:
        stage = graph.stages[index]
        if stage.base_stage is None and not stage.is_scratch:
            check_image(options, stage.base, "base image", stage.from_.location)
        check_instructions(options, graph, stage.instructions, env)


def check_instructions(
    options: BuildOptions,
    graph: StageGraph,
    instructions: Iterable[Instruction],
    env: dict[str, str],
    location: Location | None = None,
    prefix: str = "",
) -> None:
    """The ``--from`` images of these instructions (ONBUILD triggers pass their stage's FROM location)."""
    if not options.source_policy.active:
        return
    for instruction, kind, name in _from_images(graph, instructions, env):
        check_image(options, name, f"{prefix}{kind} image", location or instruction.location)


def onbuild_check(
    options: BuildOptions, graph: StageGraph, triggers: Sequence[Instruction], stage: Stage
) -> None:
    """ONBUILD triggers inherited from a base, before the stage's first step runs."""
    check_instructions(options, graph, triggers, graph.global_args.values, stage.from_.location, "ONBUILD ")


def _from_images(
    graph: StageGraph, instructions: Iterable[Instruction], env: dict[str, str]
) -> Iterator[tuple[Instruction, str, str]]:
    escape = graph.escape
    for instruction in instructions:
        names: list[tuple[str, str]] = []
        if isinstance(instruction, Copy) and instruction.from_:
            names.append(("COPY --from", instruction.from_))
        elif isinstance(instruction, Run):
            mounts = instruction.mounts
            if any("$" in spec for spec in instruction.mount_specs):
                try:
                    mounts = instruction.expand(env, escape).mounts
                except KilnError:
                    continue
            names.extend(("RUN --mount from", m.from_) for m in mounts if m.from_)
        for kind, raw in names:
            try:
                value = expand_word(raw, env, escape)
            except (KilnError, ValueError):  # LexError: the step reports it when it runs
                continue
            if "$" in value or value.lower() == SCRATCH or _is_stage(graph, value):
                continue
            yield instruction, kind, value


def _is_stage(graph: StageGraph, name: str) -> bool:
    try:
        graph.stage(name)
    except KeyError:
        return False
    return True
