"""Each user error is one located line, and nothing reaches the registry."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from click.testing import CliRunner

from e2e.helpers import options_for
from fixtures.images import PushedImage
from fixtures.registry import RegistryServer
from kiln.build.executor import build
from kiln.errors import BuildStepError

pytestmark = pytest.mark.privileged

CASES = {
    "failing_run": ("FROM {base}\nRUN echo about to fail && exit 7\n", "exit code 7", 2),
    "missing_copy": ("FROM {base}\nCOPY nope.txt /\n", "'nope.txt' not found in the build context", 2),
    "unknown_from": (
        "FROM {base}\nCOPY --from={host}/no/such:image /x /x\n",
        "cannot use image",
        2,
    ),
    "unknown_user": ("FROM {base}\nUSER ghost\nRUN true\n", "USER 'ghost'", 3),
    "missing_base": ("FROM {host}/no/such-base:1\nRUN true\n", "cannot use image", 1),
}


def _tags(registry: RegistryServer, repo: str) -> int:
    resp = requests.get(f"{registry.url}/v2/{repo}/tags/list", timeout=10)
    return resp.status_code


@pytest.mark.parametrize("case", sorted(CASES))
def test_error_is_located_and_nothing_is_pushed(
    case: str, tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    text, message, line = CASES[case]
    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(text.format(base=busybox_image.ref, host=registry_http.host))
    repo = f"errors/{case.replace('_', '-')}"
    options = options_for(context, tmp_path / "work", registry_http.host, registry_http.ref(f"{repo}:t"))
    with pytest.raises(BuildStepError) as info:
        build(options)
    rendered = str(info.value)
    assert message in rendered
    assert f"Dockerfile:{line}:" in rendered
    assert "\n" not in rendered
    assert _tags(registry_http, repo) == 404  # the repository was never created


def test_failing_run_exit_code_reaches_the_cli(
    tmp_path: Path, registry_http: RegistryServer, busybox_image: PushedImage
) -> None:
    from kiln.cli.executor import executor

    context = tmp_path / "ctx"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {busybox_image.ref}\nRUN exit 5\n")
    result = CliRunner().invoke(
        executor,
        [
            "--no-push",
            "--context",
            str(context),
            "--insecure-registry",
            registry_http.host,
            "--kaniko-dir",
            str(tmp_path / "k"),
        ],
    )
    assert result.exit_code == 5, result.output
    assert "exit code 5" in result.output
