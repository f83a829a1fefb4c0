import numpy as np
import pytest
import torch

from models.cnn import CloudCNN, EdgeCNN, parameter_count
from models.collaboration import shared_block_bytes
from models.datasets import embedded_digits
from models.encoders import ConvAutoencoder, FeatureClassifier, fit_pca
from models.errors import ModelError
from models.export import to_onnx_bytes
from models.onnx_import import sequential_from_onnx, shared_block_from_onnx
from models.preprocess import normalise
from models.runtime import open_session

TOLERANCE = 1e-4


@pytest.fixture(scope="module")
def cloud():
    return CloudCNN(seed=3).eval()


@pytest.fixture(scope="module")
def inputs():
    real = normalise(embedded_digits().test.images[:6])
    rand = np.random.default_rng(0).uniform(-1, 1, (5, 3, 32, 32)).astype(np.float32)
    return {"real": real, "random": rand}


def _parity(module, data, x, input_name="image", softmax=False):
    session = open_session(data, device="cpu", threads=1)
    got = session.run({input_name: x})[0]
    with torch.no_grad():
        want = module.eval()(torch.from_numpy(x))
        if softmax:
            want = torch.softmax(want, 1)
    assert got.shape == tuple(want.shape)
    assert float(np.abs(got - want.numpy()).max()) <= TOLERANCE


@pytest.mark.parametrize("kind", ["real", "random"])
def test_cloud_full_lower_upper_parity(cloud, inputs, kind):
    x = inputs[kind]
    _parity(cloud, to_onnx_bytes(cloud, (3, 32, 32), softmax=True), x, softmax=True)
    lower = to_onnx_bytes(cloud.lower(3), (3, 32, 32), output_name="activation")
    _parity(cloud.lower(3), lower, x)
    with torch.no_grad():
        activation = cloud.lower(3)(torch.from_numpy(x)).numpy()
    upper = to_onnx_bytes(cloud.upper(3), (32, 26, 26), input_name="activation", softmax=True)
    _parity(cloud.upper(3), upper, activation, input_name="activation", softmax=True)


@pytest.mark.parametrize("k", [3, 5, 10])
def test_edge_parity(cloud, inputs, k):
    for model in (EdgeCNN(k, seed=1), EdgeCNN(k, cloud.lower(k), seed=1)):
        _parity(model, to_onnx_bytes(model, (3, 32, 32), softmax=True), inputs["real"], softmax=True)


def test_edge_pool_stride_one_parity(cloud, inputs):
    model = EdgeCNN(3, cloud.lower(3), seed=1, pool_stride=1)
    assert model.fc1.in_features == 32 * 25 * 25
    assert EdgeCNN(3).fc1.in_features == 32 * 13 * 13
    _parity(model, to_onnx_bytes(model, (3, 32, 32), softmax=True), inputs["random"], softmax=True)


def test_encoders_and_classifiers_parity(inputs):
    x = torch.from_numpy(np.concatenate([inputs["real"], inputs["random"]]))
    pca = fit_pca(x, 4)
    _parity(pca, to_onnx_bytes(pca, (3, 32, 32), output_name="features"), inputs["real"])
    ae = ConvAutoencoder(8, seed=0).eval()
    _parity(ae.encoder, to_onnx_bytes(ae.encoder, (3, 32, 32), output_name="features"), inputs["random"])
    classifier = FeatureClassifier(8).eval()
    features = np.random.default_rng(1).normal(size=(3, 8)).astype(np.float32)
    _parity(classifier, to_onnx_bytes(classifier, (8,), input_name="features", softmax=True), features,
            input_name="features", softmax=True)


def test_export_is_deterministic_and_batch_is_dynamic(cloud):
    first = to_onnx_bytes(cloud, (3, 32, 32), softmax=True)
    assert first == to_onnx_bytes(CloudCNN(seed=3).eval(), (3, 32, 32), softmax=True)
    assert first != to_onnx_bytes(CloudCNN(seed=4).eval(), (3, 32, 32), softmax=True)
    session = open_session(first, device="cpu")
    assert session.inputs[0].shape == (None, 3, 32, 32)
    for batch in (1, 7):
        assert session.run({"image": np.zeros((batch, 3, 32, 32), np.float32)})[0].shape == (batch, 10)


def test_edge_built_from_received_block_is_frozen_and_exact(cloud, inputs):
    block = shared_block_from_onnx(shared_block_bytes(cloud, 3))
    assert all(not p.requires_grad for p in block.parameters())
    edge = EdgeCNN(3, block, seed=0)
    assert parameter_count(edge, trainable_only=True) < parameter_count(edge)
    x = torch.from_numpy(inputs["random"])
    with torch.no_grad():
        torch.testing.assert_close(block(x), cloud.lower(3)(x), rtol=0, atol=0)
    state = {k: v.clone() for k, v in block.state_dict().items()}
    torch.optim.SGD([p for p in edge.parameters() if p.requires_grad], lr=0.1).zero_grad()
    loss = edge.train()(x).sum()
    loss.backward()
    assert all(p.grad is None for p in block.parameters())
    assert all(torch.equal(state[k], v) for k, v in block.state_dict().items())


def test_shared_block_refuses_other_ops_and_garbage(cloud):
    full = to_onnx_bytes(cloud, (3, 32, 32), softmax=True)
    with pytest.raises(ModelError, match="only Conv and Relu"):
        shared_block_from_onnx(full)
    with pytest.raises(ModelError, match="not a valid ONNX"):
        shared_block_from_onnx(full[:500])
    rebuilt = sequential_from_onnx(full)
    assert [name for name, _ in rebuilt.named_children()][:2] == ["conv1", "relu1"]
