"""Placements where the edge runs the first part and the cloud the rest (DESIGN.md "Placements").

``features``: the edge runs an encoder (PCA or autoencoder) and sends the features
to the cloud's feature classifier. ``split``: the edge runs CloudCNN's m lower
layers and sends the intermediate tensor to the cloud's upper part. Both appear
on the edge as ordinary model names (``features-pca``, ``features-ae``,
``split-3``), so a client only picks a name. The edge->cloud leg's timestamps go
into the reply parameters with a ``cloud_`` prefix.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from nodes.artifacts import ArtifactEntry
from nodes.cloud_link import CloudLink
from nodes.errors import UpstreamError
from nodes.protocol import InferRequest, Tensor
from nodes.served_models import ImageModel


@dataclass(frozen=True)
class PlacementSpec:
    served_name: str      # the name clients use at the edge
    head_model: str       # artifact the edge runs
    cloud_model: str      # model the cloud runs on the head's output


def placement_specs(placements: tuple[str, ...], split_layers: int) -> list[PlacementSpec]:
    specs = []
    if "features" in placements:
        specs.append(PlacementSpec("features-pca", "pca-encoder", "pca-classifier"))
        specs.append(PlacementSpec("features-ae", "ae-encoder", "ae-classifier"))
    if "split" in placements:
        specs.append(PlacementSpec(f"split-{split_layers}", f"cloudcnn-lower-{split_layers}",
                                   f"cloudcnn-upper-{split_layers}"))
    return specs


_PAIR_ROLES = {"split": ("lower", "upper"), "features": ("encoder", "feature-classifier")}
_PAIR_SERVED = {"split": "split-", "features": "features-pca"}  # the spec a user's pair takes the place of


def with_user_pairs(specs: list[PlacementSpec], index: dict[str, ArtifactEntry]) -> list[PlacementSpec]:
    """``specs`` with each user's pair in the cloud's index (entries marked ``placement``: split or features, see
    models/byo_set.py) in place of that placement's default pair, under the same served name, so a client
    (and the harness) still asks for ``split-3`` or ``features-pca``."""
    resolved = []
    for spec in specs:
        for placement, (head_role, tail_role) in _PAIR_ROLES.items():
            if not spec.served_name.startswith(_PAIR_SERVED[placement]):
                continue
            heads = [e.name for e in index.values() if e.placement == placement and e.role == head_role]
            tails = [e.name for e in index.values() if e.placement == placement and e.role == tail_role]
            if len(heads) == 1 and len(tails) == 1:
                spec = replace(spec, head_model=heads[0], cloud_model=tails[0])
        resolved.append(spec)
    return resolved


class RemoteTailModel:
    def __init__(self, spec: PlacementSpec, head: ImageModel, cloud: CloudLink):
        self.spec, self.head, self.cloud = spec, head, cloud
        self.model_name = f"{spec.head_model}+{spec.cloud_model}"
        self._cloud_input_name: str | None = None

    @property
    def provider(self) -> str:
        return self.head.provider

    def metadata(self, served_name: str) -> dict:
        return {"name": served_name, "versions": ["1"], "platform": "edge+cloud",
                "inputs": self.head.input_metadata(), "outputs": [],
                "parameters": {"model": self.model_name, "edge_model": self.spec.head_model,
                               "cloud_model": self.spec.cloud_model, "provider": self.provider}}

    async def cloud_input_name(self) -> str:
        if self._cloud_input_name is None:
            inputs = await self.cloud.model_inputs(self.spec.cloud_model)
            if len(inputs) != 1:
                raise UpstreamError(f"cloud model {self.spec.cloud_model} takes {len(inputs)} inputs, expected 1")
            self._cloud_input_name = inputs[0]["name"]
        return self._cloud_input_name

    async def infer(self, request: InferRequest, stamps: dict) -> list[Tensor]:
        batch = await self.head.decode(self.head.images_of(request), stamps)
        head_outputs = await self.head.infer_decoded(batch, stamps)
        name = await self.cloud_input_name()
        tensor = Tensor.from_array(name, head_outputs[0].data)
        outputs, leg_stamps = await self.cloud.infer(self.spec.cloud_model, tensor, request.request_id)
        stamps.update(leg_stamps)
        return outputs
