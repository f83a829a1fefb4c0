"""Link profile files and the quantities in them."""
from __future__ import annotations

import pytest

from topo import units
from topo.links import resolve_backend
from topo.errors import LinkBackendError
from topo.profiles import ProfileError, available_profiles, load_profile, load_profile_file


def write(tmp_path, text, name="custom.toml"):
    path = tmp_path / name
    path.write_text(text)
    return path


VALID = """
name = "custom"
[up]
rate = "8 Mbit/s"
delay = "15 ms"
queue_limit = "100 packets"
[down]
rate = "10.88 Mbit/s"
delay = 15
loss = "1 %"
queue = "drophead"
queue_limit = "150 KB"
"""


def test_shipped_profiles_load_with_the_seeds_rates():
    assert set(available_profiles()) >= {"lte", "wifi", "wan", "lan"}
    lte, wifi = load_profile("lte"), load_profile("wifi-ideal")  # wifi: the radio (tests/test_radio_wifi.py)
    assert lte.up.rate_bps == 8e6 and lte.down.rate_bps == 10.88e6
    assert wifi.up.rate_bps == wifi.down.rate_bps == 72e6
    for name in available_profiles():
        profile = load_profile(name)
        assert profile.up.queue_limit_packets or profile.up.queue_limit_bytes  # never unlimited by default


def test_valid_user_profile_by_path(tmp_path):
    profile = load_profile(str(write(tmp_path, VALID)))
    assert profile.name == "custom"
    assert profile.up.delay_ms == 15 and profile.down.delay_ms == 15
    assert profile.down.loss == pytest.approx(0.01)
    assert profile.down.queue == "drophead" and profile.down.queue_limit_bytes == 150_000
    assert profile.up.queue_limit_packets == 100 and profile.up.queue_limit_bytes is None


@pytest.mark.parametrize("old, new, field", [
    ('rate = "8 Mbit/s"', 'speed = "8 Mbit/s"', "speed"),       # unknown field
    ('rate = "8 Mbit/s"', 'rate = "-8 Mbit/s"', "rate"),        # negative rate
    ('rate = "8 Mbit/s"', 'rate = "8 furlongs/s"', "rate"),     # bad unit
    ('delay = "15 ms"', 'delay = "15 parsecs"', "delay"),
    ('delay = "15 ms"', 'delay = "-3 ms"', "delay"),
    ('delay = "15 ms"', 'loss = "150 %"', "loss"),
    ('delay = "15 ms"', 'queue = "fifo"', "queue"),
    ('queue_limit = "100 packets"', 'queue_limit = "many"', "queue_limit"),
])
def test_invalid_profile_names_file_and_field(tmp_path, old, new, field):
    path = write(tmp_path, VALID.replace(old, new, 1))
    with pytest.raises(ProfileError) as err:
        load_profile_file(path)
    message = str(err.value)
    assert str(path) in message and field in message and "\n" not in message


def test_missing_direction_and_bad_toml(tmp_path):
    with pytest.raises(ProfileError, match=r"missing \[down\]"):
        load_profile_file(write(tmp_path, '[up]\nrate = "1 Mbit/s"\n'))
    with pytest.raises(ProfileError, match="not valid TOML"):
        load_profile_file(write(tmp_path, "[up\n"))


def test_unknown_profile_name_lists_the_available_ones():
    with pytest.raises(ProfileError, match="available: .*lte"):
        load_profile("5g-mmwave")


def test_missing_trace_file_is_named(tmp_path):
    with pytest.raises(ProfileError, match="nope.up"):
        load_profile_file(write(tmp_path, '[up]\nrate_trace = "nope.up"\n[down]\nrate = "1 Mbit/s"\n'))


@pytest.mark.parametrize("text, bps", [("8 Mbit/s", 8e6), ("10.88Mbps", 10.88e6), ("1 MB/s", 8e6),
                                       ("500 kbit/s", 5e5), ("1 Gbit/s", 1e9)])
def test_rate_units(text, bps):
    assert units.parse_rate_bps(text) == pytest.approx(bps)


def test_backend_resolution_without_netem(monkeypatch):
    lte, lan = load_profile("lte-ideal"), load_profile("lan")
    monkeypatch.setattr("topo.links.netem_available", lambda: False)
    assert resolve_backend("auto", [lte, lan]) == "userspace"
    assert resolve_backend("userspace", [lte]) == "userspace"
    with pytest.raises(LinkBackendError, match="no sch_netem.*userspace"):
        resolve_backend("kernel", [lte])
    assert resolve_backend("kernel", [lan]) == "kernel"  # nothing to shape: no netem needed
    with pytest.raises(LinkBackendError, match="unknown link backend"):
        resolve_backend("ns3", [lte])


def test_backend_resolution_with_netem(monkeypatch, tmp_path):
    monkeypatch.setattr("topo.links.netem_available", lambda: True)
    lte = load_profile("lte-ideal")
    assert resolve_backend("auto", [lte]) == "kernel"
    assert resolve_backend("auto", [load_profile("lte")]) == "userspace"  # a radio model: the emulator only
    with pytest.raises(LinkBackendError, match="radio model lte"):
        resolve_backend("kernel", [load_profile("lte")])
    drophead = load_profile_file(write(tmp_path, VALID))
    assert resolve_backend("auto", [drophead]) == "userspace"  # netem has no drophead / byte limits
    with pytest.raises(LinkBackendError, match="drophead"):
        resolve_backend("kernel", [drophead])
