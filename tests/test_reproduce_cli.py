"""`reproduce` as a user runs it: help, bad input, parts run / cached / resumed / failed / missing, Ctrl-C.

The parts are fakes put in place of the real modules (sys.modules), so these tests take seconds whatever the
real parts cost; the real parts have their own tests (tests/test_reproduce_<part>.py).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types

import pytest

from conftest import REPO_ROOT, run_cli
from harness.errors import HarnessError
from harness.experiments.reproduce import parts
from harness.experiments.reproduce.catalogue import figures_of
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.run import LOCK_FILE, folder_lock, run_reproduce
from harness.experiments.reproduce.spec import ReproduceSpec

PACKAGE = "harness.experiments.reproduce"


class FakePart:
    """A part that returns its catalogue figures at the published value (or one that fails / stops)."""

    def __init__(self, name, raises=None, needs_root=None, png=False):
        self.name, self.raises, self.calls, self.png = name, raises, [], png
        self.module = types.ModuleType(f"{PACKAGE}.{name}")
        self.module.run_part = self.run_part
        if needs_root is not None:
            self.module.NEEDS_ROOT = needs_root

    def run_part(self, work_dir, quick, progress):
        self.calls.append(quick)
        progress(f"fake {self.name} working")
        if self.png:
            (work_dir / "figure.png").write_bytes(b"\x89PNG")
        if self.raises is not None:
            raise self.raises
        return [Measured(f.key, _published(f), 0.5, 5, f.unit, "measured", f"fake {self.name}")
                for f in figures_of(self.name)]


def _published(fig) -> float:
    if fig.published_range is not None:
        return sum(fig.published_range) / 2
    return fig.published if fig.published is not None else 1.0


@pytest.fixture
def fakes(monkeypatch):
    versions = {p.name: "v1" for p in parts.PARTS}
    monkeypatch.setattr(parts, "part_version", lambda part, directory=None: versions[part.name])
    made = {p.name: FakePart(p.name, needs_root=False) for p in parts.PARTS}
    for name, fake in made.items():
        monkeypatch.setitem(sys.modules, f"{PACKAGE}.{name}", fake.module)
    made["versions"] = versions
    return made


def _reproduce(tmp_path, systems="all", quick=True, force=False, said=None):
    spec = ReproduceSpec(systems=systems, quick=quick, force=force, results_dir=str(tmp_path))
    return run_reproduce(spec, progress=(said if said is not None else []).append)


def _record(tmp_path, mode="quick"):
    return json.loads((tmp_path / f"reproduce-{mode}" / "reproduce.json").read_text())


def _rows(tmp_path, mode="quick"):
    import csv
    with open(tmp_path / f"reproduce-{mode}" / "scorecard.csv", newline="") as f:
        return {r["key"]: r for r in csv.DictReader(f)}


def test_help_shows_the_systems_and_examples():
    result = run_cli("reproduce", "--help")
    assert result.returncode == 0 and "system-a,system-b,all" in result.stdout and "--quick" in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].startswith("  sudo python harness/run.py reproduce")


def test_an_unknown_system_is_a_usage_error():
    result = run_cli("reproduce", "system-c")
    assert result.returncode == 2 and "invalid choice: 'system-c'" in result.stderr and "Traceback" not in result.stderr


def test_an_unusable_results_dir_is_one_line(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli("reproduce", "--quick", "--results-dir", str(blocker))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: cannot create"), result.stderr
    assert "--results-dir" in lines[0]


def test_a_folder_in_use_is_one_line(tmp_path):
    run_dir = tmp_path / "reproduce-quick"
    run_dir.mkdir()
    with folder_lock(run_dir):
        result = run_cli("reproduce", "--quick", "--results-dir", str(tmp_path))
        with pytest.raises(HarnessError, match="another reproduce"):
            _reproduce(tmp_path)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "another reproduce" in lines[0], result.stderr
    assert (run_dir / LOCK_FILE).exists() and not (run_dir / "scorecard.md").exists()


def test_parts_run_once_then_come_from_the_cache(fakes, tmp_path):
    assert _reproduce(tmp_path) == 0
    assert all(fakes[p.name].calls == [True] for p in parts.PARTS)
    rows = _rows(tmp_path)
    assert len(rows) == 32 and all(r["verdict"] == "reproduced" for r in rows.values()), \
        [(k, r["verdict"]) for k, r in rows.items() if r["verdict"] != "reproduced"]
    cached = json.loads((tmp_path / "reproduce-quick" / "system_a" / "measured.json").read_text())
    assert cached["version"] == "v1" and cached["settings"]["quick"] is True and len(cached["measured"]) == 8
    said = []
    assert _reproduce(tmp_path, said=said) == 0
    assert all(fakes[p.name].calls == [True] for p in parts.PARTS)  # nothing rerun
    assert {p["status"] for p in _record(tmp_path)["parts"].values()} == {"cached"}
    assert sum("cached from" in line for line in said) == 3
    fakes["versions"]["system_a"] = "v2"  # the part's code changed: only it runs again
    assert _reproduce(tmp_path) == 0
    assert fakes["system_a"].calls == [True, True] and fakes["system_b_models"].calls == [True]
    assert _reproduce(tmp_path, force=True) == 0
    assert all(len(fakes[p.name].calls) >= 2 for p in parts.PARTS)
    assert _reproduce(tmp_path, quick=False) == 0  # full runs have their own folder and cache
    assert fakes["system_b_models"].calls[-1] is False and (tmp_path / "reproduce-full" / "scorecard.md").is_file()


def test_the_data_folders_are_part_of_the_settings(fakes, tmp_path, monkeypatch):
    assert _reproduce(tmp_path, systems="system-b") == 0
    monkeypatch.setenv("ECT_MNIST_DIR", str(tmp_path))
    assert _reproduce(tmp_path, systems="system-b") == 0
    assert fakes["system_b_models"].calls == [True, True]


def test_one_system_keeps_the_others_cached_figures(fakes, tmp_path):
    assert _reproduce(tmp_path, systems="system-b") == 0
    rows = _rows(tmp_path)
    assert rows["a.latency_change"]["verdict"] == "not run" and "not selected" in rows["a.latency_change"]["detail"]
    assert _reproduce(tmp_path, systems="system-a") == 0
    rows = _rows(tmp_path)
    assert rows["a.latency_change"]["verdict"] == "reproduced" and rows["b.wifi.response"]["verdict"] == "reproduced"
    assert fakes["system_b_models"].calls == [True] and fakes["system_a"].calls == [True]
    index = (tmp_path / "reproduce-quick" / "README.md").read_text()
    assert "scorecard.md" in index and "32 figures: 32 reproduced" in index


def test_a_failing_part_is_recorded_and_the_others_run(fakes, tmp_path):
    fakes["system_b_network"].raises = HarnessError("the WAN profile is broken: fix scenarios/system-b.toml")
    said = []
    assert _reproduce(tmp_path, said=said) == 1
    assert fakes["system_a"].calls == [True]
    assert any(line.startswith("error: part system_b_network: the WAN profile is broken") for line in said)
    row = _rows(tmp_path)["b.lte.upload.512k"]
    assert row["verdict"] == "not run" and "the WAN profile is broken" in row["detail"]
    assert not (tmp_path / "reproduce-quick" / "system_b_network" / "measured.json").exists()  # not cached
    fakes["system_b_network"].raises = None
    assert _reproduce(tmp_path) == 0 and len(fakes["system_b_network"].calls) == 2 and len(fakes["system_a"].calls) == 1


def test_a_bug_in_a_part_is_raised_after_the_scorecard(fakes, tmp_path):
    fakes["system_b_models"].raises = ZeroDivisionError("oops")
    with pytest.raises(ZeroDivisionError):
        _reproduce(tmp_path)
    assert fakes["system_a"].calls == [True]
    assert _record(tmp_path)["parts"]["system_b_models"]["status"] == "failed"
    assert _rows(tmp_path)["b.cloudcnn.fashion.acc"]["verdict"] == "not run"


def test_a_part_that_returns_no_list_of_measured_is_a_bug(fakes, tmp_path):
    fakes["system_a"].module.run_part = lambda work_dir, quick, progress: {"a.latency_change": -69}
    with pytest.raises(TypeError, match="list of Measured"):
        _reproduce(tmp_path, systems="system-a")


def test_a_part_not_in_the_checkout_gives_not_run_rows(fakes, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, f"{PACKAGE}.system_a", None)  # import fails as for a missing module
    assert _reproduce(tmp_path) == 0
    row = _rows(tmp_path)["a.traffic_cut.pca"]
    assert row["verdict"] == "not run" and "system_a.py is not in this checkout" in row["detail"]
    assert _record(tmp_path)["parts"]["system_a"]["status"] == "missing"


def test_without_root_network_parts_are_skipped_with_one_note(fakes, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    del fakes["system_a"].module.NEEDS_ROOT     # the default: System A builds networks
    del fakes["system_b_network"].module.NEEDS_ROOT
    said = []
    assert _reproduce(tmp_path, said=said) == 0
    notes = [line for line in said if line.startswith("note: not root")]
    assert len(notes) == 1 and "system_b_network, system_a" in notes[0] and "sudo" in notes[0]
    assert fakes["system_b_models"].calls == [True] and fakes["system_a"].calls == []
    assert "sudo python harness/run.py reproduce system-a" in _rows(tmp_path)["a.latency_change"]["detail"]


def test_an_interrupted_part_resumes_and_finished_ones_are_kept(fakes, tmp_path):
    fakes["system_b_network"].raises = KeyboardInterrupt()
    said = []
    assert _reproduce(tmp_path, said=said) == 130
    record = _record(tmp_path)["parts"]
    assert [record[p]["status"] for p in ("system_b_models", "system_b_network", "system_a")] == \
        ["ran", "interrupted", "not started"]
    assert _rows(tmp_path)["b.cloudcnn.fashion.acc"]["verdict"] == "reproduced"
    assert any("run the same command again to resume" in line for line in said)
    fakes["system_b_network"].raises = None
    assert _reproduce(tmp_path) == 0
    assert [len(fakes[p].calls) for p in ("system_b_models", "system_b_network", "system_a")] == [1, 2, 1]


def test_the_index_lists_the_parts_figures(fakes, tmp_path):
    fakes["system_b_models"].png = True
    assert _reproduce(tmp_path, systems="system-b") == 0
    index = (tmp_path / "reproduce-quick" / "README.md").read_text()
    assert "![figure](system_b_models/figure.png)" in index
    assert "- system_b_models/accuracy_vs_labelled.png: not written (part system_b_models: ran now)" in index
    assert "- system_a/accuracy_vs_dim.png: not written (part system_a: not selected)" in index
    (tmp_path / "reproduce-quick" / "system_b_models" / "accuracy_vs_labelled.png").write_bytes(b"\x89PNG")
    assert _reproduce(tmp_path, systems="system-b") == 0
    index = (tmp_path / "reproduce-quick" / "README.md").read_text()
    assert "- [system_b_models/accuracy_vs_labelled.png](system_b_models/accuracy_vs_labelled.png)" in index


def test_the_code_version_covers_the_part_its_helpers_and_its_inputs(tmp_path):
    inputs = tmp_path / "scenario"
    inputs.mkdir()
    (inputs / "wan.toml").write_text("rate = 1")
    part = parts.Part("fake_part", "system-a", False, "a fake", (str(inputs),))
    assert parts.part_version(part, tmp_path) == "absent"
    (tmp_path / "fake_part.py").write_text("x = 1")
    first = parts.part_version(part, tmp_path)
    (tmp_path / "fake_part_helper.py").write_text("y = 1")
    second = parts.part_version(part, tmp_path)
    (inputs / "wan.toml").write_text("rate = 2")
    third = parts.part_version(part, tmp_path)
    (tmp_path / "fake_partner.py").write_text("not its helper")
    assert len({first, second, third}) == 3 and parts.part_version(part, tmp_path) == third


DRIVER = """
import sys, time, types
sys.path.insert(0, {repo!r})
from harness.experiments.reproduce import parts
from harness.experiments.reproduce.catalogue import figures_of
from harness.experiments.reproduce.measured import Measured
parts.part_version = lambda part, directory=None: "v1"
def fast(name):
    def run_part(work_dir, quick, progress):
        with open({calls!r}, "a") as f:
            f.write(name + "\\n")
        return [Measured(f.key, 1.0, None, 1, f.unit, "measured", "fake") for f in figures_of(name)]
    return run_part
def slow(work_dir, quick, progress):
    progress("slow part started")
    (work_dir / "started").write_text("1")
    time.sleep(120)
for name in ("system_b_models", "system_b_network", "system_a"):
    module = types.ModuleType("harness.experiments.reproduce." + name)
    module.run_part = slow if name == "system_b_network" and {slow!r} else fast(name)
    module.NEEDS_ROOT = False
    sys.modules[module.__name__] = module
from harness.cli.main import main
sys.exit(main(["reproduce", "--quick", "--results-dir", {results!r}]))
"""


def _driver(tmp_path, slow: bool) -> subprocess.Popen:
    script = tmp_path / f"driver-{slow}.py"
    script.write_text(textwrap.dedent(DRIVER).format(repo=str(REPO_ROOT), calls=str(tmp_path / "calls.txt"),
                                                     slow=slow, results=str(tmp_path / "results")))
    return subprocess.Popen([sys.executable, str(script)], cwd=REPO_ROOT, start_new_session=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_ctrl_c_to_the_process_group_stops_at_once_and_a_rerun_resumes(tmp_path):
    proc = _driver(tmp_path, slow=True)
    started = tmp_path / "results" / "reproduce-quick" / "system_b_network" / "started"
    try:
        deadline = time.monotonic() + 60
        while not started.exists():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1][-2000:]
            time.sleep(0.05)
        signalled = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # as a terminal's Ctrl-C: the whole foreground group
        _, err = proc.communicate(timeout=30)
        took_s = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130, err[-2000:]
    assert took_s < 5, f"took {took_s:.1f} s to stop"
    assert "resume" in err and "Traceback" not in err
    run_dir = tmp_path / "results" / "reproduce-quick"
    record = json.loads((run_dir / "reproduce.json").read_text())["parts"]
    assert record["system_b_network"]["status"] == "interrupted" and record["system_a"]["status"] == "not started"
    assert (run_dir / "system_b_models" / "measured.json").is_file() and (run_dir / "scorecard.md").is_file()
    proc = _driver(tmp_path, slow=False)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    assert (tmp_path / "calls.txt").read_text().split() == ["system_b_models", "system_b_network", "system_a"]
    assert "32 figures: " in out and ", 0 not run" in out
