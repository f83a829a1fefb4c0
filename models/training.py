"""Seeded, resumable training (System B recipe: SGD momentum 0.9, batch 32, lr 0.01 / 10 on plateau,
9:1 train/validation split, early stop, best-validation weights kept).

Determinism: the split, every epoch's shuffle and the dropout RNG derive from ``seed`` and the epoch number,
so a run resumed from its checkpoint ends with the same weights as one never interrupted (on CPU).
Checkpoints are state_dicts written via a temp file + ``os.replace`` and read with ``weights_only=True``.

Device: ``TrainSettings.device`` "auto" trains on CUDA when torch sees a GPU *and* a tiny op really runs there,
else on the CPU; the device used is in ``TrainReport.device`` and the model is handed back on the CPU, so the
ONNX export is the same either way (CUDA runs are not bit-reproducible). Threads: ``set_torch_threads``
makes the CPU thread count an explicit choice, and ``TrainReport.threads`` records it.

Subnormals: training runs with them flushed to zero (FTZ/DAZ, as TensorFlow does; ``models.numerics`` says why),
in a thread of its own that set the flush before its first op (``run_flushed``), so training times measure the
work and not the CPU's slow path for tiny floats; ``TrainReport.denormals_flushed`` records whether every thread
had it. Ctrl-C stops the training at its next batch.
"""
from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from models.datasets import ImageSet
from models.errors import SettingsError
from models.numerics import denormals_flushed, run_flushed, stop_if_asked
from models.preprocess import normalise

DEVICES = ("auto", "cpu", "cuda")
_cuda_usable: bool | None = None


def cuda_usable() -> bool:
    """True when torch sees a CUDA device and a tiny op really runs on it (probed once per process)."""
    global _cuda_usable
    if _cuda_usable is None:
        _cuda_usable = False
        try:
            if torch.cuda.is_available():
                _cuda_usable = float((torch.ones(2, device="cuda") * 2).sum().item()) == 4.0
        except Exception:  # noqa: BLE001 - any failure (driver, arch, memory) means "not usable"
            _cuda_usable = False
    return _cuda_usable


def training_device(device: str = "auto") -> torch.device:
    """The torch device ``device`` (auto | cpu | cuda) resolves to here; SettingsError if cuda is asked for and
    cannot run."""
    if device not in DEVICES:
        raise SettingsError(f"training device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cpu" or (device == "auto" and not cuda_usable()):
        return torch.device("cpu")
    if not cuda_usable():
        raise SettingsError("training device 'cuda' requested but torch cannot run on a GPU here; use auto or cpu")
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False  # repeatable convolutions
    return torch.device("cuda")


def set_torch_threads(threads: int | None = None) -> int:
    """Set torch's intra-op CPU threads (None: min(2, CPUs), this project's shared-machine default); returns it."""
    if threads is None:
        threads = min(2, os.cpu_count() or 1)
    if not isinstance(threads, int) or isinstance(threads, bool) or threads < 1:
        raise SettingsError(f"torch threads must be an integer >= 1, got {threads!r}")
    torch.set_num_threads(threads)
    return threads


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
    # A budget cut short of the plateau: the last ``final_lr_epochs`` epochs of ``max_epochs`` run at
    # lr / lr_divisor when the plateau rule has not divided it by then (0: never; the plateau rule alone).
    final_lr_epochs: int = 0
    validation_fraction: float = 0.1
    seed: int = 0
    device: str = "auto"  # auto (CUDA when it really runs, else CPU) | cpu | cuda; see training_device

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
            ("final_lr_epochs", 0 <= self.final_lr_epochs < self.max_epochs, "an integer >= 0 and < max_epochs"),
            ("validation_fraction", 0 < self.validation_fraction < 1, "in (0, 1)"),
            ("device", self.device in DEVICES, "one of " + ", ".join(DEVICES)),
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
    device: str = "cpu"  # where it trained
    threads: int = 1  # torch's intra-op CPU threads during the training
    denormals_flushed: bool = False  # every CPU thread read subnormals as zero (models.numerics)

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


def _model_device(model: nn.Module) -> torch.device:
    first = next(iter(model.parameters()), None)
    return first.device if first is not None else torch.device("cpu")


@torch.no_grad()
def predict_logits(model: nn.Module, x: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """``model`` over ``x`` in batches on the model's device; the result is on the CPU."""
    was_training = model.training
    device = _model_device(model)
    model.eval()
    try:
        return torch.cat([model(x[i:i + batch_size].to(device)).cpu() for i in range(0, len(x), batch_size)]) \
            if len(x) else torch.zeros((0, 10))
    finally:
        model.train(was_training)


def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(y) == 0:
        return float("nan")
    return float((predict_logits(model, x).argmax(1) == y).float().mean())


def _cpu_copy(state_dict: dict) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in state_dict.items()}


def _optimiser_to(optimiser: torch.optim.Optimizer, device: torch.device) -> None:
    """A resumed optimiser's state (momentum buffers) onto the training device."""
    for per_parameter in optimiser.state.values():
        for name, value in per_parameter.items():
            if isinstance(value, torch.Tensor):
                per_parameter[name] = value.to(device)


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
                     description: str = "train", on_progress: Callable[[str], None] | None = None,
                     progress_every_s: float = 20.0) -> TrainReport:
    """Train ``model`` (logits out) on (x, y), split 9:1 internally; ends with the best-validation weights.

    Only parameters with ``requires_grad`` are optimised (EdgeCNN1-k's shared block stays frozen).
    With ``checkpoint_path`` the state after each epoch is saved and a matching checkpoint is resumed.
    Trains on ``training_device(settings.device)`` (batches moved there) and returns the model on the CPU.
    ``on_progress(line)`` is called at most every ``progress_every_s`` (within an epoch too).
    Runs in a thread with subnormals flushed to zero (``models.numerics.run_flushed``).
    """
    return run_flushed(_train_classifier, model, x, y, settings, checkpoint_path=checkpoint_path, run_key=run_key,
                       progress=progress, description=description, on_progress=on_progress,
                       progress_every_s=progress_every_s)


def _train_classifier(model, x, y, settings, *, checkpoint_path, run_key, progress, description, on_progress,
                      progress_every_s, stop=None) -> TrainReport:
    device = training_device(settings.device)
    train_idx, val_idx = split_indices(len(y), settings.validation_fraction, settings.seed)
    x_train, y_train, x_val, y_val = x[train_idx], y[train_idx], x[val_idx], y[val_idx]
    model.to(device)
    parameters = [p for p in model.parameters() if p.requires_grad]
    if not parameters:
        raise SettingsError(f"{description}: model has no trainable parameters")
    optimiser = torch.optim.SGD(parameters, lr=settings.learning_rate, momentum=settings.momentum)
    loss_fn = nn.CrossEntropyLoss()
    # max_epochs and device are left out of the key: a finished run can be resumed with a larger budget,
    # or elsewhere (not with final_lr_epochs, whose drop is placed by the budget).
    left_out = ("device",) if settings.final_lr_epochs else ("max_epochs", "device")
    resumable = {k: v for k, v in asdict(settings).items() if k not in left_out}
    run_key = f"{run_key}|{sorted(resumable.items())}|{len(y)}"
    state = {"epoch": 0, "lr": settings.learning_rate, "best_val": -1.0, "bad_epochs": 0, "plateau_epochs": 0,
             "seconds": 0.0, "history": [], "stopped": ""}
    best_weights = _cpu_copy(model.state_dict())
    saved = _load_checkpoint(checkpoint_path, run_key)
    if saved is not None:
        model.load_state_dict(saved["model"])
        optimiser.load_state_dict(saved["optimiser"])
        _optimiser_to(optimiser, device)
        best_weights = saved["best_model"]
        state.update({k: saved[k] for k in state})
    started = time.perf_counter() - state["seconds"]
    said = time.perf_counter()

    def say(line: str) -> None:
        nonlocal said
        if on_progress is not None and time.perf_counter() - said >= progress_every_s:
            said = time.perf_counter()
            on_progress(f"{description}: {line}")
    bar = tqdm(total=settings.max_epochs, initial=state["epoch"], desc=description, unit="epoch",
               disable=not progress, leave=False, dynamic_ncols=True)
    try:
        while not state["stopped"]:
            epoch = state["epoch"]
            if epoch >= settings.max_epochs:
                state["stopped"] = "max_epochs"
                break
            if (settings.final_lr_epochs and epoch >= settings.max_epochs - settings.final_lr_epochs
                    and state["lr"] >= settings.learning_rate * (1 - 1e-9)):
                state["lr"] /= settings.lr_divisor
                state["plateau_epochs"] = 0
                by_budget = True
            else:
                by_budget = False
            for group in optimiser.param_groups:
                group["lr"] = state["lr"]
            torch.manual_seed(settings.seed * 100_003 + epoch)
            order = torch.from_numpy(np.random.default_rng([settings.seed, epoch]).permutation(len(y_train)))
            model.train()
            total_loss = 0.0
            for start in range(0, len(order), settings.batch_size):
                stop_if_asked(stop, description)
                batch = order[start:start + settings.batch_size]
                loss = loss_fn(model(x_train[batch].to(device)), y_train[batch].to(device))
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                total_loss += float(loss.detach()) * len(batch)
                say(f"epoch {epoch + 1}/{settings.max_epochs}, {start + len(batch)}/{len(order)} images")
            train_loss = total_loss / max(1, len(order))
            if not math.isfinite(train_loss):
                state["stopped"] = "diverged"
            val_acc = accuracy(model, x_val, y_val)
            state["epoch"] = epoch + 1
            state["history"].append({"epoch": epoch + 1, "lr": state["lr"], "train_loss": train_loss,
                                     "validation_accuracy": val_acc, **({"lr_by_budget": True} if by_budget else {})})
            if val_acc > state["best_val"]:
                state["best_val"], state["bad_epochs"], state["plateau_epochs"] = val_acc, 0, 0
                best_weights = _cpu_copy(model.state_dict())
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
            say(f"epoch {epoch + 1}/{settings.max_epochs} done, validation accuracy {val_acc:.3f}")
            bar.set_postfix(loss=f"{train_loss:.3f}", val=f"{val_acc:.3f}", lr=f"{state['lr']:.0e}")
            if checkpoint_path is not None:
                _save_atomic({"run_key": run_key, "model": _cpu_copy(model.state_dict()),
                              "optimiser": optimiser.state_dict(), "best_model": best_weights, **state},
                             checkpoint_path)
    finally:
        bar.close()
        model.to("cpu")
    model.load_state_dict(best_weights)
    model.eval()
    return TrainReport(state["best_val"], state["epoch"], time.perf_counter() - started, state["stopped"],
                       state["history"], device.type, torch.get_num_threads(), denormals_flushed())
