"""How every experiment runs once its inputs are checked: ``run_with_lock``.

``run_with_lock`` is the one way every experiment runs (compare, sweep, replay, collaborate, features):
under the machine's run lock it makes the run's own folder first, executes into it, and in a ``finally``
settles the status in experiment.json ("complete", "interrupted" after Ctrl-C / SIGTERM, "failed" with
the error) and analyses what finished, so every run that started leaves a report.
"""
from __future__ import annotations

import contextlib
import json
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.orchestration.results import new_run_dir, utc_stamp, write_json_atomically
from topo.network import Terminated
from topo.run_lock import exclusive_run

INTERRUPTED_EXIT, TERMINATED_EXIT = 130, 143
REPEAT_STOP_AFTER_S = 15.0  # a second Ctrl-C within this is ignored (the stop is under way), later it counts

def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class StopSignals:
    """While active, the first SIGINT raises KeyboardInterrupt and the first SIGTERM raises Terminated in the
    main thread, and the instant is kept; a repeat within REPEAT_STOP_AFTER_S is ignored, so the stop that is
    under way (workload, nodes, captures, rows, network) is not cut short."""

    def __init__(self):
        self.signal: int | None = None
        self.at_ns: int | None = None

    def _on_signal(self, signum, _frame) -> None:
        if self.at_ns is not None and time.monotonic_ns() - self.at_ns < REPEAT_STOP_AFTER_S * 1e9:
            return
        self.signal = self.signal or signum
        self.at_ns = time.monotonic_ns()
        raise KeyboardInterrupt() if signum == signal.SIGINT else Terminated()

    @contextlib.contextmanager
    def active(self):
        saved = {s: signal.signal(s, self._on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield self
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)


def run_with_lock(experiment: str, results_dir: str | Path, execute: Callable[[Path], None],
                  analyse: Callable[[Path], object], incomplete_hint: str = "",
                  analyse_when_stopped: bool = True) -> int:
    """``execute(run_dir)`` under the run lock, then ``analyse(run_dir)`` whatever happened; the exit code.

    0: complete; 130 / 143: stopped by SIGINT / SIGTERM (every finished row kept, report of what finished;
    with ``analyse_when_stopped`` False, for analyses that take minutes, the line says how to make it);
    1: ended with another status (``incomplete_hint`` says what may help), or its analysis failed (the rows are
    kept; ``report`` makes it again). Any other exception is re-raised after the report is written."""
    stops = StopSignals()
    with stops.active():
        with exclusive_run():
            run_dir = _make_run_dir(Path(results_dir), experiment)
            _say(f"results: {run_dir}")
            error: BaseException | None = None
            try:
                execute(run_dir)
            except BaseException as exc:  # noqa: BLE001 -- settled below, re-raised unless it was a stop
                error = exc
            status = _settle_status(run_dir, experiment, stops, error)
        report_error = ""
        if stops.signal is None or analyse_when_stopped:
            if stops.signal is not None:
                _say("interrupted: kept every finished request; writing the report of what finished")
            report_error = _analyse(run_dir, analyse)
        else:
            _say(f"interrupted: kept what finished; 'python harness/run.py report {run_dir}' makes its report")
    if stops.signal is not None:
        print(f"results: {run_dir} (status: interrupted)")
        return INTERRUPTED_EXIT if stops.signal == signal.SIGINT else TERMINATED_EXIT
    if error is not None:
        raise error
    print(f"results: {run_dir}")
    if report_error:  # the rows are kept, but a run without its analysis is not a finished run
        _say(f"error: the run ended with status {status!r} but its analysis failed ({report_error}); "
             f"'python harness/run.py report {run_dir}' makes it again")
        return 1
    print(f"report:  {run_dir / 'report.md'}")
    if status != "complete":
        _say(f"error: the run ended with status {status!r} (see {run_dir / 'report.md'})"
             + (f"; {incomplete_hint}" if incomplete_hint else ""))
        return 1
    return 0


def _make_run_dir(results_dir: Path, experiment: str) -> Path:
    try:
        return new_run_dir(results_dir, experiment)
    except OSError as err:
        raise HarnessError(f"cannot create a run folder in {results_dir} ({err.strerror or err}): "
                           f"give a writable --results-dir") from None


def _settle_status(run_dir: Path, experiment: str, stops: StopSignals, error: BaseException | None) -> str:
    """experiment.json's final status: a stop signal wins over whatever it caused (a workload that died of it)."""
    path = run_dir / "experiment.json"
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        record = {"experiment": experiment, "started_utc": None}  # it failed before writing its record
    if stops.signal is not None or isinstance(error, (KeyboardInterrupt, Terminated)):
        record["status"] = "interrupted"
        record["stopped_by"] = signal.Signals(stops.signal).name if stops.signal else type(error).__name__
    elif error is not None:
        record["status"] = "failed"
        record["error"] = str(error) or type(error).__name__
    record.setdefault("status", "failed")
    record["finished_utc"] = record.get("finished_utc") or utc_stamp()
    write_json_atomically(path, record)
    return record["status"]


def _analyse(run_dir: Path, analyse: Callable[[Path], object]) -> str:
    """The report of what finished; a run that left too little to analyse says so in one line. Returns why the
    analysis failed ("" when it did not)."""
    try:
        analyse(run_dir)
    except (KeyboardInterrupt, Terminated):
        raise
    except Exception as err:  # noqa: BLE001 -- the run's own outcome is settled first; the exit code says this
        _say(f"report: not written ({type(err).__name__}: {err})")
        return f"{type(err).__name__}: {err}"
    return ""
