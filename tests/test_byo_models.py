"""The user's own ONNX files as a model set (models/byo_set.py, harness/cli/model_options.py): names, cards and
sha256 in the manifest, pairs checked, and real cloud + edge processes on 127.0.0.1 serving them (the edge
downloads each file from the cloud with its sha256, as today's models)."""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import warnings

import numpy as np
import pytest
import torch
from torch import nn

from harness.cli.model_options import add_model_options, model_spec_flags
from harness.errors import HarnessError
from models.byo_set import UserModel, derive_model_set
from models.errors import ModelError
from models.model_card import METADATA_KEY
from models.onnx_import import parse_onnx
from models.onnx_split import split_model
from nodes.artifacts import ArtifactEntry, read_manifest, sha256_hex
from nodes.launch import NodeProcess
from nodes.placements import placement_specs, with_user_pairs
from nodes.synthetic_models import write_model_set
from nodes.client import ClientSettings, InferenceClient, closed_loop
from nodes.jpeg_images import make_jpeg

pytestmark = pytest.mark.timeout(300)
JPEG_60K = make_jpeg(60 * 1024, seed=5)


def run_client(url: str, model: str, images, requests: int = 1) -> list[dict]:
    async def go():
        async with InferenceClient(ClientSettings(url=url, model=model, timeout_s=60)) as client:
            return await closed_loop(client, images, requests, run_id=f"byo-{model}")
    return asyncio.run(go())


class NhwcNet(nn.Module):
    """(N, 16, 16, 3) images -> 4 classes: a user's model in the other layout."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.fc = nn.Linear(8, 4)

    def forward(self, x):
        y = torch.relu(self.conv(x.permute(0, 3, 1, 2)))
        return torch.softmax(self.fc(y.mean(dim=(2, 3))), dim=1)


def convnet() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, stride=2, padding=1),
                         nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 5), nn.Softmax(dim=1))


def export(model: nn.Module, shape, path, dynamic_hw: bool = False, name: str = "x"):
    axes = {0: "batch", **({1: "h", 2: "w"} if dynamic_hw else {})}
    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(model.eval(), torch.zeros(1, *shape), buffer, dynamo=False, opset_version=17,
                          input_names=[name], output_names=["probabilities"],
                          dynamic_axes={name: axes, "probabilities": {0: "batch"}})
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def user_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("user")
    edge = export(NhwcNet(), (16, 16, 3), folder / "my edge.onnx", dynamic_hw=True, name="pixels")
    (folder / "my edge.card.toml").write_text('height = 16\nwidth = 16\nmean = [0.485, 0.456, 0.406]\n'
                                              'std = [0.229, 0.224, 0.225]\nlabels = ["a", "b", "c", "d"]\n')
    cloud = export(convnet(), (3, 24, 24), folder / "cloudnet.onnx")
    split = split_model(cloud, _second_relu(cloud), folder / "split")
    assert split.equal
    return {"edge": edge, "cloud": cloud, "head": split.head_path, "tail": split.tail_path, "folder": folder}


def _second_relu(path) -> str:
    proto = parse_onnx(path.read_bytes())
    return [n.output[0] for n in proto.graph.node if n.op_type == "Relu"][1]


@pytest.fixture(scope="module")
def byo_set(user_files, tmp_path_factory):
    base = tmp_path_factory.mktemp("base")
    write_model_set(base)
    models = [UserModel("edge", str(user_files["edge"])), UserModel("cloud", str(user_files["cloud"])),
              UserModel("split-head", str(user_files["head"])), UserModel("split-tail", str(user_files["tail"]))]
    return base, derive_model_set(base, models, root=tmp_path_factory.mktemp("byo"))


def test_the_derived_set_holds_the_base_and_the_files_with_cards_and_sha256(byo_set, user_files):
    base, derived = byo_set
    assert derived.names == {"edge": "my-edge", "cloud": "cloudnet", "split-head": "cloudnet-head",
                             "split-tail": "cloudnet-tail"}
    manifest = json.loads((derived.models_dir / "manifest.json").read_text())
    entries = read_manifest(derived.models_dir)  # what the cloud serves: the node's own reader accepts it
    assert set(json.loads((base / "manifest.json").read_text())["models"]) < set(entries)
    for name, entry in entries.items():
        assert sha256_hex((derived.models_dir / entry.file).read_bytes()) == entry.sha256
    assert entries["cloudnet-head"].placement == "split" and entries["cloudnet-head"].role == "lower"
    assert entries["cloudnet-tail"].placement == "split" and entries["cloudnet-tail"].role == "upper"
    card = json.loads(dict((p.key, p.value) for p in parse_onnx(
        (derived.models_dir / "my-edge.onnx").read_bytes()).metadata_props)[METADATA_KEY])
    assert card["layout"] == "NHWC" and card["height"] == 16 and card["labels"] == ["a", "b", "c", "d"]
    record = manifest["byo"]["edge"]
    assert record["source_sha256"] == sha256_hex(user_files["edge"].read_bytes())
    assert "my edge.card.toml" in record["card_source"]
    again = derive_model_set(base, [UserModel("edge", str(user_files["edge"])),
                                    UserModel("cloud", str(user_files["cloud"])),
                                    UserModel("split-head", str(user_files["head"])),
                                    UserModel("split-tail", str(user_files["tail"]))],
                             root=derived.models_dir.parent)
    assert again == derived


def test_a_users_pair_replaces_the_default_pair_under_the_same_served_name(byo_set):
    _, derived = byo_set
    index = {e.name: ArtifactEntry.from_index(e.index_entry()) for e in read_manifest(derived.models_dir).values()}
    specs = with_user_pairs(placement_specs(("edge", "split", "features"), 3), index)
    by_name = {s.served_name: s for s in specs}
    assert (by_name["split-3"].head_model, by_name["split-3"].cloud_model) == ("cloudnet-head", "cloudnet-tail")
    assert by_name["features-pca"].head_model == "pca-encoder"  # no features pair given: the default


def test_pairs_and_files_are_checked(tmp_path, user_files):
    base = tmp_path / "base"
    write_model_set(base)
    with pytest.raises(ModelError, match=r"--split-head needs --split-tail too"):
        derive_model_set(base, [UserModel("split-head", str(user_files["head"]))], root=tmp_path)
    with pytest.raises(ModelError, match=r"not a pair"):
        derive_model_set(base, [UserModel("split-head", str(user_files["head"])),
                                UserModel("split-tail", str(user_files["cloud"]))], root=tmp_path)
    (tmp_path / "junk.onnx").write_bytes(b"not onnx")
    with pytest.raises(ModelError, match=r"junk.onnx: 8 bytes are not a valid ONNX model"):
        derive_model_set(base, [UserModel("cloud", str(tmp_path / "junk.onnx"))], root=tmp_path)
    (tmp_path / "copy.onnx").write_bytes(user_files["edge"].read_bytes())  # dynamic size, and no card beside it
    with pytest.raises(ModelError, match=r"do not say height, width"):
        derive_model_set(base, [UserModel("edge", str(tmp_path / "copy.onnx"))], root=tmp_path)


def _args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    parser.add_argument("--models-dir", dest="models_dir")
    add_model_options(parser)
    return parser.parse_args(argv)


def test_the_flags_give_the_spec_a_model_set_with_the_files(tmp_path, user_files):
    base = tmp_path / "base"
    write_model_set(base)
    flags = model_spec_flags(_args(["--models-dir", str(base), "--edge-model", str(user_files["edge"]),
                                    "--edge-card", "width=16", "--cloud-model", "cloudcnn"]))
    assert flags["edge_model"] == "my-edge" and flags["cloud_model"] == "cloudcnn"
    assert (tmp_path / "base") != flags["models_dir"] and "byo-models" in flags["models_dir"]
    assert model_spec_flags(_args(["--models-dir", str(base)])) == {}
    with pytest.raises(HarnessError, match=r"--edge-model 'mobilenet': no such file, and not an image model of .*"
                                           r"\(those are cloudcnn, edgecnn"):
        model_spec_flags(_args(["--models-dir", str(base), "--edge-model", "mobilenet"]))
    with pytest.raises(HarnessError, match=r"--cloud-card needs --cloud-model"):
        model_spec_flags(_args(["--models-dir", str(base), "--cloud-card", "height=3"]))
    with pytest.raises(HarnessError, match=r"card says NCHW"):
        model_spec_flags(_args(["--models-dir", str(base), "--edge-model", str(user_files["edge"]),
                                "--edge-card", "layout=NCHW"]))


def test_cloud_serves_the_files_and_the_edge_downloads_them_verified(byo_set, tmp_path):
    _, derived = byo_set
    with NodeProcess("cloud", ["--models", str(derived.models_dir), "--threads", "1"], log_dir=tmp_path / "c") as cloud, \
            NodeProcess("edge", ["--cloud", cloud.url, "--model", "my-edge", "--placements", "edge,split",
                                 "--threads", "1"], log_dir=tmp_path / "e") as edge:
        image = [(len(JPEG_60K), JPEG_60K)]
        for url, model, served_by, classes in ((edge.url, "my-edge", "my-edge", 4),
                                               (cloud.url, "cloudnet", "cloudnet", 5),
                                               (edge.url, "split-3", "cloudnet-head+cloudnet-tail", 5)):
            rows = run_client(url, model, image, requests=1)
            assert rows[0]["status"] == 200, rows[0]["error"]
            assert rows[0]["served_by_model"] == served_by and 0 <= rows[0]["label"] < classes
    fetches = [json.loads(line) for line in (tmp_path / "e" / "fetches.jsonl").read_text().splitlines()]
    assert {f["name"] for f in fetches} == {"my-edge", "cloudnet-head"} and all(f["verified"] for f in fetches)
    for name in ("my-edge", "cloudnet-head"):
        assert (tmp_path / "e" / "models" / f"{name}.onnx").read_bytes() == \
            (derived.models_dir / f"{name}.onnx").read_bytes()


def test_the_split_pair_reproduces_the_whole_model(user_files):
    from models.runtime import open_session

    whole, head, tail = (open_session(user_files[k], "cpu", 1) for k in ("cloud", "head", "tail"))
    x = np.random.default_rng(3).standard_normal((3, 3, 24, 24)).astype(np.float32)
    middle = head.run({head.inputs[0].name: x})[0]
    np.testing.assert_allclose(tail.run({tail.inputs[0].name: middle})[0], whole.run({"x": x})[0], atol=1e-6)


def test_the_flags_know_every_slot_of_the_set():
    from harness.cli import model_options
    from models import byo_set

    assert model_options.SLOTS == tuple(byo_set.SLOTS)
    assert set(model_options.IMAGE_SLOTS) == {s for s, (_, _, images) in byo_set.SLOTS.items() if images}


def test_a_bad_file_on_the_command_line_is_one_line_before_anything_is_built(tmp_path, user_files):
    from tests.conftest import run_cli

    (tmp_path / "junk.onnx").write_bytes(b"\x00garbage")
    for args, message in (([str(tmp_path / "junk.onnx")], "are not a valid ONNX model"),
                          ([str(user_files["edge"]), "--edge-card", "layout=NCHW"], "the card says NCHW")):
        done = run_cli("compare", "--models-dir", str(tmp_path / "none"), "--access", "lte", "--edge-model", *args,
                       timeout=120)
        assert done.returncode != 0 and "Traceback" not in done.stderr
        lines = [line for line in done.stderr.strip().splitlines() if "telemetry" not in line]
        assert len(lines) == 1 and message in lines[0], done.stderr
    done = run_cli("load", "--split-head", "x.onnx", timeout=60)  # load serves edge and cloud only
    assert done.returncode != 0 and "unrecognized arguments: --split-head" in done.stderr
