"""Start-up time of kiln's short commands (``--help``, ``version``): median wall time of N fresh processes.

Why: every CI step and every Tekton/GitLab/GitHub adapter call starts a new Python process; for short
commands (``kiln index``, ``kiln version``, ``--help``) that start-up is nearly all of the wall time.
Each case runs this script's Python (the venv's) with ``-c`` calling the console script's entry point
(no shell wrapper timed) and also reports how many modules the command loaded and whether requests or
urllib3 were among them. ``--compare-src DIR`` also times another checkout's ``src`` (put first on
PYTHONPATH), alternating the two run by run so machine load hits both alike.

``python bench/startup_bench.py [--runs 20] [--compare-src /tmp/kiln-before/src] [--json OUT]``
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
KILN = "from kiln.cli.main import kiln; kiln()"
EXECUTOR = "from kiln.cli.executor import executor; executor()"

# the imports of a real ``kiln index`` run: it fails on a missing digest file right after them (exit 1)
INDEX_RUN = ["index", "-d", "registry.example/app:1", "--digests-from", "/nonexistent/digests"]

# name -> (code for python -c, argv after it, the exit code it must return)
CASES: dict[str, tuple[str, list[str], int]] = {
    "python -c pass": ("pass", [], 0),
    "import kiln.cli.main": ("import kiln.cli.main", [], 0),
    "kiln --help": (KILN, ["--help"], 0),
    "kiln version": (KILN, ["version"], 0),
    "kiln index --help": (KILN, ["index", "--help"], 0),
    "kiln index (imports of a run)": (KILN, INDEX_RUN, 1),
    "kiln integration github --help": (KILN, ["integration", "github", "--help"], 0),
    "executor --help": (EXECUTOR, ["--help"], 0),
}
HEAVY = ("requests", "urllib3")


def env_for(src: Path | None) -> dict[str, str]:
    env = dict(os.environ)
    if src is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(src), *filter(None, [env.get("PYTHONPATH")])])
    return env


def once(code: str, argv: list[str], env: dict[str, str], rc: int) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", code, *argv],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
        env=env,
    )
    elapsed = time.perf_counter() - started
    if done.returncode != rc:
        raise SystemExit(f"{code} {argv}: exit {done.returncode}, expected {rc}")
    return elapsed


def loaded(code: str, argv: list[str], env: dict[str, str]) -> list[str]:
    """The modules in sys.modules once the command has run (it exits through SystemExit)."""
    probe = f"import sys, json\ntry:\n    exec({code!r})\nfinally:\n    sys.stderr.write(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, cwd=REPO, env=env, check=False
    )
    mods: list[str] = json.loads(out.stderr.strip().splitlines()[-1])
    return mods


def measure(
    code: str, argv: list[str], rc: int, envs: dict[str, dict[str, str]], runs: int
) -> dict[str, dict[str, object]]:
    for env in envs.values():
        once(code, argv, env, rc)  # warm the page cache and __pycache__
    times: dict[str, list[float]] = {label: [] for label in envs}
    for _ in range(runs):
        for label, env in envs.items():
            times[label].append(once(code, argv, env, rc))
    out: dict[str, dict[str, object]] = {}
    for label, env in envs.items():
        mods = loaded(code, argv, env)
        out[label] = {
            "median_s": round(statistics.median(times[label]), 4),
            "modules": len(mods),
            "heavy": [m for m in HEAVY if m in mods],
        }
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument(
        "--compare-src", type=Path, help="another checkout's src directory, timed as 'before'"
    )
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    envs = {"this": env_for(None)}
    if args.compare_src:
        envs = {"before": env_for(args.compare_src.resolve()), **envs}
    results = {name: measure(code, argv, rc, envs, args.runs) for name, (code, argv, rc) in CASES.items()}

    print(f"median of {args.runs} runs each; modules = len(sys.modules) after the command")
    header = "".join(f"  {label + ' median':>14} {'modules':>7} {'heavy':>16}" for label in envs)
    print(f"{'case':32}{header}")
    for name, by_label in results.items():
        cells = "".join(
            f"  {r['median_s']:13.3f}s {r['modules']:>7} {','.join(r['heavy']) or '-':>16}"  # type: ignore[arg-type]
            for r in by_label.values()
        )
        print(f"{name:32}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
