"""Time parsing (and typing + stage graph) of a generated 10,000-instruction Dockerfile.

Run: ``python bench/parse_bench.py``.  Prints figures only; nothing asserts on time.
"""

from __future__ import annotations

import time

from kiln.dockerfile import build_stages, parse_dockerfile
from kiln.dockerfile.instructions import parse_instructions

KINDS = (
    "RUN apt-get update && \\\n    apt-get install -y pkg{i} && \\\n    # a comment\n    rm -rf /var/lib/apt/lists/*",
    'ENV VAR{i}=value{i} OTHER{i}="quoted $HOME"',
    "COPY --chown=1000:1000 --chmod=0644 src/{i} /app/{i}/",
    'CMD ["echo", "{i}"]',
    "LABEL org.example.n{i}=v{i}",
    "ARG A{i}=${{B:-x}}",
    "RUN <<EOF\necho {i}\nEOF",
    "WORKDIR /w/{i}",
    "EXPOSE {port}/tcp",
    "FROM alpine:3.{i} AS stage{i}",
)


def generate(count: int) -> str:
    lines = ["FROM alpine:3.19 AS base"]
    for i in range(1, count):
        lines.append(KINDS[i % len(KINDS)].format(i=i, port=1024 + i % 60000))
    return "\n".join(lines) + "\n"


def best_of(runs: int, func: object) -> float:
    assert callable(func)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    text = generate(10_000)
    parsed = parse_dockerfile(text, "Dockerfile")
    assert len(parsed.nodes) == 10_000
    parse_s = best_of(5, lambda: parse_dockerfile(text, "Dockerfile"))
    typed_s = best_of(5, lambda: parse_instructions(parsed))
    graph_s = best_of(5, lambda: build_stages(parsed, {}, None))
    print(f"instructions: {len(parsed.nodes)}  lines: {text.count(chr(10))}  bytes: {len(text)}")
    print(f"parse_dockerfile: {parse_s * 1000:.1f} ms")
    print(f"parse_instructions (typed): {typed_s * 1000:.1f} ms")
    print(f"build_stages (typed + graph): {graph_s * 1000:.1f} ms")


if __name__ == "__main__":
    main()
