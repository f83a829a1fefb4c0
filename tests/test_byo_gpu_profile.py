"""The prepared GPU script's parts that need no GPU (benchmarks/device/gpu_profile.py): the profile it writes is
one nodes/latency_profile.py loads, parity is judged right, and without CUDA it is one line and exit 2."""
from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from models.runtime import cuda_works
from nodes.latency_profile import load_latency_profile

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "benchmarks" / "device" / "gpu_profile.py"


def load_script():
    spec = importlib.util.spec_from_file_location("gpu_profile", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_profile_it_writes_is_a_latency_profile(tmp_path):
    gpu = load_script()
    doc = gpu.profile_document({"mobilenetv2": {1: [1.25, 1.5, 1.0], 32: [9.0, 10.0]}, "resnet18": {1: [2.0]}},
                               "Test GPU", "measured in a test")
    path = tmp_path / "p.json"
    path.write_text(json.dumps(doc))
    profile = load_latency_profile(str(path))
    assert profile.models() == ["mobilenetv2", "resnet18"] and profile.hardware == "Test GPU"
    assert profile.samples_ms["mobilenetv2"][32] == (9.0, 10.0)


def test_parity_is_judged_on_the_largest_difference():
    gpu = load_script()
    a = [np.array([[0.1, 0.9]], np.float32)]
    assert gpu.parity(a, [a[0] + 5e-5])["allclose"]
    off = gpu.parity(a, [a[0] + np.array([[0.0, 0.01]], np.float32)])
    assert not off["allclose"] and off["max_abs_diff"] == pytest.approx(0.01, rel=1e-4)


def test_feeds_follow_the_session_inputs():
    gpu = load_script()

    class Arg:
        name, shape = "image", ["batch", 3, 4, 5]

    class Session:
        def get_inputs(self):
            return [Arg()]

    assert gpu._feeds(Session(), 32)["image"].shape == (32, 3, 4, 5)


@pytest.mark.skipif(cuda_works(), reason="this machine has a working CUDA provider")
def test_without_cuda_it_is_one_line_and_exit_2(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "o")], capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and done.stderr.startswith("gpu_profile: ")
    assert not (tmp_path / "o.json").exists()
