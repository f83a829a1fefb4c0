import threading

import numpy as np
import pytest

from models.cnn import EdgeCNN
from models.errors import DeviceError, ModelError
from models.export import to_onnx_bytes
from models.runtime import CPU, TensorInfo, cuda_works, open_session


@pytest.fixture(scope="module")
def model_bytes():
    return to_onnx_bytes(EdgeCNN(3, seed=0).eval(), (3, 32, 32), softmax=True)


def test_session_from_bytes_and_path(model_bytes, tmp_path):
    path = tmp_path / "m.onnx"
    path.write_bytes(model_bytes)
    for source in (model_bytes, path, str(path)):
        session = open_session(source, device="cpu", threads=1)
        assert session.provider == CPU and session.threads == 1
        assert session.inputs == [TensorInfo("image", (None, 3, 32, 32), "FP32")]
        assert session.outputs == [TensorInfo("probabilities", (None, 10), "FP32")]
        out = session.run({"image": np.zeros((2, 3, 32, 32), np.float32)})
        assert out[0].shape == (2, 10)
        np.testing.assert_allclose(out[0].sum(1), 1.0, atol=1e-5)


@pytest.mark.parametrize("bad", [b"", b"\x00\x01garbage", b"x" * 100])
def test_invalid_bytes_raise_model_error(bad):
    with pytest.raises(ModelError, match="ONNX"):
        open_session(bad)


def test_truncated_model_and_missing_file(model_bytes, tmp_path):
    with pytest.raises(ModelError) as info:
        open_session(model_bytes[: len(model_bytes) // 2])
    assert "\n" not in str(info.value)
    with pytest.raises(ModelError, match="cannot read"):
        open_session(tmp_path / "missing.onnx")


def test_device_choice_is_checked(model_bytes, capfd):
    with pytest.raises(DeviceError, match="device must be one of"):
        open_session(model_bytes, device="tpu")
    auto = open_session(model_bytes, device="auto")
    if cuda_works():
        assert open_session(model_bytes, device="cuda").provider == "CUDAExecutionProvider"
    else:
        assert auto.provider == CPU
        with pytest.raises(DeviceError, match="cuda"):
            open_session(model_bytes, device="cuda")
        captured = capfd.readouterr()
        assert "CUDAExecutionProvider" not in captured.err and "onnxruntime" not in captured.err


def test_bad_feeds_and_threads(model_bytes):
    session = open_session(model_bytes, device="cpu")
    with pytest.raises(ModelError, match="do not match"):
        session.run({"x": np.zeros((1, 3, 32, 32), np.float32)})
    with pytest.raises(ModelError, match="inference failed"):
        session.run({"image": np.zeros((1, 3, 30, 32), np.float32)})
    with pytest.raises(ModelError, match="threads"):
        open_session(model_bytes, threads=0)


def test_run_is_thread_safe(model_bytes):
    session = open_session(model_bytes, device="cpu", threads=1)
    inputs = [np.random.default_rng(i).uniform(-1, 1, (1, 3, 32, 32)).astype(np.float32) for i in range(4)]
    expected = [session.run({"image": x})[0] for x in inputs]
    errors = []

    def worker(index):
        for _ in range(5):
            if not np.array_equal(session.run({"image": inputs[index]})[0], expected[index]):
                errors.append(index)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors


def test_tensorrt_is_asked_for_first_only_where_it_really_works(monkeypatch):
    import models.runtime as runtime

    works = {runtime.CUDA: True, runtime.TENSORRT: False}
    monkeypatch.setattr(runtime, "provider_works", lambda provider: works[provider])
    assert runtime._providers("auto") == [runtime.CUDA, runtime.CPU]
    works[runtime.TENSORRT] = True
    assert runtime._providers("cuda") == [runtime.TENSORRT, runtime.CUDA, runtime.CPU]
    works[runtime.CUDA] = False
    assert runtime._providers("auto") == [runtime.CPU]
    assert runtime._providers("cpu") == [runtime.CPU]


def test_the_provider_probe_says_no_for_a_provider_this_build_lacks():
    from models.runtime import provider_works

    assert provider_works("NoSuchExecutionProvider") is False
