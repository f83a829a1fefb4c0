"""The one node launcher (nodes.launch.NodeProcess) as the harness uses it, and the one flushed-CSV writer."""
from __future__ import annotations

import csv

import pytest

from harness.errors import HarnessError
from harness.orchestration.fault_actions import RunningNodes
from harness.orchestration.node_processes import start_node
from nodes.csv_rows import CsvRows
from nodes.launch import NodeProcess, stop_nodes
from nodes.synthetic_models import write_model_set

pytestmark = pytest.mark.timeout(300)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_csv_rows_are_readable_as_they_come_and_a_reopened_file_starts_afresh(tmp_path):
    path = tmp_path / "deep" / "requests.csv"
    with CsvRows(path, ["a", "b"]) as rows:
        assert path.read_text().strip() == "a,b"               # the header is on disk before any row
        rows.write({"a": 1, "b": 2, "ignored": 3})
        assert _rows(path) == [{"a": "1", "b": "2"}]            # flushed, not at close
    with CsvRows(path, ["a", "b"]) as rows:                     # a re-analysis writes the same table again
        rows.write({"a": 1})
    assert _rows(path) == [{"a": "1", "b": ""}]                 # not appended to the first one


def test_a_node_that_does_not_start_is_one_line_naming_it(tmp_path):
    node = NodeProcess("cloud", ["--models", str(tmp_path / "absent")], log_dir=tmp_path / "cloud")
    with pytest.raises(HarnessError, match=r"the cloud server did not become ready: .*manifest\.json") as err:
        start_node(node, "the cloud server")
    assert "\n" not in str(err.value) and str(node.out_file) in str(err.value)
    assert not node.running()


def test_a_node_that_never_gets_ready_says_so_not_its_last_line(tmp_path):
    """A node still running at the ready timeout is stopped by then; the line says it timed out, not its last
    output line (which read like a reason: 'did not become ready: ready')."""
    fake = tmp_path / "fake-python"
    fake.write_text("#!/bin/sh\necho ready\nexec sleep 30\n")
    fake.chmod(0o755)
    node = NodeProcess("cloud", [], log_dir=tmp_path / "cloud", ready_timeout_s=1.0, python=str(fake))
    with pytest.raises(HarnessError, match=r"the cloud server did not become ready: no ready file in 1 s \(see "):
        start_node(node, "the cloud server")
    assert not node.running()


def test_a_killed_node_restarts_in_place_with_its_arguments(tmp_path):
    models = tmp_path / "models"
    write_model_set(models)
    cloud = NodeProcess("cloud", ["--models", str(models), "--threads", "1"], log_dir=tmp_path / "cloud",
                        stop_timeout_s=5)
    nodes = RunningNodes(start_node)
    nodes.add("cloud", start_node(cloud, "the cloud server"))
    first_pid = cloud.pid
    try:
        nodes.kill("cloud")
        assert not cloud.running() and cloud.process.returncode < 0   # SIGKILL, as a crash
        nodes.restart("cloud")
        assert cloud.running() and cloud.pid != first_pid and cloud.starts == 2
        assert cloud.argv.count("--models") == 1                       # the same command line, not doubled
        assert cloud.out_file.read_text().count("ready") >= 2         # both lives' output kept in one file
    finally:
        stop_nodes([cloud], 5.0)
    assert not cloud.running() and cloud.process.returncode == 0       # SIGTERM: a clean shutdown
