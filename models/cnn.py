"""CloudCNN and EdgeCNN-k (System B), as flat ``nn.Sequential`` models with named layers.

Layer names (``conv1`` ... ``conv15``, ``pool``, ``flatten``, ``fc1``, ``dropout``, ``fc2``) are also the
ONNX node / initialiser names, so a shared block read back from ONNX lines up with CloudCNN's state_dict.

Size choice (documented in docs/models.md): 3x3 convolutions are *valid* (unpadded) and inputs are 32x32
(28x28 images are zero-padded to 32x32, LeNet-style), so CloudCNN's 15 convolutions end at 2x2x128, the
2x2 stride-1 max-pool at 1x1x128, and the FC-1024 has 131k weights instead of ~100M with 'same' padding.
Models return logits; the exported ONNX graphs end in a softmax.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from models.errors import SettingsError

CLOUD_CONV_CHANNELS: tuple[int, ...] = (32, 32, 32, 48, 48, 80, 80, 80, 80, 80, 128, 128, 128, 128, 128)
EDGE_DEPTHS: tuple[int, ...] = (3, 5, 10)
INPUT_CHANNELS = 3
INPUT_SIZE_PX = 32
NUM_CLASSES = 10
FC_UNITS = 1024
DROPOUT_P = 0.25
# EdgeCNN's max-pool stride. SEEDS.md says 2x2 stride 1; with valid convolutions that leaves EdgeCNN-3 an
# 80 MB FC and makes it slower than CloudCNN, so the default is 2 (docs/models.md has both measured).
EDGE_POOL_STRIDE = 2


def conv_output_size_px(depth: int, input_size_px: int = INPUT_SIZE_PX) -> int:
    """Spatial size after ``depth`` valid 3x3 convolutions."""
    return input_size_px - 2 * depth


def conv_layers(depth: int, in_channels: int = INPUT_CHANNELS) -> "OrderedDict[str, nn.Module]":
    """The first ``depth`` conv+ReLU layers of CloudCNN, named conv1/relu1 ... (fresh weights)."""
    if not 1 <= depth <= len(CLOUD_CONV_CHANNELS):
        raise SettingsError(f"conv depth must be 1..{len(CLOUD_CONV_CHANNELS)}, got {depth}")
    layers: "OrderedDict[str, nn.Module]" = OrderedDict()
    channels = in_channels
    for index, out_channels in enumerate(CLOUD_CONV_CHANNELS[:depth], start=1):
        layers[f"conv{index}"] = nn.Conv2d(channels, out_channels, kernel_size=3, stride=1, padding=0)
        layers[f"relu{index}"] = nn.ReLU()
        channels = out_channels
    return layers


def head_layers(depth: int, input_size_px: int = INPUT_SIZE_PX, pool_stride: int = 1) -> "OrderedDict[str, nn.Module]":
    """Max-pool 2x2 (stride 1 as specified; 2 is an option for EdgeCNN), FC-1024 + ReLU, dropout 0.25, FC-10."""
    if pool_stride not in (1, 2):
        raise SettingsError(f"max-pool stride must be 1 (as specified) or 2, got {pool_stride!r}")
    side = (conv_output_size_px(depth, input_size_px) - 2) // pool_stride + 1
    if conv_output_size_px(depth, input_size_px) < 2:
        raise SettingsError(f"input of {input_size_px}px is too small for {depth} valid convolutions")
    flat = CLOUD_CONV_CHANNELS[depth - 1] * side * side
    return OrderedDict([
        ("pool", nn.MaxPool2d(kernel_size=2, stride=pool_stride)),
        ("flatten", nn.Flatten(1)),
        ("fc1", nn.Linear(flat, FC_UNITS)),
        ("relu_fc1", nn.ReLU()),
        ("dropout", nn.Dropout(DROPOUT_P)),
        ("fc2", nn.Linear(FC_UNITS, NUM_CLASSES)),
    ])


def init_weights(model: nn.Module, seed: int) -> None:
    """Kaiming-normal conv/linear weights (ReLU nets without batch norm), zero biases; seeded."""
    generator = torch.Generator().manual_seed(seed)
    for module in model.modules():
        if isinstance(module, (nn.Conv2d, nn.Linear)):
            fan_in = module.weight[0].numel()
            std = (2.0 / fan_in) ** 0.5
            with torch.no_grad():
                module.weight.copy_(torch.randn(module.weight.shape, generator=generator) * std)
                module.bias.zero_()


class CloudCNN(nn.Sequential):
    """15 conv (3x32, 2x48, 5x80, 5x128), max-pool, FC-1024, dropout, FC-10 ("19 layers")."""

    depth = len(CLOUD_CONV_CHANNELS)

    def __init__(self, seed: int = 0) -> None:
        super().__init__(OrderedDict([*conv_layers(self.depth).items(), *head_layers(self.depth).items()]))
        init_weights(self, seed)

    def lower(self, m: int) -> nn.Sequential:
        """CloudCNN's m lower conv+ReLU layers (shares the modules, not a copy)."""
        if not 1 <= m < self.depth:
            raise SettingsError(f"shared block size m must be 1..{self.depth - 1}, got {m}")
        return nn.Sequential(OrderedDict(list(self.named_children())[: 2 * m]))

    def upper(self, m: int) -> nn.Sequential:
        """Everything above the m lower layers (the cloud's rest for the ``split`` placement)."""
        if not 1 <= m < self.depth:
            raise SettingsError(f"shared block size m must be 1..{self.depth - 1}, got {m}")
        return nn.Sequential(OrderedDict(list(self.named_children())[2 * m:]))


class EdgeCNN(nn.Sequential):
    """k conv layers, max-pool, FC-1024, dropout, FC-10.

    ``pool_stride`` 1 is SEEDS.md's; 2 (default) divides the FC-1024's input (and file size) by ~4 (see docs).
    ``EdgeCNN(k)`` is EdgeCNN0-k (all from scratch). ``EdgeCNN(k, lower=block)`` is EdgeCNN1-k: ``block`` holds
    CloudCNN's k lower conv layers (from ``CloudCNN.lower`` or read from a received ONNX file); they are frozen.
    """

    def __init__(self, k: int, lower: nn.Sequential | None = None, seed: int = 0,
                 pool_stride: int = EDGE_POOL_STRIDE) -> None:
        if k < 1 or k >= len(CLOUD_CONV_CHANNELS):
            raise SettingsError(f"EdgeCNN depth k must be 1..{len(CLOUD_CONV_CHANNELS) - 1}, got {k}")
        if lower is None:
            convs = conv_layers(k)
        else:
            convs = OrderedDict(lower.named_children())
            n_conv = sum(isinstance(layer, nn.Conv2d) for layer in convs.values())
            if n_conv != k:
                raise SettingsError(f"EdgeCNN1-{k} needs a shared block of {k} conv layers, got {n_conv}")
        head = head_layers(k, pool_stride=pool_stride)
        super().__init__(OrderedDict([*convs.items(), *head.items()]))
        self.k = k
        self.transferred = lower is not None
        if lower is None:
            init_weights(self, seed)
        else:
            init_weights(nn.Sequential(head), seed)
            for name, layer in convs.items():
                for parameter in layer.parameters():
                    parameter.requires_grad_(False)

    @property
    def name(self) -> str:
        return f"edgecnn{int(self.transferred)}-{self.k}"

    def train(self, mode: bool = True) -> "EdgeCNN":
        super().train(mode)
        return self


def parameter_count(model: nn.Module, trainable_only: bool = False) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
