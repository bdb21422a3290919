"""The flag definitions against kaniko's (KANIKO_COMPAT.md), the support table, and docs/flags.md."""

from __future__ import annotations

from pathlib import Path

import click
import pytest

from kiln.cli import flagdoc
from kiln.cli.executor import executor
from kiln.cli.flags import DEPRECATED_ALIASES, ENV_ALIASES, KILN_EXTRAS
from kiln.cli.main import kiln
from kiln.cli.support import NOT_SUPPORTED_YET
from kiln.cli.warmer import warmer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "flags.md"

# kaniko v1.24: flag -> (short form, default as click holds it); from KANIKO_COMPAT.md
EXECUTOR_SPEC: dict[str, tuple[str | None, object]] = {
    "verbosity": ("-v", "info"), "log-format": (None, "color"), "log-timestamp": (None, False),
    "force": (None, False), "dockerfile": ("-f", "Dockerfile"), "context": ("-c", "/workspace/"),
    "context-sub-path": (None, ""), "bucket": ("-b", ""), "destination": ("-d", None),
    "snapshot-mode": (None, "full"), "custom-platform": (None, ""), "build-arg": (None, None),
    "insecure": (None, False), "skip-tls-verify": (None, False), "insecure-pull": (None, False),
    "skip-tls-verify-pull": (None, False), "push-retry": (None, 0),
    "push-ignore-immutable-tag-errors": (None, False), "image-fs-extract-retry": (None, 0),
    "image-download-retry": (None, 0), "kaniko-dir": (None, "/kaniko"), "tar-path": (None, ""),
    "single-snapshot": (None, False), "reproducible": (None, False), "target": (None, ""),
    "no-push": (None, False), "no-push-cache": (None, False), "cache-repo": (None, ""),
    "cache-dir": (None, "/cache"), "digest-file": (None, ""), "image-name-with-digest-file": (None, ""),
    "image-name-tag-with-digest-file": (None, ""), "oci-layout-path": (None, ""),
    "compression": (None, None), "compression-level": (None, -1), "cache": (None, False),
    "compressed-caching": (None, True), "cleanup": (None, False), "cache-ttl": (None, "336h"),
    "insecure-registry": (None, None), "skip-tls-verify-registry": (None, None),
    "registry-certificate": (None, None), "registry-client-cert": (None, None),
    "registry-map": (None, None), "registry-mirror": (None, None),
    "skip-default-registry-fallback": (None, False), "ignore-var-run": (None, True),
    "whitelist-var-run": (None, True), "label": (None, None), "skip-unused-stages": (None, False),
    "use-new-run": (None, False), "git": (None, None), "cache-copy-layers": (None, False),
    "cache-run-layers": (None, True), "ignore-path": (None, None), "force-build-metadata": (None, False),
    "skip-push-permission-check": (None, False), "snapshotMode": (None, ""), "customPlatform": (None, ""),
    "tarPath": (None, ""), "azure-container-registry-config": (None, ""),
}  # fmt: skip
WARMER_SPEC: dict[str, tuple[str | None, object]] = {
    "verbosity": ("-v", "info"), "log-format": (None, "color"), "log-timestamp": (None, False),
    "image": ("-i", None), "cache-dir": ("-c", "/cache"), "force": ("-f", False), "cache-ttl": (None, "336h"),
    "insecure-pull": (None, False), "skip-tls-verify-pull": (None, False), "insecure-registry": (None, None),
    "skip-tls-verify-registry": (None, None), "registry-certificate": (None, None),
    "registry-client-cert": (None, None), "registry-map": (None, None), "registry-mirror": (None, None),
    "skip-default-registry-fallback": (None, False), "customPlatform": (None, ""), "dockerfile": ("-d", ""),
    "build-arg": (None, None),
}  # fmt: skip
HIDDEN = {"bucket", "whitelist-var-run", "azure-container-registry-config"}


def _options(cmd: click.Command) -> dict[str, click.Option]:
    return {p.opts[-1].lstrip("-"): p for p in cmd.params if isinstance(p, click.Option) and p.name != "help"}


@pytest.mark.parametrize(("cmd", "spec"), [(executor, EXECUTOR_SPEC), (warmer, WARMER_SPEC)])
def test_flags_match_kaniko(cmd: click.Command, spec: dict[str, tuple[str | None, object]]) -> None:
    options = _options(cmd)
    assert set(options) - set(KILN_EXTRAS) == set(spec)
    for name, (short, default) in spec.items():
        opt = options[name]
        assert next((o for o in opt.opts if len(o) == 2), None) == short, name
        if default is None:
            assert opt.multiple or opt.default is None, name
        else:
            assert opt.default == default, name
        assert opt.hidden == (name in HIDDEN and cmd is executor), name


def test_kiln_build_and_warm_take_the_same_flags() -> None:
    build = kiln.commands["build"]
    warm = kiln.commands["warm"]
    assert set(_options(build)) == set(_options(executor))
    assert set(_options(warm)) == set(_options(warmer))


def test_tables_name_real_flags() -> None:
    options = _options(executor)
    for table in (NOT_SUPPORTED_YET, ENV_ALIASES, DEPRECATED_ALIASES):
        assert set(table) <= set(options)
    assert set(DEPRECATED_ALIASES.values()) <= set(options)


def test_docs_are_generated_from_the_code() -> None:
    assert DOCS.read_text() == flagdoc.render(), "run: python -m kiln.cli.flagdoc > docs/flags.md"
    for name in _options(executor):
        assert f"| `--{name}` |" in DOCS.read_text()
