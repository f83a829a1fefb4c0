"""Run control without a network: the run's own folder and its report after a crash or a stop, server stamps
by node, user errors vs bugs, checks before anything is built, the models' origin, the import graph."""
from __future__ import annotations

import contextlib
import csv
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_ROOT
from harness.cli.user_errors import is_user_error
from harness.errors import HarnessError
from harness.orchestration import running


@pytest.fixture
def no_machine_lock(monkeypatch):
    """run_with_lock without the machine-wide run lock (other runs of the testbed may hold it)."""
    monkeypatch.setattr(running, "exclusive_run", contextlib.nullcontext)


def _fake_execute(record: dict, then=None):
    def execute(run_dir: Path) -> None:
        (run_dir / "experiment.json").write_text(json.dumps(record))
        if then:
            then(run_dir)
    return execute


def _analyse_into(seen: list):
    def analyse(run_dir: Path) -> None:
        seen.append(run_dir)
        status = json.loads((run_dir / "experiment.json").read_text())["status"]
        (run_dir / "report.md").write_text(f"status: {status}\n")
    return analyse


def test_a_crash_leaves_a_failed_status_and_a_report_of_its_own_folder(tmp_path, no_machine_lock):
    results = tmp_path / "results"
    newer = results / "29991231T235959Z-compare"  # an older run's folder that sorts last (the _latest_run bug)
    newer.mkdir(parents=True)

    def crash(_run_dir):
        raise ValueError("a bug in the middle of the run")

    seen: list[Path] = []
    with pytest.raises(ValueError, match="a bug"):
        running.run_with_lock("compare", results, _fake_execute({"status": "running"}, crash), _analyse_into(seen))
    (run_dir,) = seen
    assert run_dir != newer and run_dir.parent == results
    record = json.loads((run_dir / "experiment.json").read_text())
    assert record["status"] == "failed" and record["error"] == "a bug in the middle of the run"
    assert (run_dir / "report.md").read_text() == "status: failed\n"
    assert not (newer / "report.md").exists()


def test_a_crash_before_the_record_still_leaves_a_status(tmp_path, no_machine_lock):
    def crash(_run_dir):
        raise HarnessError("the cloud server did not become ready")

    seen: list[Path] = []
    with pytest.raises(HarnessError):
        running.run_with_lock("sweep", tmp_path, crash, _analyse_into(seen))
    record = json.loads((seen[0] / "experiment.json").read_text())
    assert record["status"] == "failed" and "did not become ready" in record["error"]


def test_ctrl_c_during_execute_is_interrupted_with_a_report(tmp_path, no_machine_lock, capsys):
    def ctrl_c(_run_dir):
        os.kill(os.getpid(), signal.SIGINT)  # as the terminal sends it
        raise AssertionError("SIGINT did not stop the run")

    seen: list[Path] = []
    before = signal.getsignal(signal.SIGINT)
    code = running.run_with_lock("compare", tmp_path, _fake_execute({"status": "running"}, ctrl_c),
                                 _analyse_into(seen))
    assert code == 130
    record = json.loads((seen[0] / "experiment.json").read_text())
    assert record["status"] == "interrupted" and record["stopped_by"] == "SIGINT"
    assert (seen[0] / "report.md").read_text() == "status: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is before  # restored


def test_a_stop_wins_over_the_error_it_caused(tmp_path, no_machine_lock):
    """SIGTERM arrives; the workload dies of it and the run raises that failure: still "interrupted"."""
    def terminated_then_failed(_run_dir):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            raise HarnessError("device workload (lte, edge) failed: -15")

    seen: list[Path] = []
    code = running.run_with_lock("compare", tmp_path, _fake_execute({"status": "running"}, terminated_then_failed),
                                 _analyse_into(seen))
    assert code == 143
    assert json.loads((seen[0] / "experiment.json").read_text())["status"] == "interrupted"


def test_a_second_ctrl_c_does_not_cut_the_stop_short(tmp_path, no_machine_lock):
    stopped_cleanly = []

    def ctrl_c_twice(_run_dir):
        try:
            os.kill(os.getpid(), signal.SIGINT)
        finally:
            os.kill(os.getpid(), signal.SIGINT)  # while stopping: ignored
            stopped_cleanly.append(True)

    assert running.run_with_lock("compare", tmp_path, _fake_execute({"status": "running"}, ctrl_c_twice),
                                 _analyse_into([])) == 130
    assert stopped_cleanly == [True]


def test_incomplete_status_is_exit_1_with_the_hint(tmp_path, no_machine_lock, capsys):
    code = running.run_with_lock("collaborate", tmp_path, _fake_execute({"status": "timeout"}), _analyse_into([]),
                                 incomplete_hint="a longer --timeout-s may help")
    assert code == 1 and "status 'timeout'" in capsys.readouterr().err


def test_a_report_that_fails_does_not_hide_the_run(tmp_path, no_machine_lock, capsys):
    def analyse(_run_dir):
        raise ValueError("nothing to analyse")

    assert running.run_with_lock("compare", tmp_path, _fake_execute({"status": "complete"}), analyse) == 1
    captured = capsys.readouterr()
    assert "report: not written (ValueError: nothing to analyse)" in captured.err
    assert "its analysis failed (ValueError: nothing to analyse); 'python harness/run.py report" in captured.err
    assert "report:  " not in captured.out  # no path to a report that is not there


def test_unwritable_results_dir_is_one_line(tmp_path, no_machine_lock):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(HarnessError, match="give a writable --results-dir"):
        running.run_with_lock("compare", blocker / "results", lambda d: None, lambda d: None)


# -- server stamps: the answering node's record, by node --------------------------------------------------

def _write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _device_csv(path: Path, rows: list[dict]) -> None:
    fields = sorted({k for r in rows for k in r})
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def test_server_stamps_come_from_the_node_that_answered(tmp_path):
    from harness.experiments.compare.request_rows import collect_requests
    from harness.experiments.compare.run_record import Run
    from harness.orchestration.results import REQUEST_FIELDS
    from nodes.csv_rows import CsvRows
    from harness.experiments.compare.spec import ExperimentSpec

    log_dir = tmp_path / "logs" / "lte"
    placements = ["edge", "cloud", "features", "split"]
    # edge and split/features ids reach both nodes (the edge forwards the same id); the cloud sorts first
    _write_jsonl(log_dir / "cloud" / "timings.jsonl", [
        {"node": "cloud", "request_id": f"{p}-61440-0", "status": 200, "reply_sent_ns": 1_500} for p in placements])
    _write_jsonl(log_dir / "edge" / "timings.jsonl", [
        {"node": "edge", "request_id": f"{p}-61440-0", "status": 200, "reply_sent_ns": 2_000}
        for p in ("edge", "features", "split")]
        + [{"node": "edge", "request_id": "edge-61440-1", "status": 503, "reply_sent_ns": 900},  # failed try
           {"node": "edge", "request_id": "edge-61440-1", "status": 200, "reply_sent_ns": 2_500},
           "not a record"])
    for placement in placements:
        rows = [{"request_id": f"{placement}-61440-0", "status": "200", "send_start_ns": "100",
                 "reply_complete_ns": "3000", "upload_complete_ns": "400", "cloud_request_start_ns": "600",
                 "cloud_reply_complete_ns": "1600", "size_bytes": "61440"}]
        if placement == "edge":
            rows.append({**rows[0], "request_id": "edge-61440-1"})
        _device_csv(log_dir / f"device-{placement}.csv", rows)
    run = Run(ExperimentSpec(placements=tuple(placements)), tmp_path,
              record={"environment": {"onnxruntime_providers": {}}})
    with CsvRows(tmp_path / "requests.csv", REQUEST_FIELDS) as requests:
        assert collect_requests(run, "lte", placements, requests) == 5
    with open(tmp_path / "requests.csv", newline="") as f:
        sent = {r["request_id"]: r["server_reply_sent_ns"] for r in csv.DictReader(f)}
    assert sent == {"lte-edge-61440-0": "2000", "lte-edge-61440-1": "2500", "lte-cloud-61440-0": "1500",
                    "lte-features-61440-0": "2000", "lte-split-61440-0": "2000"}


def test_after_a_stop_error_rows_it_caused_and_cut_rows_are_left_out(tmp_path):
    from harness.experiments.compare.request_rows import collect_requests
    from harness.experiments.compare.run_record import Run
    from harness.orchestration.results import REQUEST_FIELDS
    from nodes.csv_rows import CsvRows
    from harness.experiments.compare.spec import ExperimentSpec

    log_dir = tmp_path / "logs" / "lte"
    log_dir.mkdir(parents=True)
    _device_csv(log_dir / "device-edge.csv", [
        {"request_id": "edge-61440-0", "status": "200", "send_start_ns": "100", "reply_complete_ns": "900"},
        {"request_id": "edge-61440-1", "status": "0", "send_start_ns": "950", "error": "timeout"},   # before
        {"request_id": "edge-61440-2", "status": "0", "send_start_ns": "1100", "error": "refused"},  # after
        {"request_id": "edge-61440-3", "status": "", "send_start_ns": "", "error": ""},              # cut short
    ])
    run = Run(ExperimentSpec(placements=("edge",)), tmp_path, record={"environment": {"onnxruntime_providers": {}}})
    with CsvRows(tmp_path / "requests.csv", REQUEST_FIELDS) as requests:
        assert collect_requests(run, "lte", ["edge"], requests, stopped_ns=1000) == 2
    assert run.record["rows_left_out"] == {"lte": 2}


# -- user errors vs bugs ---------------------------------------------------------------------------------

def _command_raising(monkeypatch, exc: Exception):
    import harness.cli.commands.clean as clean

    def run(_args):
        raise exc
    monkeypatch.setattr(clean, "run", run)


def test_an_unexpected_value_error_is_an_internal_error_with_its_traceback(monkeypatch, capsys):
    from harness.cli.main import INTERNAL_ERROR_EXIT, main

    _command_raising(monkeypatch, ValueError("invalid literal for int() with base 10: 'x'"))
    assert main(["clean"]) == INTERNAL_ERROR_EXIT
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and not err.startswith("error:")
    assert err.strip().splitlines()[-1].startswith("internal error: ValueError: invalid literal")


@pytest.mark.parametrize("exc", [OSError(13, "Permission denied"), KeyError("size_bytes")])
def test_bare_builtin_errors_are_not_user_errors(exc):
    assert not is_user_error(exc)


def test_project_errors_are_one_line(monkeypatch, capsys):
    from harness.cli.main import main
    from harness.analysis.report import ReportError
    from models.errors import SettingsError
    from nodes.errors import NodeConfigError
    from traces.trace_types import TraceFormatError

    monkeypatch.delenv("ECT_DEBUG", raising=False)
    for exc in (HarnessError("h"), ReportError("r"), TraceFormatError("t"), SettingsError("s"),
                NodeConfigError("n")):
        _command_raising(monkeypatch, exc)
        assert main(["clean"]) == 1
        assert capsys.readouterr().err == f"error: {exc}\n"


def test_tcpdump_that_does_not_start_is_one_line():
    from harness.orchestration.capture import Capture, _wait_listening

    proc = subprocess.Popen(["sh", "-c", "echo 'tcpdump: ue1-eth0: No such device exists' >&2; exit 1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    with pytest.raises(HarnessError, match="tcpdump on ue1:ue1-eth0 did not start: tcpdump: ue1-eth0: No such"):
        _wait_listening(Capture("ue1", "ue1-eth0", Path("x.pcap"), proc), timeout_s=5)
    proc.wait()


@pytest.mark.parametrize("text", ["{not json", '{"models": 3}', b"\xff\xfe"])
def test_a_manifest_that_is_not_one_is_one_line_naming_the_file(tmp_path, text):
    from harness.orchestration.model_set import models_for

    manifest = tmp_path / "manifest.json"
    manifest.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(HarnessError) as err:
        models_for(str(tmp_path))
    message = str(err.value)
    assert str(manifest) in message and "--models-dir" in message and "\n" not in message


# -- checks before anything is built ---------------------------------------------------------------------

def test_a_trace_that_does_not_parse_is_refused_before_any_network(tmp_path):
    from harness.orchestration.preflight import check_traces
    from topo.profiles import load_profile, trace_profile
    from traces.trace_types import TraceFormatError

    good = REPO_ROOT / "traces" / "lte-8mbps.up"
    with pytest.raises(TraceFormatError, match="/etc/passwd line 1"):
        check_traces([trace_profile(str(good), "/etc/passwd", load_profile("lte"))])
    check_traces([trace_profile(str(good), str(REPO_ROOT / "traces" / "lte-10.88mbps.down"), load_profile("lte"))])


def test_an_unreadable_trace_is_one_line(tmp_path, monkeypatch):
    import traces.readers
    from harness.orchestration.preflight import check_traces
    from topo.profiles import load_profile, trace_profile

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))
    monkeypatch.setattr(traces.readers, "read_delivery_trace", unreadable)  # root reads every file
    trace = tmp_path / "secret.up"
    trace.write_text("1\n")
    with pytest.raises(HarnessError, match="cannot read the uplink trace of profile 'trace' \\(Permission denied"):
        check_traces([trace_profile(str(trace), str(trace), load_profile("lte"))])


# -- where the models came from ---------------------------------------------------------------------------

def test_models_origin_says_epochs_and_subset(models_dir):
    from harness.orchestration.model_set import models_origin

    origin = models_origin(models_dir)  # the tests' 1-epoch, 300-image set: it must not pass for a real one
    assert origin["dataset"] == "digits" and origin["epochs"] == 1 and origin["train_images"] == 300
    assert origin["training_set"] == "subset" and origin["test_models"] is True
    json.dumps(origin)  # experiment.json takes it as it is


# -- the import graph ---------------------------------------------------------------------------------------

def test_faults_and_spec_do_not_import_each_other():
    code = ("import sys; import harness.orchestration.faults; assert 'harness.experiments.compare.spec' not in sys.modules, 'faults imports spec'; "
            "import harness.experiments.compare.spec")
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("record", ['{"experiment": "features"}', "[1]", '{"experiment": "features", '
                                    '"models_dir": "m", "spec": {"imagez": 3}}'])
def test_report_of_a_malformed_features_folder_is_one_line(tmp_path, record):
    from harness.experiments.features.run import analyse_features

    (tmp_path / "experiment.json").write_text(record)
    with pytest.raises(HarnessError, match="experiment.json: not a features run's record"):
        analyse_features(tmp_path)
