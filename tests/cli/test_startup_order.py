"""kaniko's start-up order: flag syntax, deprecated aliases, env aliases, platform, dir, destination, ..."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.build.options import BuildOptions
from kiln.cli.buildopts import executor_options
from kiln.cli.executor import executor
from kiln.errors import KilnError, UsageError


def _options(argv: list[str], environ: dict[str, str] | None = None) -> BuildOptions:
    ctx = executor.make_context("executor", argv)
    return executor_options(ctx.params, environ or {}, "kiln/test", in_container=lambda: False)


@pytest.mark.parametrize(
    ("argv", "environ", "first"),
    [
        # a malformed flag value wins over a missing --destination (cobra rejects it while parsing)
        (["--label", "oops"], {}, "invalid --label"),
        (["--cache-ttl", "2 weeks"], {}, "not a duration"),
        (["--registry-map", "nomap"], {}, "for --registry-map"),
        # the platform is checked before the destination
        (["--custom-platform", "plan9"], {}, "invalid platform"),
        # KANIKO_NO_PUSH is applied before the destination check
        ([], {"KANIKO_NO_PUSH": "false"}, "must provide --destination"),
        # the destination before the digest-name files
        (["--image-name-with-digest-file", "/x"], {}, "must provide --destination"),
        # an env map with bad syntax is named by its variable
        (["--no-push"], {"KANIKO_REGISTRY_MAP": "a=b;broken"}, "for KANIKO_REGISTRY_MAP"),
    ],
)
def test_first_error_wins(argv: list[str], environ: dict[str, str], first: str) -> None:
    with pytest.raises(KilnError, match=first):
        _options(argv, environ)


def test_kaniko_no_push_env_satisfies_the_destination_check(tmp_path: Path) -> None:
    o = _options(["--kaniko-dir", str(tmp_path)], {"KANIKO_NO_PUSH": "true"})
    assert o.no_push is True and o.destinations == ()


def test_registry_maps_merge_in_order(tmp_path: Path) -> None:
    o = _options(
        ["--no-push", "--kaniko-dir", str(tmp_path), "--registry-map", "gcr.io=m1;index.docker.io=h1",
         "--registry-mirror", "h2"],
        {"KANIKO_REGISTRY_MAP": "gcr.io=m2", "KANIKO_REGISTRY_MIRROR": "h3"},
    )  # fmt: skip
    assert dict(o.registry.registry_maps) == {"gcr.io": ("m1", "m2"), "index.docker.io": ("h1", "h2", "h3")}


def test_deprecated_alias_is_copied_before_validation() -> None:
    with pytest.raises(UsageError, match="invalid --snapshot-mode 'fast'"):
        _options(["--no-push", "--snapshotMode", "fast"])


def test_bucket_does_not_override_an_explicit_context(tmp_path: Path) -> None:
    o = _options(["--no-push", "--kaniko-dir", str(tmp_path), "-b", "bkt", "-c", "s3://x/ctx.tgz"])
    assert o.context == "s3://x/ctx.tgz"
    o = _options(["--no-push", "--kaniko-dir", str(tmp_path), "-b", "s3://bkt/c.tgz"])
    assert o.context == "s3://bkt/c.tgz"
