"""Table tests for image reference parsing, checked against Docker's normalisation rules."""

from __future__ import annotations

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from kiln.digest import Digest
from kiln.errors import InvalidReference
from kiln.reference import Reference, Repository

HEX = "a" * 64

VALID = [
    # text, registry, repository, tag, digest, str()
    ("busybox", "docker.io", "library/busybox", "latest", None, "docker.io/library/busybox:latest"),
    ("busybox:1.36", "docker.io", "library/busybox", "1.36", None, "docker.io/library/busybox:1.36"),
    ("user/app", "docker.io", "user/app", "latest", None, "docker.io/user/app:latest"),
    ("docker.io/busybox", "docker.io", "library/busybox", "latest", None, "docker.io/library/busybox:latest"),
    (
        "index.docker.io/busybox",
        "docker.io",
        "library/busybox",
        "latest",
        None,
        "docker.io/library/busybox:latest",
    ),
    ("index.docker.io/a/b/c", "docker.io", "a/b/c", "latest", None, "docker.io/a/b/c:latest"),
    ("localhost/app", "localhost", "app", "latest", None, "localhost/app:latest"),
    ("localhost:5000/app:v1", "localhost:5000", "app", "v1", None, "localhost:5000/app:v1"),
    ("127.0.0.1:5000/a/b", "127.0.0.1:5000", "a/b", "latest", None, "127.0.0.1:5000/a/b:latest"),
    ("[::1]:5000/app", "[::1]:5000", "app", "latest", None, "[::1]:5000/app:latest"),
    (
        "Registry.Example.COM/app",
        "Registry.Example.COM",
        "app",
        "latest",
        None,
        "Registry.Example.COM/app:latest",
    ),
    ("gcr.io/proj/img:tag_1.2-x", "gcr.io", "proj/img", "tag_1.2-x", None, "gcr.io/proj/img:tag_1.2-x"),
    ("reg:5000/a__b/c.d-e", "reg:5000", "a__b/c.d-e", "latest", None, "reg:5000/a__b/c.d-e:latest"),
    ("reg/a---b", "docker.io", "reg/a---b", "latest", None, None),
    ("myhost/app", "docker.io", "myhost/app", "latest", None, "docker.io/myhost/app:latest"),
    (f"busybox@sha256:{HEX}", "docker.io", "library/busybox", None, f"sha256:{HEX}", None),
    (f"r.io/app:1@sha256:{HEX}", "r.io", "app", "1", f"sha256:{HEX}", f"r.io/app:1@sha256:{HEX}"),
    ("a:" + "t" * 128, "docker.io", "library/a", "t" * 128, None, None),
]


@pytest.mark.parametrize(("text", "registry", "repository", "tag", "digest", "shown"), VALID)
def test_parse_valid(
    text: str, registry: str, repository: str, tag: str | None, digest: str | None, shown: str | None
) -> None:
    ref = Reference.parse(text)
    assert (ref.registry, ref.repository, ref.tag) == (registry, repository, tag)
    assert (str(ref.digest) if ref.digest else None) == digest
    if shown is not None:
        assert str(ref) == shown
    assert Reference.parse(str(ref)) == ref  # normalised form is a fixed point


INVALID = [
    ("", "empty"),
    (" busybox", "whitespace"),
    ("Busybox", "lowercase"),
    ("docker.io/Library/busybox", "lowercase"),
    ("localhost:5000/App", "lowercase"),
    ("busybox:", "nothing after ':'"),
    ("busybox@", "nothing after '@'"),
    ("busybox:bad tag", "tag"),
    ("busybox:.hidden", "tag"),
    ("busybox:" + "t" * 129, "tag"),
    ("busybox@sha256:abc", "digest"),
    ("busybox@md5:" + "a" * 32, "md5"),
    ("busybox@sha256:" + "A" * 64, "sha256"),
    (HEX, "image ID"),
    ("a//b", "may only hold"),
    ("a/b/", "may only hold"),
    ("-a", "may only hold"),
    ("a_-b", "may only hold"),
    ("reg-.io/app", "registry"),
    ("reg:port/app", "registry"),
    (":tag", "missing repository"),
    ("r.io/" + "a" * 251, "longer than 255"),
]


@pytest.mark.parametrize(("text", "why"), INVALID)
def test_parse_invalid(text: str, why: str) -> None:
    with pytest.raises(InvalidReference) as info:
        Reference.parse(text)
    message = str(info.value)
    assert why in message
    assert "\n" not in message
    assert "hint:" in message


def test_name_length_limit_is_inclusive() -> None:
    ok = "r.io/" + "a" * 250
    assert len(Reference.parse(ok).name) == 255


def test_api_host_and_familiar() -> None:
    hub = Reference.parse("busybox:1")
    assert hub.api_host == "index.docker.io"
    assert hub.familiar == "busybox:1"
    assert hub.api_name == "index.docker.io/library/busybox"
    assert Reference.parse("r.io:5000/a/b").api_name == "r.io:5000/a/b"
    assert Reference.parse("user/app").familiar == "user/app:latest"
    local = Reference.parse("localhost:5000/a/b:c")
    assert local.api_host == "localhost:5000"
    assert local.familiar == "localhost:5000/a/b:c"


def test_identifier_prefers_digest() -> None:
    assert Reference.parse("r.io/a:1").identifier == "1"
    assert Reference.parse(f"r.io/a:1@sha256:{HEX}").identifier == f"sha256:{HEX}"


def test_with_tag_and_digest() -> None:
    ref = Reference.parse(f"r.io/a:1@sha256:{HEX}")
    tagged = ref.with_tag("2")
    assert (tagged.tag, tagged.digest) == ("2", None)
    pinned = Reference.parse("r.io/a:1").with_digest(Digest("sha256", "b" * 64))
    assert str(pinned) == "r.io/a@sha256:" + "b" * 64
    with pytest.raises(InvalidReference):
        ref.with_tag("bad tag")
    with pytest.raises(InvalidReference):
        ref.with_digest("sha256:zz")


def test_context_and_scope() -> None:
    ctx = Reference.parse("busybox").context()
    assert ctx == Repository("docker.io", "library/busybox")
    assert ctx.name == "docker.io/library/busybox"
    assert ctx.scope() == "repository:library/busybox:pull"
    assert ctx.scope("pull", "push") == "repository:library/busybox:pull,push"
    assert str(ctx.with_tag("x")) == "docker.io/library/busybox:x"


def test_reference_is_frozen_and_hashable() -> None:
    ref = Reference.parse("busybox")
    assert {ref, Reference.parse("docker.io/library/busybox:latest")} == {ref}
    with pytest.raises(AttributeError):
        ref.tag = "x"  # type: ignore[misc]


_alnum = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
_component = st.builds(
    lambda parts, seps: "".join(p + s for p, s in zip(parts, seps, strict=False)) + parts[-1],
    st.lists(_alnum, min_size=1, max_size=3),
    st.lists(st.sampled_from([".", "_", "__", "-", "--"]), min_size=0, max_size=2),
).filter(lambda c: c[-1].isalnum())
_host = st.sampled_from(["", "localhost/", "localhost:5000/", "r.io/", "My.Reg.io:443/", "10.0.0.1:5000/"])
_tag = st.from_regex(r"\A[A-Za-z0-9_][A-Za-z0-9_.-]{0,20}\Z")


@given(host=_host, path=st.lists(_component, min_size=1, max_size=3), tag=st.none() | _tag, pin=st.booleans())
def test_normalised_form_is_a_fixed_point(host: str, path: list[str], tag: str | None, pin: bool) -> None:
    # Docker takes a dotted first component as a host, and a host cannot hold '_': such text is invalid.
    assume(host or len(path) == 1 or "." not in path[0] or "_" not in path[0])
    text = host + "/".join(path) + (f":{tag}" if tag else "") + (f"@sha256:{HEX}" if pin else "")
    ref = Reference.parse(text)
    assert Reference.parse(str(ref)) == ref
    assert Reference.parse(ref.familiar) == ref
    if not host and len(path) > 1 and "." in path[0]:
        assert (ref.registry, ref.repository) == (
            path[0],
            "/".join(path[1:]),
        )  # Docker: a dotted first part is a host
    else:
        assert ref.repository.endswith("/".join(path))
    assert (ref.digest is not None) == pin
