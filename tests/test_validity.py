"""VALID / INVALID: each constraint met, failed (named, with its number and value) or not checked."""
import csv
import json

import pytest

from harness.analysis.validity import (FAILED, MET, NOT_CHECKED, ValidityLimits, evaluate, expected_rows,
                                       validity_lines)

SPEC = {"accesses": ["lte"], "placements": ["edge", "cloud"], "sizes": [61440], "repetitions": 2, "devices": 1}


def make_run(tmp_path, p99_ms=0.4, host=None, requests=4, lateness=None, status="complete", experiment="compare"):
    logs = tmp_path / "logs" / "lte"
    logs.mkdir(parents=True)
    if p99_ms is not None:
        (logs / "access-counters.json").write_text(json.dumps(
            {"uplink": {"lateness": {"p99_ms": p99_ms}}, "downlink": {"lateness": {"p99_ms": 0.1}}}))
    if host is not None:
        with open(tmp_path / "host-cpu.csv", "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(["t_s", "core", "busy_pct", "steal_pct"])
            for i, busy in enumerate(host):
                writer.writerow([f"{(i + 1) * 0.25:.2f}", "all", busy, 0])
                writer.writerow([f"{(i + 1) * 0.25:.2f}", "cpu0", 100, 0])
    rows = [{"status": "ok", **({"schedule_lateness_ms": lateness[i % len(lateness)]} if lateness else {})}
            for i in range(requests)]
    record = {"experiment": experiment, "status": status, "spec": SPEC, "accesses_run": ["lte"]}
    return evaluate(tmp_path, record, rows)


def test_a_clean_run_is_valid(tmp_path):
    validity = make_run(tmp_path, host=[50] * 40, lateness=["0.2", "0.5"])
    assert validity.verdict == "VALID" and validity.headline() == "VALID"
    assert [c.outcome for c in validity.constraints] == [MET, MET, MET, MET]
    lines = validity_lines(validity)
    assert lines[0].startswith("**VALID**") and lines[2].startswith("- 1. emulator p99 lateness <= 1 ms: met")


def test_each_failure_is_named_with_its_number_and_value(tmp_path):
    validity = make_run(tmp_path, p99_ms=4.1, host=[99] * 60, requests=3, lateness=["0.5", "40", "40"])
    assert validity.verdict == "INVALID"
    headline = validity.headline()
    assert "1. emulator p99 lateness 4.10 ms > 1 ms on lte/access/uplink" in headline
    assert "2. host CPU > 95% for 15.0 s over the whole run" in headline  # 60 samples of 0.25 s above 95 %
    assert "3. client schedule lateness p99 40.0 ms > 10 ms" in headline
    assert "4. 1 rows lost of 4 expected" in headline


def test_host_cpu_needs_a_long_enough_stretch(tmp_path):
    # 4 s above the limit, a dip, 4 s again: never 5 s at a stretch -> met (cpu0 alone is above for 8 s)
    validity = make_run(tmp_path, host=[99] * 16 + [50] + [99] * 16)
    host = validity.constraints[1]
    assert host.outcome == MET and "4.0 s" in host.detail and "busiest core cpu0 above 95% for 8.2 s" in host.detail


def test_what_cannot_be_checked_is_said_not_failed(tmp_path):
    validity = make_run(tmp_path, p99_ms=None, host=None, experiment="replay")
    assert validity.verdict == "VALID"
    outcomes = {c.number: (c.outcome, c.detail) for c in validity.constraints}
    assert outcomes[1][0] == NOT_CHECKED and "no emulator lateness" in outcomes[1][1]
    assert outcomes[2][0] == NOT_CHECKED and "host-cpu.csv" in outcomes[2][1]
    assert outcomes[3][0] == NOT_CHECKED and "no schedule_lateness_ms column" in outcomes[3][1]
    assert outcomes[4][0] == NOT_CHECKED and "replay run" in outcomes[4][1]


def test_expected_rows():
    assert expected_rows({"experiment": "compare", "status": "complete", "spec": {**SPEC, "devices": 3}})[0] == 12
    assert expected_rows({"experiment": "sweep", "status": "failed", "spec": SPEC, "accesses_run": []})[0] == 0
    assert expected_rows({"experiment": "load", "requests_expected": 7})[0] == 7
    assert expected_rows({"experiment": "compare", "spec": {**SPEC, "open_loop_rate_hz": 2}})[0] is None


def test_interrupted_run_does_not_count_rows_lost(tmp_path):
    validity = make_run(tmp_path, requests=1, status="interrupted")
    assert validity.constraints[3].outcome == NOT_CHECKED


@pytest.mark.parametrize("field, value", [("emulator_lateness_p99_ms", -1), ("host_cpu_busy_pct", 120),
                                          ("rows_lost_max", "none")])
def test_bad_limits(field, value):
    with pytest.raises(ValueError, match=field):
        ValidityLimits(**{field: value})


def test_report_opens_with_the_verdict_and_records_it(tmp_path):
    from harness.analysis.report import analyse_run
    run = tmp_path / "run"
    (run / "logs" / "lte").mkdir(parents=True)
    (run / "logs" / "lte" / "access-counters.json").write_text(json.dumps({"uplink": {"lateness": {"p99_ms": 2.5}}}))
    (run / "experiment.json").write_text(json.dumps({"experiment": "replay", "status": "complete", "spec": {},
                                                     "environment": {}, "profiles": {}, "captures": []}))
    messages = []
    report = analyse_run(run, progress=messages.append).read_text().splitlines()
    verdict = [i for i, line in enumerate(report) if line.startswith("**INVALID")]
    assert verdict and verdict[0] <= 4, report[:8]
    assert "emulator p99 lateness 2.50 ms > 1 ms" in report[verdict[0]]
    assert any(m.startswith("validity: INVALID: 1. emulator p99 lateness 2.50 ms") for m in messages)
    assert json.loads((run / "experiment.json").read_text())["validity"]["verdict"] == "INVALID"
    assert json.loads((run / "validity.json").read_text())["constraints"][0]["outcome"] == FAILED


def write_summary(path, seconds):
    """An emulator summary: (lateness_p99_us, steal_ms, gc_ms, wake_delay_max_us, send_max_us) per second."""
    from topo.emulator.recorders import SUMMARY_COLUMNS
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, SUMMARY_COLUMNS, restval="")
        writer.writeheader()
        for second, (p99_us, steal, gc_ms, wake_us, send_us) in enumerate(seconds):
            for side in ("uplink", "downlink"):
                writer.writerow({"second": second, "direction": side, "lateness_p99_us": p99_us, "cpu_fraction": 0.3,
                                 "steal_ms": steal, "gc_ms": gc_ms, "wake_delay_max_us": wake_us,
                                 "send_max_us": send_us})


@pytest.mark.parametrize("seconds, words", [
    ([(4000, 150, 0, 5000, 100)] * 3 + [(300, 0, 0, 200, 100)] * 5,
     "cause: the host (vCPU steal), not the emulator - in its 3 late seconds host vCPU steal 150 ms/s "
     "(other seconds 0)"),
    ([(4000, 0, 7, 7500, 100)] + [(300, 0, 0, 200, 100)] * 5, "cause: the emulator's garbage collector"),
    ([(4000, 0, 0, 3500, 100)] + [(300, 0, 0, 200, 100)] * 5, "cause: the emulator not running when due"),
    ([(4000, 0, 0, 300, 2500)] + [(300, 0, 0, 200, 100)] * 5, "cause: the receivers' kernel work inside"),
    ([(4000, 0, 0, 300, 100)] + [(300, 0, 0, 200, 100)] * 5, "cause: the emulator's own processing"),
])
def test_a_lateness_failure_names_its_cause(tmp_path, seconds, words):
    logs = tmp_path / "logs" / "lte"
    logs.mkdir(parents=True)
    (logs / "access-counters.json").write_text(json.dumps(
        {"uplink": {"lateness": {"p99_ms": 4.0}}, "downlink": {"lateness": {"p99_ms": 0.1}}}))
    write_summary(logs / "access-summary.csv", seconds)
    validity = evaluate(tmp_path, {"experiment": "replay"}, [])
    assert validity.verdict == "INVALID"  # naming the cause never makes a late link valid
    detail = validity.constraints[0].detail
    assert detail.startswith("emulator p99 lateness 4.00 ms > 1 ms on lte/access/uplink; ") and words in detail


def test_an_older_emulator_falls_back_to_the_run_s_host_steal(tmp_path):
    make_run(tmp_path, p99_ms=4.1)
    with open(tmp_path / "host-cpu.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "core", "busy_pct", "steal_pct"])
        for core in ("all", "cpu0", "cpu1"):
            writer.writerow(["0.25", core, 50, 6.0])
    detail = evaluate(tmp_path, {"experiment": "replay"}, []).constraints[0].detail
    assert "not recorded" in detail and "host vCPU steal over the run 120 ms/s (host-cpu.csv)" in detail


S = 1_000_000_000


def write_host(path, busy_of_t, seconds, period=0.25):
    """host-cpu.csv with ``all`` and cpu0 rows every ``period`` s; ``busy_of_t(interval end)`` gives busy %."""
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["t_s", "core", "busy_pct", "steal_pct"])
        for i in range(1, int(seconds / period) + 1):
            t = i * period
            writer.writerow([f"{t:.3f}", "all", busy_of_t(t), 0])
            writer.writerow([f"{t:.3f}", "cpu0", busy_of_t(t), 0])


def load_record(cells, start_s=100.0):
    """A load run's record: ``cells`` as (level, schedule start s, end s) on the monitor's clock."""
    return {"experiment": "load", "status": "complete", "host_monitor_start_s": start_s, "cells": [
        {"access": "lte", "level": level, "placement": "edge", "schedule_start_ns": int((start_s + begin) * S),
         "ended_ns": int((start_s + end + 1) * S)} for level, begin, end in cells]}


def load_rows(cells, start_s=100.0):
    return [{"status": "ok", "access": "lte", "level": level, "placement": "edge", "schedule_lateness_ms": "0.3",
             "client_send_start_ns": str(int((start_s + t) * S)), "client_reply_complete_ns":
             str(int((start_s + t + 0.5) * S))} for level, begin, end in cells
            for t in [begin + k * (end - 0.5 - begin) / 4 for k in range(5)]]


def test_the_devices_start_up_is_reported_not_judged(tmp_path):
    """A load run whose devices' start-up (0..12 s) fills the host, then 20 s measured at 60 %: VALID, the window
    and the start-up's CPU in validity.json; the same busy host inside the window is INVALID."""
    cells = [("d50", 12.0, 32.0)]
    write_host(tmp_path / "host-cpu.csv", lambda t: 100 if t <= 12 else 60, 40)
    validity = evaluate(tmp_path, load_record(cells), load_rows(cells))
    host = validity.constraints[1]
    assert host.outcome == MET and "in the measured window (20 s): 0.0 s" in host.detail, host.detail
    assert "outside it (start-up, set-up; reported, not judged) 20 s: mean 84%, longest above 95% 12.0 s" in host.detail
    window = validity.to_dict()["window"]
    assert window["judged"] == "measured window" and window["intervals_s"] == [[12.0, 32.0]]
    assert window["host_cpu"]["outside"]["longest_above_s"] == 12.0 and window["host_cpu"]["inside"]["seconds"] == 20
    assert "Host CPU judged in the measured window: 20 s in 1 interval(s), 12..32 s" in validity_lines(validity)[-1]
    write_host(tmp_path / "host-cpu.csv", lambda t: 100 if t <= 12 or 20 < t <= 26.5 else 60, 40)
    host = evaluate(tmp_path, load_record(cells), load_rows(cells)).constraints[1]
    assert host.outcome == FAILED and host.detail.startswith("host CPU > 95% for 6.5 s in the measured window (20 s)")


def test_a_stretch_does_not_run_on_across_the_set_up_between_cells(tmp_path):
    """Busy from 8 s to 17 s: 2 s at the end of the first cell, the next cell's set-up, 2 s into the second: the
    longest judged stretch is 2 s, although the host was busy for 9 s at once."""
    cells = [("d1", 0.0, 10.0), ("d2", 15.0, 25.0)]
    write_host(tmp_path / "host-cpu.csv", lambda t: 100 if 8 < t <= 17 else 30, 30)
    validity = evaluate(tmp_path, load_record(cells), load_rows(cells))
    assert validity.constraints[1].outcome == MET and ": 2.0 s;" in validity.constraints[1].detail
    assert validity.window["intervals_s"] == [[0.0, 10.0], [15.0, 25.0]]
    assert validity.window["host_cpu"]["outside"] == {"seconds": 10.0, "mean_busy_pct": 65.0, "longest_above_s": 5.0}


def test_a_compare_s_window_is_each_placement_from_its_first_schedule_to_its_last_reply(tmp_path):
    rows = [{"status": "ok", "access": "lte", "placement": p, "scheduled_ns": str(int((100 + b) * S)),
             "client_send_start_ns": str(int((100 + b + 0.1) * S)), "client_reply_complete_ns": str(int((100 + e) * S))}
            for p, b, e in [("edge", 5, 6), ("edge", 9, 11), ("cloud", 20, 21), ("cloud", 24, 27.5)]]
    write_host(tmp_path / "host-cpu.csv", lambda t: 99 if 11 < t <= 20 else 40, 30)   # the cloud's devices' start
    record = {"experiment": "compare", "status": "complete", "spec": SPEC, "host_monitor_start_s": 100.0}
    validity = evaluate(tmp_path, record, rows)
    assert validity.window["intervals_s"] == [[5.0, 11.0], [20.0, 27.5]] and validity.window["seconds"] == 13.5
    assert validity.constraints[1].outcome == MET and "access x placement" in validity.window["source"]


def test_without_a_window_the_whole_run_is_judged_and_says_why(tmp_path):
    write_host(tmp_path / "host-cpu.csv", lambda t: 99, 8)
    validity = evaluate(tmp_path, {"experiment": "replay"}, [])
    assert validity.constraints[1].outcome == FAILED and "over the whole run" in validity.constraints[1].detail
    assert validity.window["judged"] == "whole run" and "host_monitor_start_s" in validity.window["why"]
    assert validity_lines(validity)[-1].startswith("Host CPU judged over the whole run")


def test_samples_are_cut_at_the_window_s_edges():
    from harness.analysis.measured_window import Window, covered_s, split_samples
    inside, outside = split_samples([(1.0, 100), (2.0, 50), (3.0, 100)], Window(((0.5, 2.25),), "test"))
    assert inside == [[(0.5, 100), (1.0, 50), (0.25, 100)]] and outside == [[(0.5, 100)], [(0.75, 100)]]
    assert covered_s(inside) + covered_s(outside) == 3.0
