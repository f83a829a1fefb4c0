"""Small layers that the ONNX writer/reader map one-to-one onto ONNX ops (PCA's Sub and MatMul)."""
from __future__ import annotations

import torch
from torch import nn


class Centre(nn.Module):
    """y = x - mean (ONNX ``Sub`` with the mean as an initialiser)."""

    def __init__(self, mean: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", mean.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x - self.mean


class Project(nn.Module):
    """y = x @ components, components of shape (in_features, out_features) (ONNX ``MatMul``)."""

    def __init__(self, components: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("components", components.detach().clone().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.components
