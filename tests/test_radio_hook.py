"""The radio hook: [radio] profile tables, DirectionSpec fields, the registry, the shared dict, floors."""
from __future__ import annotations

import json

import pytest

from topo.emulator import radio
from topo.emulator.config import EmulatorConfig
from topo.emulator.direction_shaper import DirectionShaper, drain
from topo.emulator.packet import Packet
from topo.emulator.radio.addresses import DEFAULT_DEVICE, device_of, ipv4_frame
from topo.profiles import DirectionSpec, ProfileError, load_profile, load_profile_file, trace_profile

UE, SERVER = "10.0.1.1", "10.0.2.2"

PROFILE = """name = "cell"
[radio]
model = "lte"
{radio}
[up]
rate = "8 Mbit/s"
delay = "5 ms"
[down]
rate = "10 Mbit/s"
delay = "5 ms"
"""


def write(tmp_path, radio_lines="", text=PROFILE):
    path = tmp_path / "cell.toml"
    path.write_text(text.format(radio=radio_lines))
    return path


def test_the_shipped_lte_profile_is_the_radio_model_and_lte_ideal_the_pipe():
    lte, ideal = load_profile("lte"), load_profile("lte-ideal")
    assert lte.up.radio_model == lte.down.radio_model == "lte"
    params = radio.parse_radio_params("lte", lte.up.radio_params)
    assert (params.promotion_ms, params.tail_ms, params.sr_period_ms, params.bler) == (260.0, 11576.0, 10.0, 0.1)
    assert ideal.up.radio_model is None and ideal.up.radio_params == ()
    assert (ideal.up.rate_bps, ideal.down.rate_bps, ideal.up.delay_ms) == (8e6, 10.88e6, 15.0)
    assert lte.up.needs_userspace and lte.up.shaped and not ideal.up.needs_userspace


def test_radio_fields_survive_the_emulator_config_json(tmp_path):
    lte = load_profile("lte")
    config = EmulatorConfig("access", "a-eth0", "a-eth1", lte.up, lte.down)
    path = config.write(tmp_path / "config.json")
    again = EmulatorConfig.from_file(path)
    assert again.uplink == lte.up and again.downlink == lte.down
    assert json.loads(path.read_text())["uplink"]["radio_model"] == "lte"


@pytest.mark.parametrize("lines, message", [
    ('promotion = "-5 ms"', r"\[radio\]: promotion must be a time >= 0"),
    ("bler = 1.5", r"\[radio\]: bler: 1.5 is outside 0..1"),
    ('promoton = "5 ms"', r"\[radio\]: unknown lte parameter 'promoton' \(known: bler, drx,"),
    ("harq_max_transmissions = 0", r"harq_max_transmissions must be an integer 1..8"),
    ('drx_long_cycle = "10 ms"', r"drx cycles must satisfy"),
    ("[radio.extra]\nx = 1", r"is a table"),
])
def test_bad_radio_values_name_the_file_and_key(tmp_path, lines, message):
    path = write(tmp_path, lines)
    with pytest.raises(ProfileError, match=message) as err:
        load_profile_file(path)
    assert str(err.value).startswith(f"{path} [radio]: ")


def test_unknown_model_and_missing_model_are_one_line(tmp_path):
    with pytest.raises(ProfileError, match=r"\[radio\]: model 'lora' is not a radio model \(known: .*lte"):
        load_profile_file(write(tmp_path, text=PROFILE.replace('model = "lte"', 'model = "lora"')))
    with pytest.raises(ProfileError, match=r"\[radio\]: missing model"):
        load_profile_file(write(tmp_path, text=PROFILE.replace('model = "lte"', "")))


def test_a_radio_needs_a_constant_rate():
    with pytest.raises(ProfileError, match="needs a constant rate"):
        DirectionSpec(radio_model="lte")
    with pytest.raises(ProfileError, match="without a radio model"):
        DirectionSpec(rate_bps=8e6, radio_params=(("bler", 0.1),))


def test_a_trace_replay_on_an_lte_base_is_a_trace_pipe():
    replay = trace_profile("traces/lte-8mbps.up", "traces/lte-10.88mbps.down", load_profile("lte"))
    assert replay.up.radio_model is None and replay.up.rate_trace


def test_the_hook_dispatches_by_model_with_side_and_one_shared_dict(monkeypatch):
    seen = []

    class Params:
        @classmethod
        def from_mapping(cls, mapping):
            if set(mapping) - {"k"}:
                raise ValueError(f"unknown fake parameter {sorted(mapping)[0]!r}")
            return cls()

    class Service:
        immediate, radio = False, True

        def __init__(self, spec, params, side, start_s, shared, on_drop):
            seen.append((side, start_s, id(shared)))
            shared.setdefault("sides", []).append(side)

        def advance(self, now_s, queue, depart):
            while queue:
                packet = queue.dequeue()
                depart(packet, packet.arrival_s + 0.5)

        def next_event_s(self, queue):
            return float("inf")

        def __len__(self):
            return 0

    monkeypatch.setitem(radio.RADIO_MODELS, "fake", radio.RadioModel(Params, Service, needs_constant_rate=False))
    spec = DirectionSpec(radio_model="fake", radio_params=(("k", 1),))
    shared: dict = {}
    up = DirectionShaper(spec, 2.0, side="uplink", shared=shared)
    DirectionShaper(spec, 2.0, side="downlink", shared=shared)
    assert seen == [("uplink", 2.0, id(shared)), ("downlink", 2.0, id(shared))]
    assert shared["sides"] == ["uplink", "downlink"]
    up.accept(Packet(3.0, 100), 3.0)
    assert [release for release, _ in drain(up)] == [3.5]
    with pytest.raises(ProfileError, match="unknown fake parameter 'j'"):
        DirectionSpec(radio_model="fake", radio_params=(("j", 1),))
    with pytest.raises(ValueError, match="side must be one of"):
        radio.build_radio_service(spec, "sideways", 0.0, {})


def test_devices_are_ipv4_addresses_and_other_frames_pass_untouched():
    up_frame = ipv4_frame(UE, SERVER, 100)
    assert device_of(Packet.from_frame(0.0, up_frame), "uplink") == bytes([10, 0, 1, 1])
    assert device_of(Packet.from_frame(0.0, up_frame), "downlink") == bytes([10, 0, 2, 2])
    assert device_of(Packet(0.0, 100), "uplink") == DEFAULT_DEVICE
    arp = b"\xff" * 6 + b"\x02" * 6 + b"\x08\x06" + bytes(28)
    assert device_of(Packet.from_frame(0.0, arp), "uplink") is None
    shaper = DirectionShaper(load_profile("lte").up, 0.0, side="uplink", shared={})
    shaper.accept(Packet.from_frame(1.0, arp), 1.0)  # an idle cell, yet no promotion for ARP
    assert [release for release, _ in drain(shaper)] == [pytest.approx(1.0 + shaper.spec.delay_ms / 1000)]


def test_a_rate_change_keeps_the_radio_and_its_buffers():
    spec = DirectionSpec(rate_bps=8e6, radio_model="lte", radio_params=(("bler", 0.0), ("start_connected", True)))
    shaper = DirectionShaper(spec, 0.0, side="downlink", shared={})
    for i in range(20):
        shaper.accept(Packet.from_frame(0.0, ipv4_frame(SERVER, UE, 1000)), 0.0)
    shaper.pop_due(0.0105, [])  # ten 1000-byte blocks (8 Mbit/s x 1 ms) have gone
    service = shaper.service
    shaper.set_rate(4e6, 0.0105)
    assert shaper.service is service and len(service) == 10 and shaper.in_flight == 10
    released = drain(shaper)
    assert len(released) == 10 and released[-1][0] == pytest.approx(0.010 + 10 * 0.002, abs=1e-9)
    shaper.set_rate(None, 1.0)
    assert service.rate_bps == 8e6


def test_the_floor_takes_a_radio_link_at_its_peak_rate():
    from harness.analysis.floor import path_of

    lte, lan = load_profile("lte"), load_profile("lan")
    profiles = {"lte": {"up": lte.up.to_dict(), "down": lte.down.to_dict()},
                "lan": {"up": lan.up.to_dict(), "down": lan.down.to_dict()}}
    path, _ = path_of("edge", "lte", profiles)
    assert path.up_bps == pytest.approx(8e6 / 0.9) and path.down_bps == pytest.approx(10.88e6 / 0.9)
    assert path.up_delay_ms == lte.up.delay_ms + lan.up.delay_ms


def test_the_emulator_process_gives_both_directions_one_shared_dict():
    from topo.emulator.io_loop import LinkEmulator

    lte = load_profile("lte")
    emulator = LinkEmulator(EmulatorConfig("access", "a-eth0", "a-eth1", lte.up, lte.down), clock=lambda: 5.0)
    try:
        up, down = emulator.shapers["uplink"].service, emulator.shapers["downlink"].service
        assert (up.side, down.side) == ("uplink", "downlink")
        assert up.rrc is down.rrc is emulator.radio_shared["lte_rrc"]  # uplink data wakes the device for both
    finally:
        emulator.close()
