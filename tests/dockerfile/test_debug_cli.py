"""``kiln debug parse`` and ``kiln debug expand``: the JSON-line contract and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from kiln.cli.debug import debug


def test_parse_prints_one_json_object_per_instruction(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text('FROM a AS b\nCOPY --from=b ["x y", "/z"]\nONBUILD RUN <<EOF\nhi\nEOF\n')
    result = CliRunner().invoke(debug, ["parse", str(dockerfile)])
    assert result.exit_code == 0
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert [line["cmd"] for line in lines] == ["from", "copy", "onbuild"]
    assert lines[1] == {"cmd": "copy", "flags": ["--from=b"], "args": ["x y", "/z"], "json": True,
                        "heredocs": [], "start_line": 2, "end_line": 2, "sub": None}  # fmt: skip
    assert lines[2]["sub"]["cmd"] == "run"
    assert lines[2]["heredocs"] == [
        {"name": "EOF", "content": "hi\n", "expand": True, "chomp": False, "fd": 0}
    ]
    assert (lines[2]["start_line"], lines[2]["end_line"]) == (3, 5)


def test_parse_error_is_one_located_line(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM a\nCMD [1]\n")
    result = CliRunner().invoke(debug, ["parse", str(dockerfile)])
    assert result.exit_code == 1
    assert result.output.strip().count("\n") == 0
    assert f"{dockerfile}:2:" in result.output
    assert "Traceback" not in result.output


def test_parse_missing_file() -> None:
    result = CliRunner().invoke(debug, ["parse", "/nonexistent/Dockerfile"])
    assert result.exit_code != 0
    assert "Traceback" not in result.output


def test_expand_answers_each_request() -> None:
    requests = [
        {"op": "word", "word": "${A:-x y}", "env": {}, "escape": "\\"},
        {"op": "words", "word": "$A 'b c'", "env": {"A": "1 2"}, "escape": "\\"},
        {"op": "word", "word": "a`$A", "env": {"A": "v"}, "escape": "`"},
        {"op": "word", "word": "$a", "env": {"A": "up"}, "env_case_insensitive": True},
        {"op": "word", "word": "${A", "env": {}},
        {"op": "other", "word": "", "env": {}},
    ]
    stdin = "".join(json.dumps(r) + "\n" for r in requests) + "not json\n"
    result = CliRunner().invoke(debug, ["expand"], input=stdin)
    assert result.exit_code == 0
    answers = [json.loads(line) for line in result.output.splitlines()]
    assert answers[:4] == [{"value": "x y"}, {"words": ["1", "2", "b c"]}, {"value": "a$A"}, {"value": "up"}]
    assert answers[4] == {"error": "syntax error: missing '}'"}
    assert "error" in answers[5] and "error" in answers[6]
    assert len(answers) == 7


def test_stages_command(tmp_path: Path) -> None:
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(
        "ARG V=1\nFROM img:$V AS a\nFROM scratch AS unused\nFROM a\nCOPY --from=nginx / /\n"
    )
    result = CliRunner().invoke(
        debug, ["stages", str(dockerfile), "--build-arg", "V=2", "--platform", "linux/arm64"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.output.splitlines()]
    assert [r["base"] for r in rows] == ["img:2", "scratch", "a"]
    assert [r["required"] for r in rows] == [True, False, True]
    assert rows[2]["target"] and rows[2]["base_stage"] == 0 and rows[2]["images"] == ["nginx"]
    bad = CliRunner().invoke(debug, ["stages", str(dockerfile), "--target", "nope"])
    assert bad.exit_code == 1 and "could not be found" in bad.output


def test_debug_is_wired_into_the_kiln_command(tmp_path: Path) -> None:
    import subprocess
    import sys

    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM a\nRNU x\n")
    cmd = [sys.executable, "-c", "from kiln.cli.main import kiln; kiln()", "debug", "parse", str(dockerfile)]
    ok = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert ok.returncode == 0
    assert json.loads(ok.stdout.splitlines()[1])["cmd"] == "rnu"
    dockerfile.write_text("")
    bad = subprocess.run(cmd, capture_output=True, text=True, check=False)
    assert bad.returncode == 1
    assert bad.stderr.strip().endswith(
        "file with no instructions (hint: a Dockerfile needs at least a FROM instruction)"
    )
    assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
