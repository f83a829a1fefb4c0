"""Fault schedules: parsing, the runner on a fake clock, the emulator's rate control, client retries."""
from __future__ import annotations

import asyncio
import json
import socket
import threading
import time

import pytest

from conftest import run_cli
from harness.experiments.compare.spec import ExperimentSpec, SpecError
from harness.orchestration.faults import FaultError, FaultRunner, parse_fault, parse_schedule
from harness.orchestration.spec_resolver import load_spec_file
from topo.emulator.config import EmulatorConfig
from topo.emulator.control import ControlError, RateControl, ack_path, read_ack, read_control, write_control
from topo.emulator.direction_shaper import DirectionShaper, drain
from topo.emulator.io_loop import LinkEmulator
from topo.emulator.packet import Packet
from topo.profiles import DirectionSpec
from topo.units import parse_rate_bps


# --- parsing ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("10s:link-down:wan:5s", dict(at_s=10.0, kind="link-down", target="wan", duration_s=5.0)),
    ("30s:kill:cloud:3s", dict(at_s=30.0, kind="kill", target="cloud", duration_s=3.0)),
    ("40s:rate:access:2Mbit/s", dict(at_s=40.0, kind="rate", target="access", rate_bps=2e6, duration_s=None)),
    ("500ms:rate:access/up:1.5 Mbit/s:2s", dict(at_s=0.5, target="access", direction="up", rate_bps=1.5e6,
                                                duration_s=2.0)),
    (" 1s : KILL : edge : 250ms ", dict(at_s=1.0, kind="kill", target="edge", duration_s=0.25)),
])
def test_faults_parse(text, expected):
    fault = parse_fault(text)
    for key, value in expected.items():
        assert getattr(fault, key) == value, key


@pytest.mark.parametrize("text, message", [
    ("", "non-empty"),
    ("10s", "expected AT:KIND:TARGET"),
    ("10:kill:cloud:3s", "'10' needs a unit"),
    ("10s:kill:cloud", "takes one duration"),
    ("10s:kill:wan:3s", "target among cloud, edge"),
    ("10s:link-down:moon:3s", "target among access, lan, wan"),
    ("10s:reboot:cloud:3s", "kind 'reboot' is not one of"),
    ("10s:rate:access:quick", "not a number with a unit"),
    ("10s:rate:access:0Mbit/s", "rate > 0"),
    ("10s:rate:access/sideways:1Mbit/s", "direction 'sideways'"),
    ("10s:link-down:wan:0s", "duration must lie in"),
    ("-1s:kill:cloud:3s", "needs a unit"),
])
def test_bad_faults_are_one_clear_error(text, message):
    with pytest.raises(FaultError, match=message.replace("(", r"\(")) as info:
        parse_fault(text)
    assert "\n" not in str(info.value)


def test_overlapping_faults_on_one_target_are_refused():
    with pytest.raises(FaultError, match="overlap on wan"):
        parse_schedule(["10s:link-down:wan:5s", "12s:link-down:wan:1s"])
    with pytest.raises(FaultError, match="overlap on access"):
        parse_schedule(["10s:rate:access:1Mbit/s", "60s:rate:access:2Mbit/s"])  # the first never ends
    faults = parse_schedule(["20s:link-down:wan:1s", "10s:link-down:wan:5s", "11s:kill:cloud:1s"])
    assert [f.at_s for f in faults] == [10.0, 11.0, 20.0]


def test_faults_in_spec_config_and_flags(tmp_path):
    config = tmp_path / "faults.toml"
    config.write_text('faults = ["10s:link-down:wan:5s", "30s:kill:cloud:3s"]\nrequest_retries = 2\n')
    values = load_spec_file(ExperimentSpec, config)
    assert values["faults"] == ("10s:link-down:wan:5s", "30s:kill:cloud:3s")
    spec = ExperimentSpec(**values)
    assert spec.to_dict()["faults"] == ("10s:link-down:wan:5s", "30s:kill:cloud:3s")
    config.write_text('faults = ["10s:kill:wan:3s"]\n')
    with pytest.raises(SpecError, match="kill needs a target"):
        ExperimentSpec(**load_spec_file(ExperimentSpec, config))
    with pytest.raises(SpecError, match="retries must be 0..10"):
        ExperimentSpec(request_retries=-1)


def test_cli_bad_fault_is_one_line():
    result = run_cli("compare", "--fault", "10s:explode:wan:1s", timeout=60)
    assert result.returncode != 0
    lines = [line for line in result.stderr.strip().splitlines() if line]
    assert len(lines) == 1 and "explode" in lines[0] and "Traceback" not in result.stderr, result.stderr


# --- the runner on a fake clock --------------------------------------------------------------------
class FakeActions:
    def __init__(self, fail_on: str = ""):
        self.log: list[tuple[str, str, bool]] = []
        self.fail_on = fail_on

    def begin(self, fault):
        self.log.append(("begin", fault.text, False))
        if fault.text == self.fail_on:
            raise RuntimeError("no such interface")

    def end(self, fault, at_stop=False):
        self.log.append(("end", fault.text, at_stop))


def test_runner_plays_begins_and_ends_in_time_order():
    actions = FakeActions()
    faults = parse_schedule(["0.05s:link-down:wan:100ms", "0.1s:kill:cloud:30ms", "10s:rate:access:1Mbit/s"])
    runner = FaultRunner(faults, actions)
    runner.start()
    time.sleep(0.4)
    windows = runner.stop()
    assert [(what, text) for what, text, _ in actions.log] == [
        ("begin", "0.05s:link-down:wan:100ms"), ("begin", "0.1s:kill:cloud:30ms"),
        ("end", "0.1s:kill:cloud:30ms"), ("end", "0.05s:link-down:wan:100ms")]
    by_text = {w["fault"]: w for w in windows}
    link = by_text["0.05s:link-down:wan:100ms"]
    assert link["status"] == "ended"
    assert 0.09 < (link["end_ns"] - link["start_ns"]) / 1e9 < 0.3
    assert 0.04 < (link["start_ns"] - runner.start_ns) / 1e9 < 0.2
    assert by_text["10s:rate:access:1Mbit/s"]["status"] == "skipped"


def test_runner_ends_active_faults_at_stop_and_records_failures():
    actions = FakeActions(fail_on="0s:kill:edge:1s")
    runner = FaultRunner(parse_schedule(["0s:link-down:lan:60s", "0s:kill:edge:1s"]), actions)
    seen = []
    runner.on_change = lambda windows: seen.append([w.status for w in windows])
    with runner:
        time.sleep(0.1)
    windows = {w["fault"]: w for w in runner.stop()}
    assert windows["0s:link-down:lan:60s"]["status"] == "ended"
    assert windows["0s:link-down:lan:60s"]["note"] == "ended by the end of the workload"
    assert ("end", "0s:link-down:lan:60s", True) in actions.log
    assert windows["0s:kill:edge:1s"]["status"] == "failed"
    assert "no such interface" in windows["0s:kill:edge:1s"]["error"]
    assert seen  # every change was reported (the harness saves faults.json from it)


def test_runner_without_faults_starts_no_thread():
    runner = FaultRunner((), FakeActions())
    runner.start()
    assert runner.stop() == [] and runner.start_ns is not None


# --- the emulator's rate control ----------------------------------------------------------------
def _constant(rate: str) -> DirectionSpec:
    return DirectionSpec(rate_bps=parse_rate_bps(rate), queue_limit_packets=None)


def _departures(shaper, times_s, size_bytes=1250):
    for t in times_s:
        shaper.accept(Packet(t, size_bytes, b""), t)


def test_shaper_rate_change_applies_from_the_next_packet_and_restores():
    shaper = DirectionShaper(_constant("10 Mbit/s"))  # 1250 bytes = 1 ms
    _departures(shaper, [0.0] * 4)
    shaper.set_rate(1e6, 0.0005)  # 1 Mbit/s: 1250 bytes = 10 ms; the first packet is in transit
    out = drain(shaper)
    assert [round(t, 4) for t, _ in out] == [0.001, 0.011, 0.021, 0.031]
    shaper.set_rate(None, 1.0)  # back to the profile's rate
    _departures(shaper, [1.0, 1.0])
    assert [round(t, 4) for t, _ in drain(shaper)] == [1.001, 1.002]
    assert shaper.delivered_packets == 6 and shaper.dropped_packets == 0


def test_shaper_rate_change_of_an_unlimited_link_keeps_queued_packets():
    shaper = DirectionShaper(DirectionSpec(queue_limit_packets=None))
    shaper.set_rate(1e6, 0.0)
    _departures(shaper, [0.0, 0.0])
    assert [round(t, 4) for t, _ in drain(shaper)] == [0.01, 0.02]
    shaper.set_rate(None, 0.5)
    _departures(shaper, [0.5])
    assert [t for t, _ in drain(shaper)] == [0.5]


def test_control_file_round_trip_and_bad_files(tmp_path):
    config = tmp_path / "emulator-access.json"
    write_control(config, RateControl(seq=7, uplink_rate_bps=2e6))
    control = read_control(tmp_path / "emulator-access.control.json")
    assert control == RateControl(seq=7, uplink_rate_bps=2e6)
    (tmp_path / "bad.json").write_text('{"seq": 1, "uplink_rate_bps": -5}')
    with pytest.raises(ControlError, match="uplink_rate_bps must be a positive number"):
        read_control(tmp_path / "bad.json")
    (tmp_path / "bad.json").write_text('{"seq": 1, "turbo": true}')
    with pytest.raises(ControlError, match="unknown field 'turbo'"):
        read_control(tmp_path / "bad.json")


def test_emulator_applies_control_on_request_and_acknowledges(tmp_path):
    config_path = tmp_path / "emulator-access.json"
    config = EmulatorConfig("access", "ectx-eth1", "ectx-eth2", _constant("8 Mbit/s"), _constant("10 Mbit/s"))
    clock = iter(range(1000)).__next__
    emulator = LinkEmulator(config, clock=lambda: float(clock()), control_file=config_path.with_name(
        "emulator-access.control.json"), ack_to=config_path)
    write_control(config_path, RateControl(seq=3, downlink_rate_bps=2e6))
    emulator.request_control()
    emulator.apply_control()
    assert read_ack(config_path)["seq"] == 3 and not read_ack(config_path)["error"]
    assert emulator.shapers["downlink"].service.rate_bps == 2e6
    assert emulator.shapers["uplink"].service.rate_bps == 8e6
    write_control(config_path, RateControl(seq=4, restore=True))
    emulator.apply_control()
    assert emulator.shapers["downlink"].service.rate_bps == 10e6
    assert [c["seq"] for c in emulator.counters()["controls_applied"]] == [3, 4]
    (config_path.with_name("emulator-access.control.json")).write_text("{not json")
    emulator.apply_control()
    assert "not valid JSON" in json.loads(ack_path(config_path).read_text())["error"]


# --- client retries --------------------------------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_client_retries_are_counted_and_every_error_kept():
    from nodes.client import ClientSettings, InferenceClient

    async def go(retries):
        settings = ClientSettings(url=f"http://127.0.0.1:{_closed_port()}", model="m", timeout_s=2,
                                  retries=retries, retry_backoff_s=0.01)
        async with InferenceClient(settings) as client:
            return await client.infer_image(b"\xff\xd8 not really a jpeg", "r1")

    row = asyncio.run(go(0))
    assert row["attempts"] == 1 and row["status"] == 0 and row["error"]
    assert row["attempt_errors"] == "1:ClientConnectorError", row["attempt_errors"]
    row = asyncio.run(go(2))
    assert row["attempts"] == 3 and row["status"] == 0
    # each attempt's error is kept, numbered; the row counts from the first attempt's send
    assert row["attempt_errors"].split(";") == [f"{n}:ClientConnectorError" for n in (1, 2, 3)], row["attempt_errors"]


def test_cloud_link_retries_then_reports_the_failure():
    from nodes.cloud_link import CloudLink
    from nodes.errors import UpstreamError

    async def go():
        link = CloudLink(f"http://127.0.0.1:{_closed_port()}", request_timeout_s=2, retries=2, retry_backoff_s=0.01)
        try:
            with pytest.raises(UpstreamError, match="unreachable"):
                await link.artifact_index()
            return link.retried
        finally:
            await link.close()

    assert asyncio.run(go()) == 2


def test_cloud_link_retry_succeeds_when_the_cloud_comes_back():
    """A cloud that answers 503 once (restarting) is asked again and its answer used."""
    from aiohttp import web

    from nodes.cloud_link import CloudLink

    calls = []

    async def index(request):
        calls.append(1)
        if len(calls) == 1:
            return web.json_response({"error": "restarting"}, status=503)
        return web.json_response({"artifacts": []})

    async def go():
        app = web.Application()
        app.router.add_get("/v2/artifacts", index)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        link = CloudLink(f"http://127.0.0.1:{port}", retries=1, retry_backoff_s=0.01)
        try:
            return await link.artifact_index(), link.retried
        finally:
            await link.close()
            await runner.cleanup()

    assert asyncio.run(go()) == ({}, 1)
    assert len(calls) == 2


def test_node_refuses_to_listen_on_every_interface(tmp_path):
    import subprocess
    import sys

    import psutil

    threads_before = set(threading.enumerate())
    for host in ("0.0.0.0", "::"):
        ready = tmp_path / f"ready-{len(host)}.json"
        result = subprocess.run([sys.executable, "-m", "nodes.cloud", "--host", host, "--models", str(tmp_path),
                                 "--log-dir", str(tmp_path / "log"), "--ready-file", str(ready)],
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 2 and "every interface" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
        assert not ready.exists(), "the node reported ready although it refused to start"
    # nothing left running in this process either: no new thread, no child process (a server that went on)
    assert set(threading.enumerate()) <= threads_before, set(threading.enumerate()) - threads_before
    servers = [c for c in psutil.Process().children(recursive=True) if "nodes.cloud" in " ".join(c.cmdline())]
    assert not servers, servers
