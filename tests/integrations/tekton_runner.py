"""A small stand-in for Tekton's controller and entrypoint, enough to run the kiln step here.

It does what Tekton does to a step before it starts (there is no cluster on this machine): replaces
$(params.X), $(params.X[*]) (only as a whole args item, as Tekton allows), $(workspaces.x.path|bound),
$(results.X.path) and $(step.results.X.path), then runs command+args with env in workingDir.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_REF = re.compile(r"\$\(([^)]+)\)")


@dataclass
class StepRun:
    returncode: int
    stdout: str
    stderr: str
    results: dict[str, bytes]
    argv: list[str]
    env: dict[str, str]


def resolve_params(declared: Sequence[Mapping[str, Any]], given: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for p in declared:
        if p["name"] in given:
            out[p["name"]] = given[p["name"]]
        elif "default" in p:
            out[p["name"]] = p["default"]
        else:
            raise ValueError(f"param {p['name']} has no value")
    unknown = set(given) - {p["name"] for p in declared}
    if unknown:
        raise ValueError(f"unknown params {unknown}")
    return out


def run_step(
    step: Mapping[str, Any],
    declared_params: Sequence[Mapping[str, Any]],
    params: Mapping[str, Any],
    workspaces: Mapping[str, Path | None],
    result_names: Sequence[str],
    results_dir: Path,
    python: str,
    extra_env: Mapping[str, str],
) -> StepRun:
    values = resolve_params(declared_params, params)
    results_dir.mkdir(parents=True, exist_ok=True)

    def ref(name: str) -> str:
        kind, _, rest = name.partition(".")
        if kind == "params":
            value = values[rest]
            if isinstance(value, list):
                raise ValueError(f"array param {rest} used as a string")
            return str(value)
        if kind == "workspaces":
            ws, _, attr = rest.partition(".")
            bound = workspaces.get(ws)
            if attr == "bound":
                return "true" if bound is not None else "false"
            return str(bound) if bound is not None else ""
        if kind in ("results", "step"):
            result = rest.removeprefix("results.").removesuffix(".path")
            assert result in result_names, result
            return str(results_dir / result)
        raise ValueError(f"unsupported reference $({name})")

    def subst(text: str) -> str:
        return _REF.sub(lambda m: ref(m[1]), text)

    args: list[str] = []
    for item in step.get("args", []):
        whole = re.fullmatch(r"\$\(params\.([A-Za-z_]+)\[\*\]\)", item)
        if whole:
            args.extend(str(v) for v in values[whole[1]])
        else:
            args.append(subst(item))
    command = [subst(c) for c in step["command"]]
    assert "script" not in step, "the kiln step passes params through env and args only"
    if command[0] == "python3":
        command[0] = python  # the interpreter that has kiln installed, standing in for the image's
    env = {e["name"]: subst(e["value"]) for e in step.get("env", [])}
    env.update(extra_env)
    cwd = subst(step["workingDir"]) if "workingDir" in step else str(results_dir)  # the image's workdir
    proc = subprocess.run(command + args, env=env, cwd=cwd, capture_output=True, text=True, check=False)
    results = {p.name: p.read_bytes() for p in results_dir.iterdir()}
    return StepRun(proc.returncode, proc.stdout, proc.stderr, results, command + args, env)
