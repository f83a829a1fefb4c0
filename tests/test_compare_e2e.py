"""A short `compare` end to end, as a user runs it: two sizes, one repetition, both accesses, both placements."""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = [pytest.mark.root, pytest.mark.slow]
SMALL, LARGE = "60K", "1024K"


@pytest.fixture(scope="module")
def compare_run(tmp_path_factory, models_dir):
    results = tmp_path_factory.mktemp("results")
    result = run_cli("compare", "--sizes", f"{SMALL},{LARGE}", "--repetitions", "2", "--calibrate-seconds", "0",
                     "--models-dir", str(models_dir), "--results-dir", str(results), timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr
    (run_dir,) = list(results.iterdir())
    return run_dir


def rows(run_dir: Path) -> list[dict]:
    with open(run_dir / "requests.csv", newline="") as f:
        return list(csv.DictReader(f))


def median(run_dir, access, placement, size, field):
    size_bytes = {"60K": 61440, "1024K": 1048576}[size]
    values = [float(r[field]) for r in rows(run_dir) if r["access"] == access and r["placement"] == placement
              and int(r["size_bytes"]) == size_bytes and r["status"] == "ok"]
    assert values, (access, placement, size)
    return statistics.median(values)


def test_files_of_a_run(compare_run, clean_machine):
    for name in ("experiment.json", "requests.csv", "summary.csv", "flows.csv", "links.csv", "report.md"):
        assert (compare_run / name).is_file(), name
    record = json.loads((compare_run / "experiment.json").read_text())
    assert record["status"] == "complete"
    assert record["environment"]["link_backend"] in ("userspace", "kernel")
    assert len(rows(compare_run)) == 2 * 2 * 2 * 2
    assert all(r["status"] == "ok" for r in rows(compare_run)), [r["error"] for r in rows(compare_run)]
    assert list(compare_run.glob("*.png"))
    assert sorted(p.name for p in (compare_run / "pcaps").iterdir()) == sorted(
        f"{a}-{h}.pcap" for a in ("lte", "wifi") for h in ("ue1", "edge", "cloud"))


def test_upload_grows_with_size(compare_run):
    for access in ("lte", "wifi"):
        for placement in ("edge", "cloud"):
            assert median(compare_run, access, placement, LARGE, "upload_ms") > \
                median(compare_run, access, placement, SMALL, "upload_ms")


def test_lte_upload_slower_than_wifi_by_the_rate_ratio(compare_run):
    lte = median(compare_run, "lte", "edge", LARGE, "upload_ms")
    wifi = median(compare_run, "wifi", "edge", LARGE, "upload_ms")
    ratio = lte / wifi
    assert 3.0 < ratio < 12.0, ratio  # rates 72 / 8 = 9; RTTs and slow start pull it down


def test_edge_answers_faster_than_cloud_for_small_images(compare_run):
    for access in ("lte", "wifi"):
        assert median(compare_run, access, "edge", SMALL, "response_ms") < \
            median(compare_run, access, "cloud", SMALL, "response_ms")


def test_pcaps_hold_the_request_bytes(compare_run):
    with open(compare_run / "flows.csv", newline="") as f:
        flows = list(csv.DictReader(f))
    assert flows
    text = json.dumps(flows)
    assert "10.0.1.1" in text and "10.0.2.2" in text and "10.0.3.2" in text
    sent = sum(int(r["actual_bytes"]) for r in rows(compare_run))
    byte_cols = [k for k in flows[0] if "bytes" in k]
    captured = sum(int(float(f[k] or 0)) for f in flows for k in byte_cols)
    assert captured >= sent  # every request's bytes crossed a captured interface (headers add more)
