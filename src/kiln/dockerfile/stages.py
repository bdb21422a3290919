"""The stage graph: stages (named/numbered), their bases and what they depend on.

A stage depends on another through ``FROM <stage>``, ``COPY/ADD --from=<stage|index>``
and ``RUN --mount=from=<stage>``; anything else named there is an image.  ``--target``
picks the last stage needed; ``required_stages`` gives what it transitively needs, the
rest can be skipped (kaniko's --skip-unused-stages).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

from kiln.dockerfile.buildargs import GlobalArgs, PlatformSpec, platform_args, resolve_global_args
from kiln.dockerfile.instructions import Arg, Copy, From, Instruction, Run, parse_instruction
from kiln.dockerfile.instructions.base import error
from kiln.dockerfile.lexer import LexError, expand_word
from kiln.dockerfile.parser import ParsedDockerfile
from kiln.errors import DockerfileError, Location

SCRATCH = "scratch"


@dataclass(frozen=True)
class Stage:
    """One ``FROM`` and the instructions up to the next.  ``base`` is expanded with the global ARGs."""

    index: int
    name: str | None
    from_: From
    base: str
    platform: str | None
    instructions: tuple[Instruction, ...]
    base_stage: int | None
    dependencies: tuple[int, ...]
    images: tuple[str, ...]

    @property
    def is_scratch(self) -> bool:
        return self.base_stage is None and self.base.lower() == SCRATCH

    @property
    def display_name(self) -> str:
        return self.name if self.name is not None else str(self.index)


@dataclass(frozen=True)
class StageGraph:
    """All stages, the global ARG scope and the target stage's index."""

    stages: tuple[Stage, ...]
    meta_args: tuple[Arg, ...]
    global_args: GlobalArgs
    escape: str
    target: int
    directives: dict[str, str] = field(hash=False)

    def stage(self, ref: str | int) -> Stage:
        """A stage by index or (case-insensitive) name; KeyError if there is none."""
        index = _lookup(self.stages, str(ref), None)
        if index is None:
            raise KeyError(ref)
        return self.stages[index]

    def required_stages(self, target: str | int | None = None) -> list[int]:
        """Indexes (ascending) of the target stage and every stage it transitively needs."""
        start = self.target if target is None else self.stage(target).index
        seen: set[int] = set()
        todo = [start]
        while todo:
            index = todo.pop()
            if index in seen:
                continue
            seen.add(index)
            todo.extend(self.stages[index].dependencies)
        return sorted(seen)

    def unused_stages(self, target: str | int | None = None) -> list[int]:
        """Stages the target does not need (skipped with --skip-unused-stages)."""
        needed = set(self.required_stages(target))
        return [s.index for s in self.stages if s.index not in needed]

    def build_order(self, target: str | int | None = None) -> list[int]:
        """Required stages with every dependency before its dependents (stable by index)."""
        needed = set(self.required_stages(target))
        order: list[int] = []
        done: set[int] = set()

        def visit(index: int) -> None:
            if index in done:
                return
            done.add(index)
            for dep in sorted(self.stages[index].dependencies):
                visit(dep)
            order.append(index)

        for index in sorted(needed):
            visit(index)
        return order


def _lookup(stages: tuple[Stage, ...] | list[_Draft], ref: str, current: int | None) -> int | None:
    if ref.isdigit():
        index = int(ref)
        return index if index < len(stages) else None
    lowered = ref.lower()
    for stage in stages:
        if stage.name == lowered and stage.index != current:
            return stage.index
    return None


@dataclass
class _Draft:
    index: int
    name: str | None
    from_: From
    base: str
    platform: str | None
    instructions: list[Instruction]


def build_stages(
    parsed: ParsedDockerfile,
    build_args: Mapping[str, str],
    target: str | None = None,
    *,
    target_platform: PlatformSpec | None = None,
    build_platform: PlatformSpec | None = None,
) -> StageGraph:
    """Type every instruction, split into stages, resolve FROM/--from references and the target."""
    build = build_platform or PlatformSpec.host()
    platform_env = platform_args(target_platform or build, build)
    escape = parsed.escape
    meta: list[Arg] = []
    drafts: list[_Draft] = []
    global_args: GlobalArgs | None = None
    for node in parsed.nodes:
        instruction = parse_instruction(node, parsed.filename)
        if isinstance(instruction, From):
            if global_args is None:
                global_args = resolve_global_args(meta, build_args, platform_env, escape)
            expanded = instruction.expand(global_args.values, escape)
            if not expanded.base.strip():
                raise error(instruction.location, f"base name ({instruction.base}) should not be blank")
            drafts.append(
                _Draft(len(drafts), instruction.stage_name, instruction, expanded.base, expanded.platform, [])
            )
        elif not drafts:
            if not isinstance(instruction, Arg):
                raise error(
                    instruction.location,
                    "no build stage in current context",
                    hint="a Dockerfile must start with FROM (only ARG may come before it)",
                )
            meta.append(instruction)
        else:
            drafts[-1].instructions.append(instruction)
    if not drafts or global_args is None:
        where = Location(parsed.filename, parsed.nodes[-1].end_line, parsed.nodes[-1].end_line)
        raise error(where, "dockerfile contains no stages to build", hint="add a FROM instruction")
    _check_duplicate_names(drafts)
    stages = tuple(_resolve(draft, drafts, global_args.values, escape) for draft in drafts)
    _check_cycles(stages)
    target_index = len(stages) - 1
    if target is not None:
        found = _lookup(stages, target, None) if not target.isdigit() else None
        if found is None:
            names = ", ".join(s.name for s in stages if s.name) or "none"
            raise DockerfileError(
                f"target stage {json.dumps(target)} could not be found", hint=f"named stages: {names}"
            )
        target_index = found
    return StageGraph(stages, tuple(meta), global_args, escape, target_index, dict(parsed.directives))


def _check_duplicate_names(drafts: list[_Draft]) -> None:
    seen: dict[str, _Draft] = {}
    for draft in drafts:
        if draft.name is None:
            continue
        if draft.name in seen:
            first = seen[draft.name].from_.location
            raise error(
                draft.from_.location, f"duplicate stage name {draft.name!r}", hint=f"first defined at {first}"
            )
        seen[draft.name] = draft


def _soft_expand(word: str, env: Mapping[str, str], escape: str) -> str:
    try:
        return expand_word(word, env, escape)
    except LexError:
        return word


def _resolve(draft: _Draft, drafts: list[_Draft], env: Mapping[str, str], escape: str) -> Stage:
    deps: set[int] = set()
    images: list[str] = []
    base_stage = _lookup(drafts, draft.base, draft.index) if not draft.base.isdigit() else None
    if base_stage is not None:
        deps.add(base_stage)
    elif draft.base.lower() != SCRATCH:
        images.append(draft.base)
    for instruction in draft.instructions:
        refs: list[tuple[str, Location]] = []
        if isinstance(instruction, Copy) and instruction.from_:
            refs.append((instruction.from_, instruction.location))
        elif isinstance(instruction, Run):
            dynamic = any("$" in spec for spec in instruction.mount_specs)
            mounts = instruction.expand(env, escape).mounts if dynamic else instruction.mounts
            refs.extend((m.from_, instruction.location) for m in mounts if m.from_)
        for ref, where in refs:
            value = _soft_expand(ref, env, escape)
            index = _lookup(drafts, value, draft.index)
            if value.isdigit() and (index is None or index == draft.index):
                raise error(
                    where,
                    f"invalid stage reference --from={value}: no other stage has that index",
                    hint=f"stages are numbered 0..{len(drafts) - 1}",
                )
            if index is not None:
                deps.add(index)
            elif value.lower() != SCRATCH:
                images.append(value)
    return Stage(
        draft.index,
        draft.name,
        draft.from_,
        draft.base,
        draft.platform,
        tuple(draft.instructions),
        base_stage,
        tuple(sorted(deps)),
        tuple(dict.fromkeys(images)),
    )


def _check_cycles(stages: tuple[Stage, ...]) -> None:
    state: dict[int, int] = {}

    def visit(index: int) -> None:
        state[index] = 1
        for dep in stages[index].dependencies:
            if state.get(dep) == 1:
                raise error(
                    stages[index].from_.location,
                    f"circular dependency detected on stage: {stages[dep].display_name}",
                )
            if dep not in state:
                visit(dep)
        state[index] = 2

    for stage in stages:
        if stage.index not in state:
            visit(stage.index)


__all__ = ["SCRATCH", "Stage", "StageGraph", "build_stages"]
