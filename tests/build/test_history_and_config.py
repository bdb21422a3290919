"""How metadata instructions change the image config and which history text they leave (BuildKit's)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kiln.build.state import StageState
from kiln.build.steps import StepContext, dispatch, gofmt
from kiln.build.steps.run import history_text, run_argv
from kiln.dockerfile import GlobalArgs, parse_dockerfile
from kiln.dockerfile.instructions import Instruction, Run, parse_instruction
from kiln.oci import ContainerConfig, ImageConfig


class _NoSources:
    def root_of(self, ref: str) -> Path:  # pragma: no cover - metadata steps never ask
        raise AssertionError(ref)


def _instructions(text: str) -> list[Instruction]:
    parsed = parse_dockerfile("FROM scratch\n" + text)
    return [parse_instruction(node, "Dockerfile") for node in parsed.nodes[1:]]


def _run(text: str, tmp_path: Path, config: ImageConfig | None = None, **build_args: str) -> StageState:
    state = StageState(
        config=config or ImageConfig(architecture="amd64"),
        root=tmp_path,
        escape="\\",
        build_args=build_args,
        global_args=GlobalArgs({}, frozenset()),
        created="2000-01-01T00:00:00Z",
    )
    ctx = StepContext(state, tmp_path, None, None, _NoSources(), tmp_path, tmp_path)
    for ins in _instructions(text):
        outcome = dispatch(ins, ctx)
        state.add_history(outcome.created_by, empty_layer=not outcome.touches_fs)
    return state


def test_env_arg_expansion_order_and_args_not_persisted(tmp_path: Path) -> None:
    state = _run("ARG A=arg\nENV B=$A-env A=env\nENV C=$A\n", tmp_path)
    assert state.run.env == ("B=arg-env", "A=env", "C=env")
    assert state.args == {"A": "arg"}
    assert [h.created_by for h in state.config.history] == ["ARG A=arg", "ENV B=arg-env A=env", "ENV C=env"]
    assert all(h.empty_layer for h in state.config.history)


def test_build_arg_overrides_default(tmp_path: Path) -> None:
    state = _run("ARG V=default\nLABEL v=$V\n", tmp_path, V="given")
    assert state.run.labels == {"v": "given"}


def test_expose_volume_stopsignal_user(tmp_path: Path) -> None:
    state = _run("EXPOSE 80 53/UDP\nVOLUME /a /b\nSTOPSIGNAL SIGKILL\nUSER 1000:1000\n", tmp_path)
    assert state.run.exposed_ports == ("80/tcp", "53/udp")
    assert state.run.volumes == ("/a", "/b")
    assert state.run.stop_signal == "SIGKILL"
    assert state.run.user == "1000:1000"
    texts = [h.created_by for h in state.config.history]
    assert texts[0] == "EXPOSE map[53/udp:{} 80/tcp:{}]"
    assert texts[1] == "VOLUME [/a /b]"


def test_cmd_entrypoint_shell_forms(tmp_path: Path) -> None:
    state = _run('SHELL ["/bin/bash", "-c"]\nCMD echo hi\n', tmp_path)
    assert state.run.cmd == ("/bin/bash", "-c", "echo hi")
    assert state.config.history[-1].created_by == 'CMD ["/bin/bash" "-c" "echo hi"]'


def test_entrypoint_resets_inherited_cmd_only(tmp_path: Path) -> None:
    base = ImageConfig(config=ContainerConfig(cmd=("sh",)))
    assert _run('ENTRYPOINT ["x"]\n', tmp_path, base).run.cmd is None
    assert _run('CMD ["y"]\nENTRYPOINT ["x"]\n', tmp_path, base).run.cmd == ("y",)


def test_healthcheck_history_matches_go_formatting(tmp_path: Path) -> None:
    state = _run("HEALTHCHECK --interval=1m30s --retries=3 CMD curl -f http://x/\n", tmp_path)
    health = state.run.healthcheck
    assert health is not None and health.test == ("CMD-SHELL", "curl -f http://x/")
    assert health.interval == 90 * 10**9
    assert state.config.history[-1].created_by == (
        'HEALTHCHECK &{["CMD-SHELL" "curl -f http://x/"] "1m30s" "0s" "0s" "0s" \'\\x03\'}'
    )


def test_onbuild_and_maintainer(tmp_path: Path) -> None:
    state = _run("ONBUILD RUN echo hi\nMAINTAINER me <me@example.com>\n", tmp_path)
    assert state.run.on_build == ("RUN echo hi",)
    assert state.config.author == "me <me@example.com>"


def test_workdir_is_relative_to_previous_and_created(tmp_path: Path) -> None:
    state = _run("WORKDIR /a\nWORKDIR b/../c\n", tmp_path)
    assert state.run.working_dir == "/a/c"
    assert (tmp_path / "a" / "c").is_dir()
    assert state.config.history[-1].created_by == "WORKDIR /a/c"


@pytest.mark.parametrize(
    ("text", "argv"),
    [
        ("RUN echo hi\n", ("/bin/sh", "-c", "echo hi")),
        ('RUN ["echo", "a b"]\n', ("echo", "a b")),
        ("RUN <<EOF\necho one\necho two\nEOF\n", ("/bin/sh", "-c", "echo one\necho two\n")),
        ("RUN cat <<EOF > /f\nbody\nEOF\n", ("/bin/sh", "-c", "cat <<EOF > /f\nbody\nEOF\n")),
    ],
)
def test_run_argv(text: str, argv: tuple[str, ...]) -> None:
    (ins,) = _instructions(text)
    assert isinstance(ins, Run)
    assert run_argv(ins, ("/bin/sh", "-c")) == argv


def test_run_history_lists_args_sorted() -> None:
    text = history_text(("/bin/sh", "-c", "make"), {"Z": "1", "A": "2"})
    assert text == "RUN |2 A=2 Z=1 /bin/sh -c make # buildkit"


def test_go_durations() -> None:
    assert gofmt.duration(0) == "0s"
    assert gofmt.duration(30 * 10**9) == "30s"
    assert gofmt.duration(3600 * 10**9 + 1) == "1h0m0.000000001s"
    assert gofmt.duration(1_500_000) == "1.5ms"


def test_proxy_build_args_reach_run_but_not_history(tmp_path: Path) -> None:
    state = _run("ARG V=1\n", tmp_path, HTTP_PROXY="http://proxy:3128", OTHER="x")
    assert state.run_args() == {"HTTP_PROXY": "http://proxy:3128", "V": "1"}
