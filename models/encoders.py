"""System A feature extractors (PCA, convolutional autoencoder) and the classifier that takes their features.

Both encoders read the same (N, 3, 32, 32) normalised images as the CNNs and output (N, feature_dim).
PCA is whitened (unit-variance features) so the SGD recipe works unchanged on its output.
"""
from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from models.cnn import DROPOUT_P, INPUT_CHANNELS, INPUT_SIZE_PX, NUM_CLASSES, init_weights
from models.errors import SettingsError
from models.layers import Centre, Project

INPUT_FEATURES = INPUT_CHANNELS * INPUT_SIZE_PX * INPUT_SIZE_PX
AE_CHANNELS = (16, 32)
AE_CODE_SIDE_PX = INPUT_SIZE_PX // 4


def _check_feature_dim(feature_dim: int, limit: int = INPUT_FEATURES) -> None:
    if not isinstance(feature_dim, int) or not 1 <= feature_dim <= limit:
        raise SettingsError(f"feature_dim must be an integer in 1..{limit}, got {feature_dim!r}")


def fit_pca(x: torch.Tensor, feature_dim: int, whiten: bool = True) -> nn.Sequential:
    """PCA encoder (Flatten -> Sub mean -> MatMul components) fitted on images x (N, 3, 32, 32)."""
    flat = x.reshape(len(x), -1).double()
    _check_feature_dim(feature_dim, min(flat.shape))
    mean = flat.mean(0)
    _, singular, vh = torch.linalg.svd(flat - mean, full_matrices=False)
    components = vh[:feature_dim].T.clone()  # (D, d)
    # Deterministic sign: the largest-magnitude entry of each component is positive.
    signs = torch.sign(components.gather(0, components.abs().argmax(0, keepdim=True)))
    components *= torch.where(signs == 0, torch.ones_like(signs), signs)
    if whiten:
        std = singular[:feature_dim] / max(1, len(flat) - 1) ** 0.5
        components /= torch.clamp(std, min=1e-8)
    return nn.Sequential(OrderedDict([("flatten", nn.Flatten(1)), ("centre", Centre(mean.float())),
                                      ("project", Project(components.float()))]))


def pca_explained_variance(x: torch.Tensor, feature_dim: int) -> float:
    flat = x.reshape(len(x), -1).double()
    singular = torch.linalg.svdvals(flat - flat.mean(0))
    variance = singular ** 2
    return float(variance[:feature_dim].sum() / variance.sum())


class ConvAutoencoder(nn.Module):
    """Encoder: conv 3->16 s2, conv 16->32 s2, FC -> feature_dim. Decoder mirrors it (training only)."""

    def __init__(self, feature_dim: int = 64, seed: int = 0) -> None:
        super().__init__()
        _check_feature_dim(feature_dim)
        c1, c2 = AE_CHANNELS
        code = c2 * AE_CODE_SIDE_PX * AE_CODE_SIDE_PX
        self.feature_dim = feature_dim
        self.encoder = nn.Sequential(OrderedDict([
            ("enc_conv1", nn.Conv2d(INPUT_CHANNELS, c1, 3, stride=2, padding=1)), ("enc_relu1", nn.ReLU()),
            ("enc_conv2", nn.Conv2d(c1, c2, 3, stride=2, padding=1)), ("enc_relu2", nn.ReLU()),
            ("enc_flatten", nn.Flatten(1)), ("enc_fc", nn.Linear(code, feature_dim)),
        ]))
        self.decoder = nn.Sequential(
            nn.Linear(feature_dim, code), nn.ReLU(), nn.Unflatten(1, (c2, AE_CODE_SIDE_PX, AE_CODE_SIDE_PX)),
            nn.ConvTranspose2d(c2, c1, 4, stride=2, padding=1), nn.ReLU(),
            nn.ConvTranspose2d(c1, INPUT_CHANNELS, 4, stride=2, padding=1), nn.Tanh(),
        )
        torch.manual_seed(seed)
        init_weights(self.encoder, seed)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.encoder(x))


class FeatureClassifier(nn.Sequential):
    """The cloud's model on features: FC feature_dim -> hidden, ReLU, dropout 0.25, FC -> 10 (logits)."""

    def __init__(self, feature_dim: int, hidden_units: int = 256, seed: int = 0) -> None:
        _check_feature_dim(feature_dim)
        if hidden_units < 1:
            raise SettingsError(f"hidden_units must be >= 1, got {hidden_units}")
        super().__init__(OrderedDict([
            ("cls_fc1", nn.Linear(feature_dim, hidden_units)), ("cls_relu1", nn.ReLU()),
            ("cls_dropout", nn.Dropout(DROPOUT_P)), ("cls_fc2", nn.Linear(hidden_units, NUM_CLASSES)),
        ]))
        init_weights(self, seed)
