"""kaniko's push-permission check before the build, against real registries (token and basic auth)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.registry import RegistryServer
from kiln.build.options import BuildOptions
from kiln.cli.executor import executor
from kiln.cli.preflight import push_check_targets


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (BuildOptions(destinations=("r.io/a:1", "r.io/a:2", "r.io/b")), ["r.io/a:1", "r.io/b:latest"]),
        (BuildOptions(destinations=("r.io/a:1",), skip_push_permission_check=True), []),
        (BuildOptions(no_push=True, cache_repo="r.io/cache"), ["r.io/cache:latest"]),
        (BuildOptions(no_push=True, cache_repo="oci:/var/cache"), []),
        (BuildOptions(no_push=True), []),
    ],
)
def test_targets(options: BuildOptions, expected: list[str]) -> None:
    assert [str(ref) for ref in push_check_targets(options)] == expected


def _scratch_context(tmp_path: Path) -> Path:
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "Dockerfile").write_text("FROM scratch\nLABEL a=b\n")
    return ctx


def test_pull_only_token_stops_the_build_before_it_starts(
    tmp_path: Path, registry_token: RegistryServer
) -> None:
    config = registry_token.write_docker_config(tmp_path / "docker")
    ctx = _scratch_context(tmp_path)
    layout = tmp_path / "layout"
    result = CliRunner().invoke(
        executor,
        ["-c", str(ctx), "-d", registry_token.ref("readonly/app:1"), "--insecure-registry", registry_token.host,
         "--kaniko-dir", str(tmp_path / "k"), "--oci-layout-path", str(layout)],
        env={"DOCKER_CONFIG": str(config.parent)},
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "checking push permission for" in errors[0] and "readonly/app" in errors[0]
    assert registry_token.password is not None and registry_token.password not in result.output
    assert not layout.exists()  # nothing was built


def test_allowed_push_passes_the_check_and_skip_flag_skips_it(
    tmp_path: Path, registry_basic: RegistryServer
) -> None:
    ctx = _scratch_context(tmp_path)
    argv = ["-c", str(ctx), "-d", registry_basic.ref("cli/preflight:1"), "--insecure-registry", registry_basic.host,
            "--kaniko-dir", str(tmp_path / "k")]  # fmt: skip
    # no credentials: the check is refused before building
    result = CliRunner().invoke(executor, argv, env={"DOCKER_CONFIG": str(tmp_path / "empty")})
    assert result.exit_code == 1 and "checking push permission for" in result.output, result.output
    # with credentials: checked, built and pushed
    config = registry_basic.write_docker_config(tmp_path / "docker")
    result = CliRunner().invoke(executor, argv, env={"DOCKER_CONFIG": str(config.parent)})
    assert result.exit_code == 0, result.output
    # --skip-push-permission-check: the (unauthenticated) failure now comes from the push itself
    result = CliRunner().invoke(
        executor, [*argv, "--skip-push-permission-check"], env={"DOCKER_CONFIG": str(tmp_path / "empty")}
    )
    assert result.exit_code == 1 and "checking push permission" not in result.output, result.output
