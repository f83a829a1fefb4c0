"""Subnormals flushed to zero in training's CPU threads (``models.numerics``), checked in fresh processes: the
pytest process may have started torch's threads before any flush."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT


def _python(code: str) -> dict:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_check_sees_subnormals_where_nothing_flushed_them():
    got = _python("import json, torch\nfrom models.numerics import denormals_flushed\n"
                  "print(json.dumps({'flushed': denormals_flushed()}))")
    assert got == {"flushed": False}


@pytest.mark.parametrize("threads_started_first", [False, True], ids=["fresh", "threads-started-first"])
def test_training_flushes_them_in_every_thread_and_the_report_says_so(threads_started_first):
    code = """import json, torch
torch.set_num_threads(2)
if {started}:
    (torch.ones(1 << 20) * 2.0).sum()   # the process's intra-op threads start without FTZ/DAZ
from models import training
x, y = torch.rand(64, 8), torch.arange(64) % 2
model = torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
report = training.train_classifier(model, x, y, training.TrainSettings(max_epochs=1), progress=False)
tiny = torch.full((8,), 1 << 20, dtype=torch.int32).view(torch.float32)
print(json.dumps({'report': report.denormals_flushed, 'threads': report.threads,
                  'caller_untouched': float((tiny * 1.0).abs().max()) > 0}))"""
    got = _python(code.replace("{started}", str(threads_started_first)))
    assert got == {"report": True, "threads": 2, "caller_untouched": True}


def test_ctrl_c_stops_a_training_at_its_next_batch():
    code = """import signal, sys, threading, time, torch
from models import training
signal.signal(signal.SIGINT, signal.default_int_handler)  # a background job (CI) starts with SIGINT ignored
x, y = torch.rand(4096, 64), torch.arange(4096) % 2
model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2))
threading.Timer(1.0, signal.raise_signal, (signal.SIGINT,)).start()
started = time.monotonic()
try:
    training.train_classifier(model, x, y, training.TrainSettings(max_epochs=10_000, early_stop_patience_epochs=0,
                              plateau_patience_epochs=10_000), progress=False)
except KeyboardInterrupt:
    alive = [t.name for t in threading.enumerate() if t.name == "flushed-training" and t.is_alive()]
    print(json.dumps({"interrupted": True, "seconds": round(time.monotonic() - started), "alive": alive}))
""".replace("import signal", "import json, signal")
    got = _python(code)
    assert got["interrupted"] and got["alive"] == [] and got["seconds"] < 30


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="one CPU: torch starts no second thread to leave unflushed")
def test_a_flush_after_torch_started_its_threads_is_reported_as_not_covering_them():
    code = """import json, torch
torch.set_num_threads(2)
(torch.ones(1 << 20) * 2.0).sum()   # starts the intra-op threads without FTZ/DAZ
from models.numerics import denormals_flushed, flush_denormals
flush_denormals()
print(json.dumps({'flushed': denormals_flushed()}))"""
    assert _python(code) == {"flushed": False}
