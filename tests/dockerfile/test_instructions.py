"""Typed instructions: validated flags, located errors with hints, and expand(env) per instruction."""

from __future__ import annotations

import pytest

from kiln.dockerfile.instructions import (
    Arg,
    Cmd,
    Copy,
    Entrypoint,
    Env,
    Expose,
    From,
    Healthcheck,
    Instruction,
    Label,
    Maintainer,
    OnBuild,
    Run,
    Shell,
    StopSignal,
    User,
    Volume,
    Workdir,
    parse_duration,
    parse_instructions,
)
from kiln.dockerfile.parser import parse_dockerfile
from kiln.errors import DockerfileError


def one(line: str, prefix: str = "FROM a\n") -> Instruction:
    return parse_instructions(parse_dockerfile(prefix + line + "\n", "Dockerfile"))[-1]


def fails(text: str, message: str, line: int = 2) -> DockerfileError:
    with pytest.raises(DockerfileError, match=message) as info:
        parse_instructions(parse_dockerfile(text, "Dockerfile"))
    assert info.value.location is not None
    assert info.value.location.start_line == line
    return info.value


def test_from_forms() -> None:
    plain = one("FROM alpine:3", prefix="")
    assert isinstance(plain, From)
    assert (plain.base, plain.stage_name, plain.platform) == ("alpine:3", None, None)
    named = one("FROM --platform=$BUILDPLATFORM golang AS Builder", prefix="")
    assert isinstance(named, From)
    assert (named.stage_name, named.platform) == ("builder", "$BUILDPLATFORM")
    expanded = named.expand({"BUILDPLATFORM": "linux/arm64"})
    assert expanded.platform == "linux/arm64"
    assert named.platform == "$BUILDPLATFORM"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("FROM", "either one or three arguments"),
        ("FROM a b", "either one or three arguments"),
        ("FROM a AS 1x", "invalid name for build stage"),
        ("FROM a AS b$c", "invalid name for build stage"),
        ("FROM --plat=x a", "unknown flag: --plat"),
        ("FROM --platform a", "missing a value on flag: --platform"),
    ],
)
def test_from_errors(line: str, message: str) -> None:
    fails(line + "\n", message, line=1)


def test_unknown_instruction_hint() -> None:
    err = fails("FROM a\nRNU echo\n", "unknown instruction: RNU")
    assert err.hint == "did you mean RUN?"
    assert str(err) == "Dockerfile:2: unknown instruction: RNU (did you mean RUN?)"
    far = fails("FROM a\nXYZZYQ\n", "unknown instruction: XYZZYQ")
    assert far.hint is not None and "did you mean" not in far.hint


def test_run_flags_and_mounts() -> None:
    run = one(
        "RUN --mount=type=cache,target=/root/.cache,sharing=locked --mount=type=secret,id=tok "
        "--mount=type=bind,from=build,source=/out,target=/in,rw --network=none --security=insecure make"
    )
    assert isinstance(run, Run)
    assert run.command == ("make",) and not run.json
    assert (run.network, run.security) == ("none", "insecure")
    cache, secret, bind = run.mounts
    assert (cache.type, cache.target, cache.sharing, cache.readonly) == (
        "cache",
        "/root/.cache",
        "locked",
        False,
    )
    assert (secret.type, secret.id, secret.required) == ("secret", "tok", False)
    assert (bind.from_, bind.source, bind.readonly) == ("build", "/out", False)
    default_bind = one("RUN --mount=target=/x true")
    assert isinstance(default_bind, Run)
    assert default_bind.mounts[0].type == "bind" and default_bind.mounts[0].readonly
    ssh = one("RUN --mount=type=ssh true")
    assert isinstance(ssh, Run) and ssh.mounts[0].id == "default"


def test_run_mount_expands_at_dispatch() -> None:
    run = one("RUN --mount=type=cache,target=$CACHE_DIR true")
    assert isinstance(run, Run)
    expanded = run.expand({"CACHE_DIR": "/c"})
    assert expanded.mounts[0].target == "/c"
    assert expanded.command == ("true",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("RUN", "RUN requires at least one argument"),
        ("RUN --network=bridge x", "unsupported network mode"),
        ("RUN --security=weird x", "unsupported security mode"),
        ("RUN --mount=type=nfs,target=/x x", "unsupported mount type"),
        ("RUN --mount=type=cache x", "needs a target"),
        ("RUN --mount=type=cache,target=/x,sharing=maybe x", "unsupported sharing"),
        ("RUN --mount=type=bind,target=/x,sharing=locked x", "sharing is only allowed for cache"),
        ("RUN --mount=type=cache,target=/x,colour=red x", "unexpected key 'colour'"),
        ("RUN --mount=type=cache,target=/x,uid=abc x", "invalid value for uid"),
        ("RUN --mount=type=secret x", "needs an id or a target"),
        ("RUN --device=/dev/x x", "unknown flag: --device"),
        ("RUN --network=none --network=host x", "duplicate flag"),
    ],
)
def test_run_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_copy_and_add_flags() -> None:
    copy = one(
        "COPY --from=build --chown=1:2 --chmod=0755 --link --parents --exclude=*.md --exclude=.git a b /dst/"
    )
    assert isinstance(copy, Copy) and not copy.is_add
    assert copy.sources == ("a", "b") and copy.dest == "/dst/"
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents) == (
        "build",
        "1:2",
        "0755",
        True,
        True,
    )
    assert copy.excludes == ("*.md", ".git")
    add = one("ADD --checksum=sha256:abc --keep-git-dir=true --link=false https://x/y.git /src")
    assert isinstance(add, Copy) and add.is_add
    assert (add.checksum, add.keep_git_dir, add.link) == ("sha256:abc", True, False)
    symbolic = one("COPY --chmod=u+x,g-w a b")
    assert isinstance(symbolic, Copy) and symbolic.chmod == "u+x,g-w"


def test_copy_expand_keeps_heredoc_sources() -> None:
    copy = one("COPY --chown=$U <<EOF $DIR/${NAME:-conf}\nx=$Y\nEOF")
    assert isinstance(copy, Copy)
    expanded = copy.expand({"U": "app", "DIR": "/etc"})
    assert expanded.sources == ("<<EOF",)
    assert expanded.dest == "/etc/conf"
    assert expanded.chown == "app"
    doc = expanded.heredoc_for("<<EOF")
    assert doc is not None and doc.content == "x=$Y\n"
    assert expanded.heredoc_for("plain") is None


def test_copy_expand_quotes_and_spaces() -> None:
    copy = one('COPY "$SRC" /d')
    assert isinstance(copy, Copy)
    assert copy.expand({"SRC": "a b"}).sources == ("a b",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("COPY onlyone", "COPY requires at least two arguments"),
        ("ADD", "ADD requires at least two arguments"),
        ("ADD --from=x a b", "unknown flag: --from"),
        ("COPY --checksum=sha256:x a b", "unknown flag: --checksum"),
        ("COPY --chmod=999 a b", "invalid chmod"),
        ("COPY --link=maybe a b", "expecting boolean value"),
        ("COPY --exclude a b", "missing a value"),
    ],
)
def test_copy_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_env_label_arg() -> None:
    env = one('ENV A=1 B="two words" C=$A')
    assert isinstance(env, Env)
    assert [(p.key, p.value) for p in env.pairs] == [("A", "1"), ("B", '"two words"'), ("C", "$A")]
    expanded = env.expand({"A": "zero"})
    assert [(p.key, p.value) for p in expanded.pairs] == [("A", "1"), ("B", "two words"), ("C", "zero")]
    legacy = one("ENV KEY some 'quoted' value")
    assert isinstance(legacy, Env)
    assert legacy.expand({}).pairs[0].value == "some quoted value"
    label = one('LABEL "com.example.name"="my app" version=$V')
    assert isinstance(label, Label)
    assert [(p.key, p.value) for p in label.expand({"V": "2"}).pairs] == [
        ("com.example.name", "my app"),
        ("version", "2"),
    ]
    arg = one("ARG A B=${A:-x}")
    assert isinstance(arg, Arg)
    assert [(a.key, a.value) for a in arg.args] == [("A", None), ("B", "${A:-x}")]
    assert arg.expand({}).args[1].value == "x"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ENV", "ENV requires at least one argument"),
        ("ENV =x", "ENV names can not be blank"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("ARG =x", "ARG names can not be blank"),
        ("ENV --flag A=1", "unknown flag"),
    ],
)
def test_env_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_simple_instructions() -> None:
    expose = one("EXPOSE 80 53/UDP 8000-8010 $P")
    assert isinstance(expose, Expose)
    assert expose.expand({"P": "9090/sctp"}).ports == ("80/tcp", "53/udp", "8000-8010/tcp", "9090/sctp")
    volume = one('VOLUME ["/data", "$D"]')
    assert isinstance(volume, Volume) and volume.json
    assert volume.expand({"D": "/logs"}).paths == ("/data", "/logs")
    user = one("USER ${U:-app}:grp")
    assert isinstance(user, User) and user.expand({}).user == "app:grp"
    workdir = one("WORKDIR $HOME/src")
    assert isinstance(workdir, Workdir) and workdir.expand({"HOME": "/root"}).path == "/root/src"
    stop = one("STOPSIGNAL $SIG")
    assert isinstance(stop, StopSignal) and stop.expand({"SIG": "SIGKILL"}).signal == "SIGKILL"
    maint = one("MAINTAINER Jane <j@example.com>")
    assert isinstance(maint, Maintainer) and maint.name == "Jane <j@example.com>"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("EXPOSE 80/tcpx", "invalid port"),
        ("EXPOSE 99999", "invalid port"),
        ("EXPOSE 127.0.0.1:80:80", "invalid port"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ('VOLUME [""]', "can not be an empty string"),
        ("USER", "USER requires exactly one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
    ],
)
def test_simple_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_expansion_error_is_located() -> None:
    workdir = one("WORKDIR ${X:?must be set}")
    assert isinstance(workdir, Workdir)
    with pytest.raises(DockerfileError, match="X: must be set") as info:
        workdir.expand({})
    assert info.value.location is not None and info.value.location.start_line == 2


def test_commands_are_not_expanded_and_keep_form() -> None:
    cmd = one('CMD ["echo", "$HOME"]')
    assert isinstance(cmd, Cmd) and cmd.json and cmd.command == ("echo", "$HOME")
    shell_cmd = one("CMD echo $HOME")
    assert isinstance(shell_cmd, Cmd) and not shell_cmd.json and shell_cmd.command == ("echo $HOME",)
    empty = one("CMD []")
    assert isinstance(empty, Cmd) and empty.json and empty.command == ()
    entry = one("ENTRYPOINT exec app")
    assert isinstance(entry, Entrypoint) and entry.command == ("exec app",)
    shell = one('SHELL ["pwsh", "-Command"]')
    assert isinstance(shell, Shell) and shell.shell == ("pwsh", "-Command")
    assert not hasattr(cmd, "expand")


def test_healthcheck() -> None:
    hc = one(
        "HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=2s --start-interval=1s --retries=3 "
        "CMD curl -f http://localhost/ || exit 1"
    )
    assert isinstance(hc, Healthcheck)
    assert hc.test == ("CMD-SHELL", "curl -f http://localhost/ || exit 1")
    assert (hc.interval, hc.timeout, hc.start_period, hc.start_interval, hc.retries) == (
        90 * 10**9,
        500 * 10**6,
        2 * 10**9,
        10**9,
        3,
    )
    exec_form = one('HEALTHCHECK cmd ["/bin/check", "-v"]')
    assert isinstance(exec_form, Healthcheck) and exec_form.test == ("CMD", "/bin/check", "-v")
    none = one("HEALTHCHECK NONE")
    assert isinstance(none, Healthcheck) and none.test == ("NONE",)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("HEALTHCHECK", "HEALTHCHECK requires an argument"),
        ("HEALTHCHECK NONE extra", "HEALTHCHECK NONE takes no arguments"),
        ("HEALTHCHECK CMD", "Missing command after HEALTHCHECK CMD"),
        ("HEALTHCHECK RUN x", 'Unknown type "RUN" in HEALTHCHECK'),
        ("HEALTHCHECK --interval=5 CMD x", "invalid duration"),
        ("HEALTHCHECK --interval=1ns CMD x", "cannot be less than 1ms"),
        ("HEALTHCHECK --timeout=-1s CMD x", "cannot be negative"),
        ("HEALTHCHECK --retries=-1 CMD x", "--retries cannot be negative"),
        ("HEALTHCHECK --retries=x CMD x", "invalid --retries"),
        ("HEALTHCHECK --every=1s CMD x", "unknown flag: --every"),
    ],
)
def test_healthcheck_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_durations() -> None:
    assert parse_duration("0") == 0
    assert parse_duration("1h2m3.5s") == (3723 * 10**9 + 5 * 10**8)
    assert parse_duration("250us") == 250_000
    for bad in ("", "1", "1d", "s", "1m x"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_onbuild() -> None:
    ob = one("ONBUILD RUN --network=none make install")
    assert isinstance(ob, OnBuild)
    assert ob.expression == "RUN --network=none make install"
    assert isinstance(ob.trigger, Run) and ob.trigger.network == "none"


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
        ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
        ("ONBUILD MAINTAINER x", "MAINTAINER isn't allowed"),
        ("ONBUILD RUNN x", "unknown instruction: RUNN"),
    ],
)
def test_onbuild_errors(line: str, message: str) -> None:
    fails(f"FROM a\n{line}\n", message)


def test_instructions_keep_location_and_original() -> None:
    run = one("RUN echo a \\\n  b")
    assert run.location.start_line == 2 and run.location.end_line == 3
    assert run.original == "RUN echo a   b"
    assert run.keyword == "RUN"


def test_instructions_are_frozen() -> None:
    run = one("RUN x")
    with pytest.raises(AttributeError):
        run.original = "y"  # type: ignore[misc]


def test_onbuild_expression_carries_heredocs() -> None:
    ob = one("onbuild  RUN <<EOF\necho hi\nEOF")
    assert isinstance(ob, OnBuild)
    assert ob.expression == "RUN <<EOF\necho hi\nEOF"


def test_heredoc_cannot_be_copy_destination() -> None:
    fails("FROM a\nCOPY a <<EOF\nx\nEOF\n", "cannot accept a heredoc as a destination")
