"""Trace readers, writers, generators and the traces CLI."""
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from traces import (DeliveryTrace, TraceFormatError, read_delay_csv, read_delivery_trace,
                    read_mahimahi_trace, read_rate_csv)
from traces.conversion import opportunities_from_rates
from traces.generators import MODELS, constant_rate_trace, markov_rate_steps, markov_rate_trace
from traces.writers import write_mahimahi_trace

REPO = Path(__file__).resolve().parents[1]
SHARED_TRACES = REPO.parent / "shared" / "traces"
SHIPPED = REPO / "traces"


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


# --- Mahimahi reader ----------------------------------------------------------------
def test_mahimahi_valid(tmp_path):
    trace = read_mahimahi_trace(write(tmp_path, "t.up", "0\n1\n1\n4\n"))
    assert trace.opportunity_ms.tolist() == [0, 1, 1, 4]
    assert trace.duration_ms == 4 and trace.packets == 4
    assert trace.mean_rate_bps == pytest.approx(4 * 1500 * 8 / 0.004)


@pytest.mark.parametrize("text, line, words", [
    ("1\n3\n2\n", 3, "earlier"),
    ("1\nabc\n3\n", 2, "'abc'"),
    ("1\n\n3\n", 2, "empty line"),
    ("1\n-2\n", 2, "'-2'"),
    ("0\n0\n", 2, "0 ms"),
    ("1.5\n", 1, "'1.5'"),
])
def test_mahimahi_invalid_names_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path, "bad.up", text)
    with pytest.raises(TraceFormatError) as err:
        read_mahimahi_trace(path)
    message = str(err.value)
    assert str(path) in message and f"line {line}" in message and words in message
    assert "\n" not in message


def test_mahimahi_empty_and_missing(tmp_path):
    with pytest.raises(TraceFormatError, match="empty trace"):
        read_mahimahi_trace(write(tmp_path, "e.up", "\n"))
    with pytest.raises(TraceFormatError, match="no such trace file"):
        read_mahimahi_trace(tmp_path / "missing.up")


def test_trace_is_immutable(tmp_path):
    trace = read_mahimahi_trace(write(tmp_path, "t.up", "1\n2\n"))
    with pytest.raises(ValueError):
        trace.opportunity_ms[0] = 5
    with pytest.raises(AttributeError):
        trace.source = "x"


# --- CSV readers --------------------------------------------------------------------
def test_rate_csv_to_opportunities(tmp_path):
    path = write(tmp_path, "r.csv", "# comment\ntime_s,rate_mbps\n0,12\n1,24\n")
    trace = read_rate_csv(path)
    # 12 Mbit/s = 1000 packets/s for 1 s, then 24 Mbit/s for 1 s (the last row holds one interval)
    assert trace.duration_ms == 2000
    assert trace.packets == 3000
    assert trace.opportunity_ms[:3].tolist() == [1, 2, 3]
    # the opportunity at exactly 1000 ms belongs to the second window
    assert trace.capacity_bytes_per_window(1000).tolist() == [999 * 1500, 2001 * 1500]
    assert read_delivery_trace(path).packets == 3000  # detected as CSV


@pytest.mark.parametrize("text, line, words", [
    ("0,8\n1,x\n", 2, "not two numbers"),
    ("0,8\n1,-3\n", 2, ">= 0"),
    ("0,8\n2,8\n1,8\n", 3, "times must increase"),
    ("0,8,3\n", 1, "2 columns"),
    ("1,8\n2,8\n", 1, "time_s 0"),
    ("0,8\n", 1, "zero duration"),
])
def test_rate_csv_invalid(tmp_path, text, line, words):
    path = write(tmp_path, "bad.csv", text)
    with pytest.raises(TraceFormatError) as err:
        read_rate_csv(path)
    assert str(path) in str(err.value) and f"line {line}" in str(err.value) and words in str(err.value)


def test_rate_csv_zero_rate_everywhere(tmp_path):
    with pytest.raises(TraceFormatError, match="less than one"):
        read_rate_csv(write(tmp_path, "z.csv", "0,0\n1,0\n"))


def test_delay_csv(tmp_path):
    trace = read_delay_csv(write(tmp_path, "d.csv", "time_s,delay_ms\n0,10\n0.5,30\n"))
    assert trace.time_s.tolist() == [0.0, 0.5] and trace.delay_ms.tolist() == [10.0, 30.0]
    assert trace.duration_s == 1.0
    with pytest.raises(TraceFormatError, match=r"line 2: delay_ms must be >= 0"):
        read_delay_csv(write(tmp_path, "bad.csv", "0,1\n1,-1\n"))


# --- generators and writers -----------------------------------------------------------
@pytest.mark.parametrize("rate_mbps, seconds", [(8, 3), (10.88, 3), (72, 1), (1, 12)])
def test_constant_trace_exact(rate_mbps, seconds):
    trace = constant_rate_trace(rate_mbps * 1e6, seconds)
    assert trace.duration_ms == seconds * 1000
    assert trace.mean_rate_bps == pytest.approx(rate_mbps * 1e6, rel=1e-9)
    gaps = np.diff(trace.opportunity_ms)
    assert gaps.max() - gaps.min() <= 1  # evenly spread, 1 ms resolution


def test_conversion_keeps_period_and_bytes():
    times = opportunities_from_rates([0, 0.5], [8e6, 16e6], 1.0)
    assert times[-1] == 1000
    assert times.size == (4e6 + 8e6) / 12000


def test_markov_model_is_seeded_and_has_the_mean():
    model = MODELS["lte-up"]
    t1, r1 = markov_rate_steps(model, 60, seed=5)
    t2, r2 = markov_rate_steps(model, 60, seed=5)
    _, r3 = markov_rate_steps(model, 60, seed=6)
    assert np.array_equal(r1, r2) and not np.array_equal(r1, r3)
    assert r1.mean() == pytest.approx(8.0)
    assert r1.std() > 1.0  # it varies
    trace = markov_rate_trace(model, 60, seed=5)
    assert trace.mean_rate_bps == pytest.approx(8e6, rel=2e-3)


def test_writer_round_trip(tmp_path):
    trace = constant_rate_trace(8e6, 3)
    back = read_mahimahi_trace(write_mahimahi_trace(trace, tmp_path / "c.up"))
    assert np.array_equal(back.opportunity_ms, trace.opportunity_ms)


@pytest.mark.parametrize("name, mean_mbps", [
    ("lte-8mbps.up", 8.0), ("lte-10.88mbps.down", 10.88), ("wifi-72mbps.up", 72.0), ("wifi-72mbps.down", 72.0),
    ("lte-variable.up", 8.0), ("lte-variable.down", 10.88), ("wifi-variable.up", 72.0),
    ("wifi-variable.down", 72.0)])
def test_shipped_traces(name, mean_mbps):
    trace = read_delivery_trace(SHIPPED / name)
    assert trace.mean_rate_bps / 1e6 == pytest.approx(mean_mbps, rel=2e-3)
    if "variable" in name:
        assert trace.duration_ms == 60_000


# --- CLI --------------------------------------------------------------------------------
def run_cli(*args):
    return subprocess.run([sys.executable, "-m", "traces", *args], capture_output=True, text=True, cwd=REPO)


def test_cli_generate_and_info(tmp_path):
    out = tmp_path / "c.up"
    result = run_cli("generate", "constant", "--rate-mbps", "8", "--seconds", "3", "-o", str(out))
    assert result.returncode == 0, result.stderr
    info = run_cli("info", str(out))
    assert "duration 3.000 s" in info.stdout and "8.000 Mbit/s" in info.stdout and "2000 packets" in info.stdout
    csv_out = tmp_path / "w.csv"
    assert run_cli("generate", "wifi", "--seconds", "5", "--format", "csv", "-o", str(csv_out)).returncode == 0
    assert re.search(r"mean capacity 7[12]\.9\d\d Mbit/s|mean capacity 72\.0", run_cli("info", str(csv_out)).stdout)


def test_cli_error_is_one_line(tmp_path):
    bad = write(tmp_path, "bad.up", "5\n3\n")
    result = run_cli("info", str(bad))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "line 2" in result.stderr and "Traceback" not in result.stderr


# --- real traces --------------------------------------------------------------------------
REAL = {"TMobile-LTE-short.up": 13.32, "TMobile-LTE-short.down": 16.70, "Verizon-LTE-short.up": 5.95,
        "Verizon-LTE-short.down": 5.03, "ATT-LTE-driving-2016.up": 1.91, "ATT-LTE-driving-2016.down": 4.56}


@pytest.mark.skipif(not SHARED_TRACES.is_dir(), reason=f"real traces not present at {SHARED_TRACES}")
@pytest.mark.parametrize("name, mean_mbps", sorted(REAL.items()))
def test_real_traces_load(name, mean_mbps):
    trace = read_delivery_trace(SHARED_TRACES / name)
    assert trace.mean_rate_bps / 1e6 == pytest.approx(mean_mbps, abs=0.01)
