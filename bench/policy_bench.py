"""What the source policy costs, and what a refused build costs (issue 11).

Why: the policy is checked for every image a build names, before any pull; it must be cheap enough to
not matter, and a refused build must stop before it reaches the network. Two measurements:

1. ``SourcePolicy.refusal`` per reference, with 8 allow and 8 deny patterns of each kind (32 globs),
   over 2,000 distinct references (Docker Hub short names, ports, digests), best of ``--repeat`` rounds.
2. A whole ``executor`` process whose ``FROM alpine:3.20`` is refused by ``--denied-registries=docker.io``
   while ``--registry-mirror`` points at a loopback listener that counts connections: the wall time of
   the refused run and the number of connections the listener saw (must be 0; exits 1 otherwise).

``python bench/policy_bench.py [--repeat 5]``
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from kiln.policy import SourcePolicy
from kiln.reference import Reference

HEX = "c" * 64


def references(count: int) -> list[Reference]:
    forms = [
        "app{i}", "team{i}/app", "quay.io/org{i}/app:1", "localhost:5{i:03d}/x/y", "ghcr.io/acme/svc{i}@sha256:" + HEX,
        "registry.example.com:443/group/sub{i}/app:v{i}",
    ]  # fmt: skip
    return [Reference.parse(forms[i % len(forms)].format(i=i % 1000)) for i in range(count)]


def policy() -> SourcePolicy:
    registries = [f"r{i}.example.com:*" for i in range(7)] + ["*.internal"]
    repos = [f"docker.io/team{i}/*" for i in range(7)] + ["ghcr.io/acme/**"]
    return SourcePolicy.from_flags(registries, [f"bad{i}.example" for i in range(8)], repos,
                                   [f"quay.io/evil{i}/**" for i in range(8)])  # fmt: skip


def time_checks(repeat: int) -> tuple[float, int]:
    refs, rules = references(2000), policy()
    best = float("inf")
    refused = 0
    for _ in range(repeat):
        start = time.perf_counter()
        refused = sum(rules.refusal(ref, ("mirror.internal",)) is not None for ref in refs)
        best = min(best, time.perf_counter() - start)
    return best / len(refs) * 1e6, refused


class CountingListener:
    """Accepts connections on loopback and counts them (answers nothing)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self.sock.getsockname()[1]}"

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def time_refused_build(repeat: int) -> tuple[float, int, str]:
    executor = Path(sys.executable).with_name("executor")
    listener = CountingListener()
    best, line = float("inf"), ""
    try:
        with tempfile.TemporaryDirectory(prefix="kiln-policy-bench-") as tmp:
            ctx = Path(tmp) / "ctx"
            ctx.mkdir()
            (ctx / "Dockerfile").write_text("FROM alpine:3.20\nRUN true\n")
            for i in range(repeat):
                argv = [str(executor), "--no-push", "-c", str(ctx), "--kaniko-dir", f"{tmp}/k{i}",
                        "--registry-mirror", listener.host, "--insecure-registry", listener.host,
                        "--denied-registries", "docker.io"]  # fmt: skip
                start = time.perf_counter()
                proc = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
                best = min(best, time.perf_counter() - start)
                if proc.returncode == 0:
                    raise SystemExit("the denied build succeeded")
                line = proc.stderr.strip().splitlines()[-1]
    finally:
        listener.close()
    return best, listener.connections, line


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    per_check, refused = time_checks(args.repeat)
    print(f"policy check: {per_check:.1f} us per reference (32 patterns, 2000 references, {refused} refused)")
    wall, connections, line = time_refused_build(args.repeat)
    print(
        f"refused executor run: {wall:.2f} s wall (best of {args.repeat}), {connections} connections to the mirror"
    )
    print(f"  {line}")
    return 0 if connections == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
