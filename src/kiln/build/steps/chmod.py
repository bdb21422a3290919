"""``--chmod`` values: octal (``0755``) sets the bits; symbolic (``u+x,g-w``) changes each file's own mode."""

from __future__ import annotations

import re
from collections.abc import Callable

_CLAUSE = re.compile(r"^([ugoa]*)([-+=])([rwxXst]*)$")
_WHO = {"u": 0o4700, "g": 0o2070, "o": 0o1007}  # permission bits plus the special bit each class owns

ModeFn = Callable[[int, bool], int]


def parse(value: str) -> ModeFn:
    """A function (current mode, is_dir) -> new permission bits; ValueError for a bad value."""
    if re.fullmatch(r"[0-7]{1,4}", value):
        octal = int(value, 8)
        return lambda _mode, _is_dir: octal
    clauses = []
    for clause in value.split(","):
        match = _CLAUSE.match(clause)
        if match is None:
            raise ValueError(value)
        clauses.append(match.groups())

    def apply(mode: int, is_dir: bool) -> int:
        mode &= 0o7777
        for who, op, perms in clauses:
            mask = 0
            for w in who or "a":
                mask |= 0o7777 if w == "a" else _WHO[w]
            bits = 0
            for p in perms:
                if p == "r":
                    bits |= 0o444
                elif p == "w":
                    bits |= 0o222
                elif p == "x" or (p == "X" and (is_dir or mode & 0o111)):
                    bits |= 0o111
                elif p == "s":
                    bits |= 0o6000
                elif p == "t":
                    bits |= 0o1000
            bits &= mask
            if op == "+":
                mode |= bits
            elif op == "-":
                mode &= ~bits
            else:
                mode = (mode & ~(mask & 0o777)) | bits
        return mode

    return apply
