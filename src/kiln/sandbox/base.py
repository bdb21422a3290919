"""What a RUN step asks of a sandbox (RunSpec, Mount) and the one-method Runner interface.

The executor builds a RunSpec from the stage state (argv after SHELL/exec form,
env from ENV+ARG, USER resolved by ``kiln.fs.users``, WORKDIR, ``--mount``,
``--network``) and hands it to whichever Runner ``--isolation`` chose. A runner
returns the command's exit code; it raises only when the sandbox itself could not
be set up or the command could not be started.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import posixpath
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import IO, Literal

from kiln.errors import KilnError, UsageError

MountKind = Literal["bind", "cache", "tmpfs", "secret"]
NetworkMode = Literal["default", "none", "host"]
CacheSharing = Literal["shared", "private", "locked"]
OutputSink = Callable[[str], None]

MOUNT_KINDS: tuple[str, ...] = ("bind", "cache", "tmpfs", "secret")
NETWORK_MODES: tuple[str, ...] = ("default", "none", "host")
CACHE_SHARING: tuple[str, ...] = ("shared", "private", "locked")
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_HOSTNAME = "buildkitsandbox"

_log = logging.getLogger("kiln.run")


class SandboxError(KilnError):
    """The sandbox could not be prepared, or the command could not be started."""


@dataclass(frozen=True)
class Mount:
    """One ``RUN --mount``, already resolved by the executor to host-side facts.

    * ``bind``: ``source`` (host file or directory) at ``target``; read-only by
      default; when ``readonly=False`` writes land in a throw-away layer (BuildKit
      semantics), never in ``source``.
    * ``cache``: ``source`` is a host directory in kiln's cache dir, mounted
      read-write and kept between builds; created with ``mode``/``uid``/``gid`` if new.
      ``sharing="locked"`` (and ``"private"``, approximated the same way) makes
      concurrent RUNs using the same cache wait for each other.
    * ``tmpfs``: an empty tmpfs of at most ``size`` bytes.
    * ``secret``: ``data`` (or the content of the host file ``source``) appears as a
      read-only file at ``target`` from a tmpfs for this RUN only; with ``env`` also
      (or, when ``target`` is empty, only) as that environment variable of the command.
    """

    kind: MountKind
    target: str
    source: str | None = None
    readonly: bool = False
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    size: int | None = None
    sharing: CacheSharing = "shared"
    env: str | None = None
    data: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.kind not in MOUNT_KINDS:
            raise UsageError(
                f"unsupported mount type {self.kind!r}", hint=f"use one of {', '.join(MOUNT_KINDS)}"
            )
        if self.env is not None and (self.kind != "secret" or not self.env or "=" in self.env):
            raise UsageError(f"env={self.env} is only for secret mounts and must be a variable name")
        if self.kind == "secret" and self.env and not self.target:
            pass  # an env-only secret: no file
        elif not self.target.startswith("/"):
            raise UsageError(f"mount target {self.target!r} must be an absolute path")
        elif posixpath.normpath(self.target) == "/":
            raise UsageError("a mount cannot replace the root directory")
        if self.kind in ("bind", "cache") and not self.source:
            raise UsageError(f"a {self.kind} mount at {self.target} needs a source")
        if self.sharing not in CACHE_SHARING:
            raise UsageError(
                f"unsupported cache sharing {self.sharing!r}", hint=f"use one of {', '.join(CACHE_SHARING)}"
            )
        if self.kind == "secret" and self.data is None and not self.source:
            raise UsageError(f"the secret mount at {self.target or self.env} has no content")

    @property
    def has_file(self) -> bool:
        """False only for an env-only secret."""
        return bool(self.target)

    def secret_bytes(self) -> bytes:
        """A secret's content (``data``, else the host file ``source``)."""
        if self.data is not None:
            return self.data
        try:
            with open(self.source or "", "rb") as handle:
                return handle.read()
        except OSError as err:
            raise SandboxError(
                f"cannot read the secret for {self.target or self.env} from {self.source}: {err.strerror}",
                hint="check the path given in --secret id=...,src=FILE",
            ) from err


@dataclass(frozen=True)
class RunSpec:
    """Everything one RUN needs; ``rootfs`` is the host path of the stage's root."""

    argv: tuple[str, ...]
    rootfs: str
    env: tuple[str, ...] = ()
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()
    home: str = "/"
    mounts: tuple[Mount, ...] = ()
    network: NetworkMode = "default"
    hostname: str = DEFAULT_HOSTNAME
    extra_hosts: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if not self.argv or not self.argv[0]:
            raise UsageError("RUN needs a command")
        if self.network not in NETWORK_MODES:
            raise UsageError(
                f"unsupported RUN --network={self.network}", hint=f"use one of {', '.join(NETWORK_MODES)}"
            )
        if not self.cwd.startswith("/"):
            raise UsageError(f"working directory {self.cwd!r} must be absolute")
        bad = [item for item in self.env if "=" not in item]
        if bad:
            raise UsageError(f"environment entries must be KEY=VALUE, got {bad[0]!r}")

    def command_env(self) -> list[str]:
        """The env the command sees: spec env plus PATH and HOME defaults (as runc adds them)."""
        keys = {item.split("=", 1)[0] for item in self.env}
        env = list(self.env)
        if "PATH" not in keys:
            env.append(f"PATH={DEFAULT_PATH}")
        if "HOME" not in keys:
            env.append(f"HOME={self.home or '/'}")
        return env

    def describe(self) -> str:
        """The command for messages; never includes secret content (mounts carry it, not argv)."""
        return " ".join(self.argv)


class Runner(ABC):
    """Runs one RUN command; implementations differ only in isolation."""

    name: str = "runner"

    @abstractmethod
    def run(self, spec: RunSpec, output: OutputSink | None = None) -> int:
        """Run ``spec`` to completion, sending each output line to ``output``; return the exit code.

        Exit codes follow the shell: a command killed by signal N gives 128+N.
        Raises SandboxError when the sandbox cannot be set up or the command cannot
        be started (not found, not executable).
        """


def secret_env(mounts: Iterable[Mount]) -> dict[str, str]:
    """The variables env-secrets add to the command's environment (kept out of RunSpec.env and its repr)."""
    return {
        m.env: m.secret_bytes().decode("utf-8", "surrogateescape")
        for m in mounts
        if m.kind == "secret" and m.env
    }


@contextlib.contextmanager
def cache_locks(mounts: Iterable[Mount]) -> Iterator[None]:
    """Hold an exclusive lock (``<cache dir>.lock``) on every non-shared cache mount, in a fixed order."""
    sources = sorted({m.source for m in mounts if m.kind == "cache" and m.sharing != "shared" and m.source})
    with contextlib.ExitStack() as stack:
        for source in sources:
            os.makedirs(os.path.dirname(source) or ".", exist_ok=True)
            handle = stack.enter_context(open(f"{source}.lock", "a"))
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield


def log_output(line: str) -> None:
    """The default sink: each line at INFO on ``kiln.run`` (the CLI decides where it goes)."""
    _log.info("%s", line)


def hosts_file(hostname: str, extra_hosts: Iterable[tuple[str, str]]) -> str:
    """/etc/hosts as BuildKit generates it for a RUN, plus ``--add-host`` entries."""
    lines = [
        f"127.0.0.1\tlocalhost {hostname or DEFAULT_HOSTNAME}",
        "::1\tlocalhost ip6-localhost ip6-loopback",
    ]
    lines.extend(f"{ip}\t{name}" for name, ip in extra_hosts)
    return "\n".join(lines) + "\n"


MAX_LINE = 64 * 1024


def stream_lines(pipe: IO[bytes], sink: OutputSink) -> None:
    """Forward ``pipe`` to ``sink`` line by line until EOF.

    Undecodable bytes are replaced; a line longer than MAX_LINE bytes (binary
    output) is passed on in MAX_LINE pieces so memory stays bounded.
    """
    while raw := pipe.readline(MAX_LINE):
        sink(raw.removesuffix(b"\n").decode("utf-8", "replace"))
