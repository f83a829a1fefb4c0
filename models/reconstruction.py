"""An autoencoder's reconstruction training (MSE, Adam), seeded: System A's feature extractor. It runs in a
thread with subnormals flushed to zero, as ``models.training.train_classifier`` does (``models.numerics``)."""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.errors import SettingsError
from models.numerics import run_flushed, stop_if_asked


def train_autoencoder(autoencoder: nn.Module, x: torch.Tensor, *, epochs: int = 10, batch_size: int = 64,
                      learning_rate: float = 1e-3, seed: int = 0, progress: bool = True,
                      description: str = "autoencoder") -> dict:
    """Reconstruction (MSE) training with Adam; returns {"final_mse", "seconds", "epochs"}. Runs in a thread with
    subnormals flushed to zero, as ``train_classifier`` does."""
    if epochs < 1:
        raise SettingsError(f"autoencoder epochs must be >= 1, got {epochs}")
    return run_flushed(_train_autoencoder, autoencoder, x, epochs=epochs, batch_size=batch_size,
                       learning_rate=learning_rate, seed=seed, progress=progress, description=description)


def _train_autoencoder(autoencoder, x, *, epochs, batch_size, learning_rate, seed, progress, description,
                       stop=None) -> dict:
    optimiser = torch.optim.Adam(autoencoder.parameters(), lr=learning_rate)
    started = time.perf_counter()
    mse = float("nan")
    autoencoder.train()
    for epoch in tqdm(range(epochs), desc=description, unit="epoch", disable=not progress, leave=False):
        torch.manual_seed(seed * 100_003 + epoch)
        order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(len(x)))
        total = 0.0
        for start in range(0, len(order), batch_size):
            stop_if_asked(stop, description)
            batch = x[order[start:start + batch_size]]
            loss = nn.functional.mse_loss(autoencoder(batch), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        mse = total / max(1, len(order))
    autoencoder.eval()
    return {"final_mse": mse, "seconds": time.perf_counter() - started, "epochs": epochs}
