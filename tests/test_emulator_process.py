"""The emulator process contract without a network: config validation and error exits."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from topo.emulator.config import EmulatorConfig, EmulatorConfigError
from topo.profiles import DirectionSpec

REPO = Path(__file__).resolve().parents[1]


def good_config(**changes):
    data = {"name": "access", "uplink_in": "ectzzw0", "downlink_in": "ectzzw1",
            "uplink": DirectionSpec(rate_bps=8e6, delay_ms=10).to_dict(),
            "downlink": DirectionSpec(rate_bps=10.88e6, delay_ms=10).to_dict(),
            "log_dir": None, "packet_log": False}
    data.update(changes)
    return data


def run_emulator(tmp_path, data, timeout=30):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return subprocess.run([sys.executable, "-m", "topo.emulator", "--config", str(path)],
                          capture_output=True, text=True, cwd=REPO, timeout=timeout)


def test_config_round_trip(tmp_path):
    config = EmulatorConfig.from_dict(good_config())
    assert config.uplink.rate_bps == 8e6
    assert EmulatorConfig.from_file(config.write(tmp_path / "c.json")) == config


@pytest.mark.parametrize("changes, words", [
    ({"colour": "red"}, "unknown field 'colour'"),
    ({"uplink_in": "ectzzw1"}, "must differ"),
    ({"uplink_in": "a-very-long-interface-name"}, "uplink_in"),
    ({"packet_log": "yes"}, "packet_log"),
    ({"uplink": {"rate_bps": -1}}, "uplink: rate must be positive"),
    ({"downlink": {"speed": 1}}, "downlink: unknown field(s) speed"),
])
def test_config_errors_name_the_field(changes, words):
    with pytest.raises(EmulatorConfigError) as err:
        EmulatorConfig.from_dict(good_config(**changes), "c.json")
    assert words in str(err.value) and str(err.value).startswith("c.json")


def test_missing_field():
    data = good_config()
    del data["downlink"]
    with pytest.raises(EmulatorConfigError, match="missing field 'downlink'"):
        EmulatorConfig.from_dict(data)


@pytest.mark.parametrize("data, words", [
    ("{not json", "not valid JSON"),
    (good_config(uplink={"rate_trace": "/nonexistent/trace.up"}), "/nonexistent/trace.up"),
    (good_config(colour=1), "unknown field 'colour'"),
])
def test_bad_config_exits_2_with_one_line(tmp_path, data, words):
    result = run_emulator(tmp_path, data)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert words in result.stderr


def test_missing_interface_exits_2(tmp_path):
    result = run_emulator(tmp_path, good_config(uplink_in="ectnone0", downlink_in="ectnone1"))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert "ectnone0" in result.stderr or "root" in result.stderr
