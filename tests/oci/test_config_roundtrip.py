"""Property: any config kiln can hold survives to_bytes/from_bytes unchanged (and so keeps its digest)."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from kiln.digest import Digest
from kiln.oci import ContainerConfig, Healthcheck, History, ImageConfig

text = st.text(min_size=1, max_size=12)
opt_text = st.none() | text
words = st.lists(st.text(max_size=8), max_size=4).map(tuple)
unique_words = st.lists(text, max_size=4, unique=True).map(tuple)
digests = st.binary(max_size=8).map(Digest.of_bytes)

healthchecks = st.builds(
    Healthcheck,
    test=words,
    interval=st.integers(0, 10**12),
    timeout=st.integers(0, 10**12),
    start_period=st.integers(0, 10**12),
    start_interval=st.integers(0, 10**12),
    retries=st.integers(0, 100),
)

container_configs = st.builds(
    ContainerConfig,
    user=st.text(max_size=8),
    exposed_ports=unique_words,
    env=st.lists(st.from_regex(r"[A-Z_]{1,5}=[a-z0-9 ]{0,5}", fullmatch=True), max_size=4).map(tuple),
    entrypoint=st.none() | words,
    cmd=st.none() | words,
    volumes=unique_words,
    working_dir=st.text(max_size=8),
    labels=st.dictionaries(text, st.text(max_size=8), max_size=3),
    stop_signal=st.text(max_size=8),
    healthcheck=st.none() | healthchecks,
    shell=st.none() | words,
    on_build=words,
    args_escaped=st.sampled_from([None, True]),  # Docker omits false, so false reads back as unset
    extra=st.dictionaries(st.sampled_from(["Hostname", "Domainname", "Image", "Tty"]), st.text(max_size=4)),
)

histories = st.builds(
    History,
    created=opt_text,
    created_by=st.text(max_size=12),
    author=st.text(max_size=8),
    comment=st.text(max_size=8),
    empty_layer=st.booleans(),
)

image_configs = st.builds(
    ImageConfig,
    architecture=st.text(max_size=8),
    os=st.text(max_size=8),
    variant=opt_text,
    os_version=opt_text,
    created=opt_text,
    author=st.text(max_size=8),
    config=container_configs,
    rootfs_diff_ids=st.lists(digests, max_size=3).map(tuple),
    history=st.lists(histories, max_size=3).map(tuple),
    extra=st.dictionaries(
        st.sampled_from(["docker_version", "moby.buildkit.buildinfo.v1"]), st.text(max_size=4)
    ),
)


@settings(max_examples=150, deadline=None)
@given(image_configs)
def test_config_round_trip(cfg: ImageConfig) -> None:
    raw = cfg.to_bytes()
    again = ImageConfig.from_bytes(raw)
    assert again == cfg
    assert again.to_bytes() == raw
    assert json.loads(raw)["rootfs"]["type"] == "layers"
