"""Short commands must not import what only a build or a push needs (guards start-up time without timing it).

Each case runs in a fresh interpreter (``sys.executable``, the venv's) and reports ``sys.modules`` after the
command: ``--help``, ``version`` and the adapters' entry points start in a fraction of the time when
requests/urllib3, the registry client and the build, Dockerfile and storage packages stay unloaded.
bench/startup_bench.py measures the time itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# third-party and stdlib modules that are slow to import, and kiln packages that pull them in
HEAVY = (
    "requests",
    "urllib3",
    "http.client",
    "ssl",
    "tarfile",
    "zstandard",
    "isal",
    "hypothesis",
    "boto3",
    "botocore",
    "google",
    "azure",
    "git",
    "jsonschema",
    "kiln.registry.client",
    "kiln.build",
    "kiln.dockerfile",
    "kiln.storage",
    "kiln.oci",
    "kiln.fs",
    "kiln.sandbox",
)

KILN = "kiln.cli.main:kiln"
EXECUTOR = "kiln.cli.executor:executor"
WARMER = "kiln.cli.warmer:warmer"

PROBE = """
import json, sys
from {module} import {attr} as command
code = 0
try:
    command({argv!r})
except SystemExit as done:
    code = done.code or 0
sys.stderr.write(json.dumps({{"code": code, "modules": sorted(sys.modules)}}))
"""


def python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120
    )


def loaded_after(entry: str, argv: list[str]) -> tuple[str, list[str]]:
    """Run ``entry`` (module:attribute, a click command) with argv in a fresh Python; its stdout and modules."""
    module, _, attr = entry.partition(":")
    out = python(PROBE.format(module=module, attr=attr, argv=argv))
    report = json.loads(out.stderr.strip().splitlines()[-1])
    assert report["code"] == 0, out.stdout
    return out.stdout, report["modules"]


def heavy_in(modules: list[str]) -> list[str]:
    return [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]


@pytest.mark.parametrize(
    ("entry", "argv", "expect"),
    [
        (KILN, ["--help"], "Build OCI/Docker images"),
        (KILN, ["version"], "kiln "),
        (KILN, ["build", "--help"], "--destination"),
        (KILN, ["warm", "--help"], "--cache-dir"),
        (KILN, ["index", "--help"], "--digests-from"),
        (KILN, ["debug", "--help"], "parse"),
        (KILN, ["integration", "--help"], "github"),
        (KILN, ["integration", "github", "--help"], "GitHub Actions"),
        (KILN, ["integration", "gitlab", "--help"], "GitLab CI"),
        (KILN, ["integration", "tekton", "--help"], "Tekton"),
        (EXECUTOR, ["--help"], "--destination"),
        (EXECUTOR, ["version"], "kiln version"),
        (WARMER, ["--help"], "--cache-dir"),
    ],
)
def test_short_commands_leave_heavy_modules_unloaded(entry: str, argv: list[str], expect: str) -> None:
    stdout, modules = loaded_after(entry, argv)
    assert expect in stdout  # the command really ran
    assert "click" in modules  # the probe sees the interpreter's modules
    assert heavy_in(modules) == []


def test_importing_the_cli_loads_no_heavy_module() -> None:
    out = python("import json, sys, kiln.cli.main; print(json.dumps(sorted(sys.modules)))")
    assert heavy_in(json.loads(out.stdout)) == []


def test_registry_options_alone_do_not_load_requests() -> None:
    modules = json.loads(
        python("import json, sys, kiln.registry.options; print(json.dumps(sorted(sys.modules)))").stdout
    )
    assert "kiln.registry" in modules
    assert "requests" not in modules
    assert "kiln.registry.client" not in modules


def test_the_probe_sees_a_heavy_import() -> None:
    """The check can fail: a command that talks to a registry does load requests."""
    out = python(
        "import json, sys; from kiln.registry import RegistryClient; print(json.dumps(sorted(sys.modules)))"
    )
    assert {"requests", "urllib3", "kiln.registry.client"} <= set(heavy_in(json.loads(out.stdout)))


def test_registry_exports_stay_the_functions_after_their_modules_are_imported() -> None:
    """``pull`` is both a function and a submodule of kiln.registry; the package hands out the function."""
    python(
        "import kiln.registry.pull, kiln.registry.push\n"
        "from kiln.registry import RegistryClient, pull, pull_index, push_image\n"
        "import kiln.registry as r\n"
        "assert callable(pull) and pull.__module__ == 'kiln.registry.pull', pull\n"
        "assert r.pull is pull and pull_index.__name__ == 'pull_index' and push_image.__name__ == 'push_image'\n"
        "assert RegistryClient.__module__ == 'kiln.registry.client'\n"
    )
    with pytest.raises(subprocess.CalledProcessError):
        python("from kiln.registry import no_such_name")


def test_a_kiln_index_run_loads_the_registry_client_but_not_the_build() -> None:
    """``kiln index`` talks to registries (requests is needed) but builds nothing and writes no tarball."""
    argv = ["index", "-d", "registry.example/app:1", "--digests-from", "/nonexistent/digests"]
    module, _, attr = KILN.partition(":")
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(module=module, attr=attr, argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = out.stderr.strip().splitlines()
    assert lines[0].startswith(
        "error: digest file /nonexistent/digests does not exist"
    )  # failed after the imports
    report = json.loads(lines[-1])
    assert report["code"] == 1
    assert {"requests", "kiln.registry.client", "kiln.registry.index"} <= set(report["modules"])
    unwanted = (
        "tarfile",
        "kiln.dockerfile",
        "kiln.storage.layout",
        "kiln.storage.base_cache",
        "kiln.build.executor",
    )
    assert [m for m in unwanted if m in report["modules"]] == []


def test_a_build_loads_only_what_it_uses(tmp_path: Path) -> None:
    """A build without RUN, provenance or an index: no sandbox runner, no provenance, referrers or copy code."""
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "a.txt").write_text("a\n")
    (ctx / "Dockerfile").write_text("FROM scratch\nCOPY a.txt /a.txt\n")
    argv = ["-c", str(ctx), "--kaniko-dir", str(tmp_path / "k"), "--no-push",
            "--oci-layout-path", str(tmp_path / "layout")]  # fmt: skip
    _, modules = loaded_after(EXECUTOR, argv)
    assert (tmp_path / "layout" / "index.json").is_file()  # the build ran
    assert {"kiln.build.executor", "kiln.registry.client"} <= set(modules)
    unwanted = (
        "kiln.build.provenance",
        "kiln.build.attest",
        "kiln.oci.artifact",
        "kiln.registry.referrers",
        "kiln.registry.copy",
        "kiln.sandbox.chroot",
        "kiln.sandbox.inplace",
        "kiln.build.publish",
        "kiln.registry.index",
    )
    assert [m for m in unwanted if m in modules] == []
