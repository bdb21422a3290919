"""One registry client per executor run: the push check, the pulls, the layer cache and the pushes share its
ping, credentials and tokens, counted on the wire in front of the real registry.

Every name in the build points at a :class:`fixtures.sniffer.Sniffer` (counts TLS attempts; TLS goes to the
registry, plain HTTP through a logging FaultProxy armed with no fault), so ``proxy.log`` lists every request
the build sent and ``sniffer.tls_attempts`` every HTTPS try. Before, each of the three clients (push check,
layer cache, image sources) pinged ``/v2/`` itself, each first over HTTPS.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from fixtures.registry import RegistryServer
from fixtures.sniffer import Sniffer
from fixtures.tools import skopeo_inspect
from kiln.cli.executor import executor
from reliability.faultproxy import FaultProxy

pytestmark = pytest.mark.privileged  # unpacking busybox's root-owned files, RUN


def test_cold_build_and_warm_rebuild_ping_the_registry_once_each(
    tmp_path: Path, wire: tuple[Sniffer, FaultProxy], registry_http: RegistryServer
) -> None:
    sniffer, proxy = wire
    ctx = tmp_path / "ctx"
    ctx.mkdir()
    (ctx / "hello.txt").write_text("hello\n")
    (ctx / "Dockerfile").write_text(
        f"FROM {sniffer.host}/fixtures/busybox:latest\nCOPY hello.txt /hello.txt\nRUN echo built > /built\n"
    )
    common = ["-c", str(ctx), "--insecure-registry", sniffer.host, "--log-format", "text",
              "--cache", "--cache-repo", f"{sniffer.host}/oneclient/cache"]  # fmt: skip
    destination = f"{sniffer.host}/oneclient/app:1"

    # cold: push check, base pull, cache lookup and push, image push: one host, one ping, one HTTPS try
    cold = CliRunner().invoke(executor, [*common, "--kaniko-dir", str(tmp_path / "k1"), "-d", destination])
    assert cold.exit_code == 0, cold.output
    assert proxy.pings() == 1
    assert sniffer.tls_attempts == 1
    methods = {entry.method for entry in proxy.log}
    assert {"POST", "DELETE", "PUT"} <= methods  # the push check (POST+DELETE) and the pushes did happen
    assert skopeo_inspect(registry_http.ref("oneclient/app:1"), config=True)["rootfs"]["diff_ids"]

    # warm, as bench/run.py's warm case: --no-push, a layout output, the cache repo's push check
    proxy.log.clear()
    sniffer.reset()
    layout = tmp_path / "layout"
    warm = CliRunner().invoke(
        executor,
        [*common, "--kaniko-dir", str(tmp_path / "k2"), "--no-push", "--oci-layout-path", str(layout)],
    )
    assert warm.exit_code == 0, warm.output
    assert "using cached layer" in warm.output  # the RUN came from the cache
    assert proxy.pings() == 1
    assert sniffer.tls_attempts == 1
    assert [e.path for e in proxy.log if e.method == "PUT"] == []  # nothing new was pushed
    assert (layout / "index.json").is_file()
