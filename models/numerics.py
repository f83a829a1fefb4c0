"""Subnormal floats flushed to zero (FTZ/DAZ) in the CPU threads that train, as TensorFlow does.

On x86 an arithmetic instruction that meets a subnormal float (below 1.2e-38 in FP32) takes a slow microcode path,
tens of times slower. Training produces them (momentum buffers and gradients that decay towards zero), so without
FTZ/DAZ the same arithmetic takes a time that depends on the values: System A's classifier on the 3,072 raw
Fashion-MNIST values trained 15 epochs in 26.3 s, and in 11.5 s with subnormals flushed, to the same accuracy
(83.71 %), while the same network on centred inputs took 10.7 s either way. A training-time figure would then
measure the CPU's subnormal handling, not the work. TensorFlow (Keras, the seeds' framework) sets FTZ/DAZ in every
thread it computes on; PyTorch leaves them off, and ``torch.set_flush_denormal`` sets them only in the calling
thread. New threads inherit the creating thread's floating-point state, and torch's intra-op threads (OpenMP) are
started once per thread that first runs a parallel op: a flush after that reaches the calling thread only. So
``run_flushed`` runs the training in a new thread that flushes before its first op: its own intra-op threads start
after the flush and have it, whatever the process computed before (a network run's ONNX export, say).
``denormals_flushed`` checks, across the calling thread's intra-op threads, that it worked.
Importing this module imports nothing heavy (``KEY`` is read where torch is not loaded).
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

KEY = ("denormals", "flushed in the training thread")  # keys cached training results made under run_flushed
SUBNORMAL_BITS = 1 << 20   # an FP32 bit pattern with a zero exponent: a subnormal (1.47e-39), made without arithmetic
_CHECK_ELEMENTS = 1 << 20  # large enough for torch to split an element-wise op over its intra-op threads
T = TypeVar("T")
_POLL_S = 0.1  # how often the caller wakes to take a signal (Ctrl-C) while the training thread runs


def flush_denormals() -> bool:
    """FTZ/DAZ on in this thread (and the threads it starts from now on); False where the CPU has no such mode."""
    import torch

    return bool(torch.set_flush_denormal(True))


def denormals_flushed() -> bool:
    """True when every intra-op thread that computed an element-wise op over ``_CHECK_ELEMENTS`` subnormals read
    them as zero: the state the training's threads run in. False where any thread kept one: FTZ/DAZ was set after
    torch had started its threads (or the CPU has no such mode)."""
    import torch

    values = torch.full((_CHECK_ELEMENTS,), SUBNORMAL_BITS, dtype=torch.int32).view(torch.float32)
    return bool(torch.count_nonzero(values * 1.0) == 0)


def run_flushed(work: Callable[..., T], /, *args, **kwargs) -> T:
    """``work(*args, stop=event, **kwargs)`` in a new thread with FTZ/DAZ set before its first op and the caller's
    torch thread count and grad mode; returns its result, or raises its exception, here.

    ``stop`` is a ``threading.Event`` set when this thread is interrupted (Ctrl-C) while waiting: ``work`` checks it
    between steps and returns or raises soon, so nothing keeps computing after the interrupt is re-raised here."""
    import torch

    threads, grad, stop, done = torch.get_num_threads(), torch.is_grad_enabled(), threading.Event(), threading.Event()
    outcome: dict = {}

    def body() -> None:
        try:
            flush_denormals()
            torch.set_num_threads(threads)
            torch.set_grad_enabled(grad)
            outcome["value"] = work(*args, stop=stop, **kwargs)
        except BaseException as error:  # noqa: BLE001 - handed to the caller, who raises it
            outcome["error"] = error
        finally:
            done.set()

    thread = threading.Thread(target=body, name="flushed-training", daemon=True)
    thread.start()
    # Waits on an Event in short steps, not in Thread.join: a signal may land in the other thread, and an
    # interrupted join can leave the thread marked stopped while it runs (then the process exits under it).
    try:
        while not done.wait(_POLL_S):
            pass
    except BaseException:
        stop.set()
        while not done.wait(_POLL_S):
            pass
        thread.join()
        raise
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def stop_if_asked(stop: threading.Event | None, description: str) -> None:
    """Raise KeyboardInterrupt in ``run_flushed``'s thread once its caller was interrupted (``stop`` set)."""
    if stop is not None and stop.is_set():
        raise KeyboardInterrupt(f"{description}: interrupted")
