"""A two-server `compare` where server 2 has its own disk: the test server's sshd sees an empty tmpfs over the
results folder, so the cloud's ready file, logs and capture are written there, not here. The harness still finds
the cloud ready (its ready file comes over ssh) and the cloud's files land in the one results folder when the
network stops (issue 18)."""
from __future__ import annotations

import json

import pytest

from conftest import leaked_since
from test_cluster_compare import _compare, _rows

pytestmark = [pytest.mark.root, pytest.mark.slow]


@pytest.fixture(scope="module")
def run(models_dir, tmp_path_factory, leak_baseline):
    from topo.cluster.test_server import TestServerSpec, running_test_server

    results = tmp_path_factory.mktemp("own-disk")
    with running_test_server(TestServerSpec(private_folders=(str(results),))) as server:
        run_dir, _ = _compare(models_dir, results, "--servers", f"localhost,{server.address}",
                              "--place", "cloud=server2")
        seen_there = server.run(f"ls -A {results}").stdout.split()
    return run_dir, seen_there, leak_baseline


def test_the_server_did_not_see_this_machines_results_folder(run):
    run_dir, seen_there, _ = run
    record = json.loads((run_dir / "logs" / "lte" / "cluster.json").read_text())
    assert record["hosts"]["cloud"] == "10.254.2.2"
    assert record["shared_results_folder"] == {"10.254.2.2": False}
    assert seen_there == [run_dir.name]  # its own copy of the run's folder, on its own disk


def test_the_remote_clouds_files_came_back(run):
    run_dir, _, _ = run
    cloud = run_dir / "logs" / "lte" / "cloud"
    assert (cloud / "cloud.out").read_text().strip()  # its output, over ssh as it ran
    written_there = sorted(p.name for p in cloud.iterdir() if p.name != "cloud.out")
    assert written_there, "the files the cloud wrote on server 2 are here"
    assert (run_dir / "pcaps" / "lte-cloud.pcap").stat().st_size > 24  # its capture, with packets
    assert json.loads((run_dir / "experiment.json").read_text())["status"] == "complete"


def test_every_request_succeeds(run):
    run_dir, _, _ = run
    rows = _rows(run_dir)
    assert {r["placement"] for r in rows} == {"edge", "cloud"}
    assert all(r["status"] == "ok" for r in rows), [r["error"] for r in rows if r["status"] != "ok"]


def test_nothing_is_left_behind(run):
    *_, baseline = run
    assert not leaked_since(baseline)
