"""Seeded, resumable training (System B recipe: SGD momentum 0.9, batch 32, lr 0.01 / 10 on plateau,
9:1 train/validation split, early stop, best-validation weights kept).

Determinism: the split, every epoch's shuffle and the dropout RNG derive from ``seed`` and the epoch number,
so a run resumed from its checkpoint ends with the same weights as one never interrupted (on CPU).
Checkpoints are state_dicts written via a temp file + ``os.replace`` and read with ``weights_only=True``.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.datasets import ImageSet
from models.errors import SettingsError
from models.preprocess import normalise


@dataclass(frozen=True)
class TrainSettings:
    max_epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 0.01
    momentum: float = 0.9
    lr_divisor: float = 10.0
    plateau_patience_epochs: int = 2  # epochs without validation improvement before lr /= lr_divisor
    early_stop_patience_epochs: int = 4  # epochs without improvement before stopping (0: never)
    min_learning_rate: float = 1e-4  # stop once the lr would fall below this
    validation_fraction: float = 0.1
    seed: int = 0

    def __post_init__(self) -> None:
        checks = [
            ("max_epochs", self.max_epochs >= 1, "an integer >= 1"),
            ("batch_size", self.batch_size >= 1, "an integer >= 1"),
            ("learning_rate", self.learning_rate > 0, "> 0"),
            ("momentum", 0 <= self.momentum < 1, "in [0, 1)"),
            ("lr_divisor", self.lr_divisor > 1, "> 1"),
            ("plateau_patience_epochs", self.plateau_patience_epochs >= 1, "an integer >= 1"),
            ("early_stop_patience_epochs", self.early_stop_patience_epochs >= 0, "an integer >= 0"),
            ("min_learning_rate", self.min_learning_rate > 0, "> 0"),
            ("validation_fraction", 0 < self.validation_fraction < 1, "in (0, 1)"),
        ]
        for name, ok, allowed in checks:
            if not ok:
                raise SettingsError(f"training setting {name}={getattr(self, name)!r} is invalid: must be {allowed}")


@dataclass
class TrainReport:
    best_validation_accuracy: float
    epochs_run: int
    seconds: float
    stopped_because: str
    history: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def image_tensors(data: ImageSet) -> tuple[torch.Tensor, torch.Tensor]:
    """An ImageSet -> (normalised float32 NCHW, int64 labels), as the models see them."""
    return torch.from_numpy(normalise(data.images)), torch.from_numpy(data.labels.astype(np.int64))


def split_indices(n: int, validation_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Seeded 9:1 (by default) split of range(n) into (train, validation); validation has >= 1 item."""
    if n < 2:
        raise SettingsError(f"need at least 2 labelled images to split train/validation, got {n}")
    order = np.random.default_rng([seed, 7919]).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * validation_fraction))))
    return order[n_val:], order[:n_val]


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    was_training = model.training
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size]) for i in range(0, len(x), batch_size)]) if len(x) else \
            torch.zeros((0, 10))
    finally:
        model.train(was_training)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save(state, temp)
        os.replace(temp, path)
    finally:
        if temp.exists():
            temp.unlink()


def _load_checkpoint(path: Path | None, run_key: str) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 - a corrupt/partial checkpoint is simply not resumed
        return None
    return state if isinstance(state, dict) and state.get("run_key") == run_key else None


def train_classifier(model: nn.Module, x: torch.Tensor, y: torch.Tensor, settings: TrainSettings = TrainSettings(),
                     *, checkpoint_path: Path | None = None, run_key: str = "", progress: bool = True,
                     description: str = "train") -> TrainReport:
    """Train ``model`` (logits out) on (x, y), split 9:1 internally; ends with the best-validation weights.

    Only parameters with ``requires_grad`` are optimised (EdgeCNN1-k's shared block stays frozen).
    With ``checkpoint_path`` the state after each epoch is saved and a matching checkpoint is resumed.
    """
    train_idx, val_idx = split_indices(len(y), settings.validation_fraction, settings.seed)
    x_train, y_train, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise SettingsError(f"{description}: model has no trainable parameters")
    optimiser = torch.optim.SGD(parameters, lr=settings.learning_rate, momentum=settings.momentum)
    loss_fn = nn.CrossEntropyLoss()
    # max_epochs is left out of the key so a finished run can be resumed with a larger budget.
    resumable = {k: v for k, v in asdict(settings).items() if k != "max_epochs"}
    run_key = f"{run_key}|{sorted(resumable.items())}|{len(y)}"
    state = {"epoch": 0, "lr": settings.learning_rate, "best_val": -1.0, "bad_epochs": 0, "plateau_epochs": 0,
             "seconds": 0.0, "history": [], "stopped": ""}
    best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
    saved = _load_checkpoint(checkpoint_path, run_key)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        best_weights = saved["best_model"]
        state.update({k: saved[k] for k in state})
    started = time.perf_counter() - state["seconds"]
    bar = tqdm(total=settings.max_epochs, initial=state["epoch"], desc=description, unit="epoch",
               disable=not progress, leave=False, dynamic_ncols=True)
    try:
        while not state["stopped"]:
            epoch = state["epoch"]
            if epoch >= settings.max_epochs:
                state["stopped"] = "max_epochs"
                break
            for group in optimiser.param_groups:
                group["lr"] = state["lr"]
            torch.manual_seed(settings.seed * 100_003 + epoch)
            order = torch.from_numpy(np.random.default_rng([settings.seed, epoch]).permutation(len(y_train)))
            model.train()
            total_loss = 0.0
            for start in range(0, len(order), settings.batch_size):
                batch = order[start:start + settings.batch_size]
                loss = loss_fn(model(x_train[batch]), y_train[batch])
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total_loss += float(loss.detach()) * len(batch)
            train_loss = total_loss / max(1, len(order))
            if not math.isfinite(train_loss):
                state["stopped"] = "diverged"
            val_acc = accuracy(model, x_val, y_val)
            state["epoch"] = epoch + 1
            state["history"].append({"epoch": epoch + 1, "lr": state["lr"], "train_loss": train_loss,
                                     "validation_accuracy": val_acc})
            if val_acc > state["best_val"]:
                state["best_val"], state["bad_epochs"], state["plateau_epochs"] = val_acc, 0, 0
                best_weights = {k: v.detach().clone() for k, v in model.state_dict().items()}
            else:
                state["bad_epochs"] += 1
                state["plateau_epochs"] += 1
                if state["plateau_epochs"] >= settings.plateau_patience_epochs:
                    state["lr"] /= settings.lr_divisor
                    state["plateau_epochs"] = 0
                    if state["lr"] < settings.min_learning_rate * (1 - 1e-9):
                        state["stopped"] = "min_learning_rate"
                if settings.early_stop_patience_epochs and state["bad_epochs"] >= settings.early_stop_patience_epochs:
                    state["stopped"] = "early_stop"
            state["seconds"] = time.perf_counter() - started
            bar.update(1)
            bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_acc:.3f}", lr=f"{state['lr']:.0e}")
            if checkpoint_path is not None:
                _save_atomic({"run_key": run_key, "model": model.state_dict(), "optimiser": optimiser.state_dict(),
                              "best_model": best_weights, **state}, checkpoint_path)
    finally:
        bar.close()
    model.load_state_dict(best_weights)
    model.eval()
    return TrainReport(state["best_val"], state["epoch"], time.perf_counter() - started, state["stopped"],
                       state["history"])


def train_autoencoder(autoencoder: nn.Module, x: torch.Tensor, *, epochs: int = 10, batch_size: int = 64,
                      learning_rate: float = 1e-3, seed: int = 0, progress: bool = True,
                      description: str = "autoencoder") -> dict:
    """Reconstruction (MSE) training with Adam; returns {"final_mse", "seconds", "epochs"}."""
    if epochs < 1:
        raise SettingsError(f"autoencoder epochs must be >= 1, got {epochs}")
    optimiser = torch.optim.Adam(autoencoder.parameters(), lr=learning_rate)
    started = time.perf_counter()
    mse = float("nan")
    autoencoder.train()
    for epoch in tqdm(range(epochs), desc=description, unit="epoch", disable=not progress, leave=False):
        torch.manual_seed(seed * 100_003 + epoch)
        order = torch.from_numpy(np.random.default_rng([seed, epoch]).permutation(len(x)))
        total = 0.0
        for start in range(0, len(order), batch_size):
            batch = x[order[start:start + batch_size]]
            loss = nn.functional.mse_loss(autoencoder(batch), batch)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        mse = total / max(1, len(order))
    autoencoder.eval()
    return {"final_mse": mse, "seconds": time.perf_counter() - started, "epochs": epochs}
