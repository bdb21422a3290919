"""A stand-in executor for the adapter tests.

Mocked on purpose: kiln's build executor (kiln.build.executor) is not written yet, so these tests
check the adapters' half of the contract -- the argv, the environment and the credentials file they
hand over, and how they read kaniko's digest files back -- against a small script that behaves like
the executor at that boundary. End-to-end runs against the real registry come with the executor.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

FAKE_DIGEST = "sha256:" + "ab" * 32
FAKE_ARTIFACT = "sha256:" + "cd" * 32  # the provenance attestation's manifest digest
FAKE_TAG_SUFFIX = ":sha256-" + "ab" * 32  # its referrers fallback tag, after the repository

FAKE_EXECUTOR = textwrap.dedent(
    """
    import json, os, sys
    args = sys.argv[1:]
    record = {"argv": args, "env": dict(os.environ), "docker_config": None}
    cfg = os.environ.get("DOCKER_CONFIG")
    if cfg and os.path.isfile(os.path.join(cfg, "config.json")):
        path = os.path.join(cfg, "config.json")
        record["docker_config"] = json.load(open(path))
        record["docker_config_mode"] = oct(os.stat(path).st_mode & 0o777)
    json.dump(record, open(os.environ["FAKE_RECORD"], "w"))
    fail = os.environ.get("FAKE_FAIL")
    if fail:
        print("INFO building", file=sys.stderr)
        print(fail, file=sys.stderr)
        sys.exit(int(os.environ.get("FAKE_EXIT", "1")))
    def flag(name):
        return [a.split("=", 1)[1] for a in args if a.startswith(name + "=")]
    digest = os.environ["FAKE_DIGEST"]
    dests = flag("--destination")
    for path in flag("--digest-file"):
        open(path, "w").write(digest)
    for path in flag("--image-name-with-digest-file"):
        open(path, "w").write("".join(d.rsplit(":", 1)[0] + "@" + digest + "\\n" for d in dests))
    for path in flag("--image-name-tag-with-digest-file"):
        open(path, "w").write("".join(d + "@" + digest + "\\n" for d in dests))
    for path in flag("--provenance-refs-file"):  # kiln's format (docs/supply-chain.md), fallback-tag path
        repos = list(dict.fromkeys(d.rsplit(":", 1)[0] for d in dests))
        attached = [{"repository": r, "artifact": r + "@" + os.environ["FAKE_ARTIFACT"], "via": "fallback-tag",
                     "tag": r + ":sha256-" + digest.split(":")[1]} for r in repos]
        json.dump({"image": digest, "attached": attached, "layoutFile": ""}, open(path, "w"))
    """
)


class FakeExecutor:
    def __init__(self, tmp: Path) -> None:
        self.script = tmp / "fake_executor.py"
        self.script.write_text(FAKE_EXECUTOR)
        self.record_path = tmp / "record.json"
        self.argv = [sys.executable, str(self.script)]

    def environ(self, **extra: str) -> dict[str, str]:
        env = {"FAKE_RECORD": str(self.record_path), "FAKE_DIGEST": FAKE_DIGEST, "FAKE_ARTIFACT": FAKE_ARTIFACT,
               "PATH": "/usr/bin:/bin"}  # fmt: skip
        env.update(extra)
        return env

    def record(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.record_path.read_text())
        return data


@pytest.fixture
def fake_executor(tmp_path: Path) -> FakeExecutor:
    return FakeExecutor(tmp_path)
