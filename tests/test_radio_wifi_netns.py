"""The shipped `wifi` radio profile in the real emulator process: ns A -- [emulator] -- ns B (root only).

Uplink = A -> B: A is the station (10.233.0.1), B the far side. One medium for both directions:
a download alone gets about the seeds' 72 Mbit/s, a download and an upload at once share it.
"""
import json
import os
import shutil
import subprocess
import time

import pytest

from topo.profiles import load_profile

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture
def path():
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, raw sockets)")
    for tool in ("ip", "ethtool", "iperf3"):
        if shutil.which(tool) is None:
            pytest.skip(f"needs the {tool!r} command")
    from topo.emulator.netns_path import WirePath
    with WirePath() as wire:
        yield wire


def iperf3(wire, args, seconds):
    server = wire.popen_in(wire.ns_b, ["iperf3", "-s", "-1", "-B", "10.233.0.2"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    result = wire.exec_in(wire.ns_a, ["iperf3", "-c", "10.233.0.2", "-J", "-t", str(seconds), "-O", "1",
                                      "-C", "cubic"] + args, check=False, timeout_s=seconds + 60)
    server.wait(timeout=20)
    return json.loads(result.stdout)["end"]


def test_wifi_download_alone_and_with_an_upload_share_one_medium(path):
    wifi = load_profile("wifi")
    with path.start_emulator(wifi.up, wifi.down, log_dir=str(path.workdir / "logs")):
        alone = iperf3(path, ["-R"], seconds=4)["sum_received"]["bits_per_second"]
    assert 0.8 * 72e6 <= alone <= 1.08 * 72e6, alone
    with path.start_emulator(wifi.up, wifi.down):
        both = iperf3(path, ["--bidir"], seconds=4)
    up = both["sum_received"]["bits_per_second"]
    down = both["sum_received_bidir_reverse"]["bits_per_second"]
    assert up + down <= 1.25 * 72e6, (up, down)         # one medium, not two 72 Mbit/s pipes
    assert min(up, down) >= 0.25 * 72e6, (up, down)      # both directions get their turns
