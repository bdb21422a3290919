"""Messages shared by the runners and the chroot helper (a leaf: the helper imports nothing heavy)."""

from __future__ import annotations


def not_found_message(program: str) -> str:
    """runc's wording: a path that does not exist vs a name not found on $PATH."""
    if "/" in program:
        return f'exec: "{program}": no such file or directory (or its #! interpreter is missing)'
    return f'exec: "{program}": executable file not found in $PATH'
