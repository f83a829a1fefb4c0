"""The LTE radio model in the real emulator process on a namespace path (root only): promotion seen by ping."""
import dataclasses
import os
import re
import shutil
import statistics
import time

import pytest

from topo.profiles import load_profile

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def path():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, raw sockets)")
    for tool in ("ip", "ethtool", "ping"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs the {tool!r} command")
    from topo.emulator.netns_path import WirePath
    with WirePath() as wire:
        yield wire


def ping_once_ms(wire) -> float:
    result = wire.exec_in(wire.ns_a, ["ping", "-n", "-c", "1", "-W", "3", "10.233.0.2"], check=False)
    found = re.findall(r"time=([0-9.]+) ms", result.stdout)
    assert found, result.stdout + result.stderr
    return float(found[0])


def lte_with_tail(tail: str):
    """The shipped lte profile's two directions with a shorter tail timer (a test cannot wait 11.6 s)."""
    lte = load_profile("lte")
    params = tuple(sorted({**dict(lte.up.radio_params), "tail": tail}.items()))
    return (dataclasses.replace(lte.up, radio_params=params), dataclasses.replace(lte.down, radio_params=params))


def test_first_ping_after_idle_pays_the_promotion_connected_pings_do_not(path):
    up, down = lte_with_tail("2 s")
    floor_ms = up.delay_ms + down.delay_ms
    with path.start_emulator(up, down):
        first = ping_once_ms(path)
        connected = []
        for _ in range(10):
            time.sleep(0.2)
            connected.append(ping_once_ms(path))
        time.sleep(2.5)  # past the tail timer: RRC_IDLE again
        again = ping_once_ms(path)
    promotion_ms = 260.0
    assert floor_ms + promotion_ms <= first <= floor_ms + promotion_ms + 40, first
    assert floor_ms + promotion_ms <= again <= floor_ms + promotion_ms + 40, again
    # connected: SR wait (0-10 ms) + grant 8 ms + a TTI each way (+ an 8 ms HARQ round trip now and then)
    assert floor_ms + 10 - 0.5 <= min(connected), connected
    assert statistics.median(connected) <= floor_ms + 10 + 10 + 8 + 3, connected
