"""RUN --mount values (bind, cache, tmpfs, secret, ssh), validated as BuildKit does."""

from __future__ import annotations

import csv
from dataclasses import dataclass

from kiln.dockerfile.instructions.base import error
from kiln.errors import Location

MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
SHARING_MODES = ("shared", "private", "locked")
_BOOL_KEYS = ("readonly", "ro", "readwrite", "rw", "required")
_KEYS = frozenset(
    {
        "type",
        "from",
        "source",
        "src",
        "target",
        "dst",
        "destination",
        "id",
        "sharing",
        "mode",
        "uid",
        "gid",
        "size",
        "env",
        *_BOOL_KEYS,
    }
)


@dataclass(frozen=True)
class Mount:
    """One ``--mount``; ``source``/``from_`` name files in a stage, image or the context."""

    type: str
    target: str | None
    source: str | None
    from_: str | None
    readonly: bool
    id: str | None
    sharing: str
    mode: int | None
    uid: int | None
    gid: int | None
    required: bool
    size: str | None
    env: str | None


def _bool(key: str, value: str | None, where: Location) -> bool:
    if value is None:
        return True
    if value.lower() in ("true", "1", "t"):
        return True
    if value.lower() in ("false", "0", "f"):
        return False
    raise error(where, f"invalid value for {key}: {value}")


def _int(key: str, value: str, where: Location, base: int = 10) -> int:
    try:
        return int(value, base)
    except ValueError:
        raise error(where, f"invalid value for {key}: {value}") from None


def parse_mount(spec: str, where: Location) -> Mount:
    """Parse ``type=cache,target=/root/.cache,sharing=locked`` (CSV, keys case-insensitive)."""
    try:
        fields = next(csv.reader([spec]), [])
    except csv.Error as exc:
        raise error(where, f"invalid --mount {spec!r}: {exc}") from None
    values: dict[str, str | None] = {}
    for field in fields:
        key, has_value, value = field.partition("=")
        key = key.strip().lower()
        if key not in _KEYS:
            raise error(where, f"unexpected key '{key}' in '{field}'", hint="see the RUN --mount reference")
        if not has_value and key not in _BOOL_KEYS:
            raise error(where, f"invalid field '{field}' must be a key=value pair")
        values[
            {"src": "source", "dst": "target", "destination": "target", "ro": "readonly"}.get(key, key)
        ] = value if has_value else None
    mtype = (values.get("type") or "bind").lower()
    if mtype not in MOUNT_TYPES:
        raise error(where, f"unsupported mount type {mtype!r}", hint=f"use one of {', '.join(MOUNT_TYPES)}")
    readonly = mtype == "bind"
    if "readonly" in values:
        readonly = _bool("readonly", values["readonly"], where)
    if "readwrite" in values or "rw" in values:
        readonly = not _bool("readwrite", values.get("readwrite", values.get("rw")), where)
    sharing = (values.get("sharing") or "shared").lower()
    if sharing not in SHARING_MODES:
        raise error(where, f"unsupported sharing value {sharing!r}", hint="use shared, private or locked")
    target = values.get("target")
    ident = values.get("id")
    if mtype in ("bind", "cache", "tmpfs") and not target:
        raise error(where, f"mount type={mtype} needs a target", hint="add target=<path in the container>")
    if mtype == "secret" and not ident and not target:
        raise error(where, "mount type=secret needs an id or a target")
    if mtype == "ssh" and not ident:
        ident = "default"
    if mtype != "cache" and "sharing" in values:
        raise error(where, f"sharing is only allowed for cache mounts, not type={mtype}")
    mode = values.get("mode")
    uid = values.get("uid")
    gid = values.get("gid")
    return Mount(
        type=mtype,
        target=target,
        source=values.get("source"),
        from_=values.get("from"),
        readonly=readonly,
        id=ident,
        sharing=sharing,
        mode=_int("mode", mode, where, 8) if mode else None,
        uid=_int("uid", uid, where) if uid else None,
        gid=_int("gid", gid, where) if gid else None,
        required=_bool("required", values["required"], where) if "required" in values else False,
        size=values.get("size"),
        env=values.get("env"),
    )
