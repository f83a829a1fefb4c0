"""``reproduce``: run the parts of the chosen systems into ``<results>/reproduce-<quick|full>/``, then the scorecard.

Each part runs in its own folder (``<run>/<part>/``, kept between runs). A part that returned is cached there
(cache.py) and not rerun while its code and settings are unchanged, unless ``force``. Ctrl-C (SIGINT to the
process group) or SIGTERM stops the part under way at once; finished parts are kept, the scorecard of what
exists is written, and the exit code is 130 / 143; the same command resumes. A part that fails is recorded and
the others still run. The scorecard always covers every published figure: a part not run is "not run" rows.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import signal
import sys
import time
from pathlib import Path
from typing import Callable

from tqdm import tqdm

from harness.errors import HarnessError, SpecError
from harness.experiments.reproduce import cache, parts
from harness.experiments.reproduce.index import Outcome, parts_table, write_index, write_record
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.scorecard import score, summarise, summary_line, write_scorecard
from harness.experiments.reproduce.spec import ReproduceSpec
from harness.orchestration.running import INTERRUPTED_EXIT, TERMINATED_EXIT, StopSignals
from topo.network import Terminated

LOCK_FILE = ".lock"


def _say(message: str) -> None:
    tqdm.write(message, file=sys.stderr)


def _own_errors(err: BaseException) -> bool:
    return isinstance(err, (HarnessError, SpecError))


@contextlib.contextmanager
def folder_lock(run_dir: Path):
    """One ``reproduce`` writing into a folder at a time (another one would interleave parts and caches)."""
    fd = os.open(run_dir / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
        os.close(fd)
        raise HarnessError(f"another reproduce (pid {holder}) is writing into {run_dir}: wait for it, or give "
                           f"another --results-dir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, str(os.getpid()).encode(), 0)
    try:
        yield
    finally:
        os.close(fd)


def run_reproduce(spec: ReproduceSpec, progress: Callable[[str], None] = _say,
                  is_user_error: Callable[[BaseException], bool] = _own_errors) -> int:
    """Run ``spec``'s parts and write the scorecard; the exit code (0, 1 a part failed, 130 / 143 stopped).
    A part's bug is re-raised once everything else is written."""
    run_dir = spec.run_dir
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise HarnessError(f"cannot create {run_dir} ({err.strerror or err}): give a writable --results-dir") from None
    stops = StopSignals()
    with stops.active(), folder_lock(run_dir):
        progress(f"reproduce {spec.systems} ({spec.mode}): {run_dir}")
        selected = parts.parts_of(spec.systems)
        outcomes = {p.name: _unselected(p, spec, run_dir) for p in parts.PARTS if p not in selected}
        bug: BaseException | None = None
        failed, bar, current = [], None, None
        try:
            plan = _plan(selected, spec, run_dir, outcomes, progress)
            bar = tqdm(total=len(plan), desc="reproduce", unit="part", file=sys.stderr, dynamic_ncols=True,
                       disable=not plan)
            for part, module in plan:
                current = part
                bar.set_postfix_str(part.name)
                outcome, error = _run_one(part, module, spec, run_dir, progress, is_user_error)
                outcomes[part.name], current = outcome, None
                if outcome.status == "failed":
                    failed.append(outcome)
                    bug = bug or error
                _write_all(run_dir, spec, outcomes)
                bar.update(1)
        except (KeyboardInterrupt, Terminated) as stop:
            if current is not None:
                outcomes[current.name] = Outcome(current, "interrupted", version=parts.part_version(current),
                                                 why="interrupted by Ctrl-C; rerun to resume")
            stops.signal = stops.signal or (signal.SIGTERM if isinstance(stop, Terminated) else signal.SIGINT)
        finally:
            if bar is not None:
                bar.close()
            for part in selected:
                outcomes.setdefault(part.name, Outcome(part, "not started", why="the run was stopped before it"))
            summary = _write_all(run_dir, spec, outcomes)
    print(f"scorecard: {run_dir / 'scorecard.md'}")
    print(summary)
    if stops.signal is not None:
        progress(f"interrupted: kept the finished parts in {run_dir}; run the same command again to resume")
        return INTERRUPTED_EXIT if stops.signal == signal.SIGINT else TERMINATED_EXIT
    if bug is not None:
        raise bug
    return 1 if failed else 0


def _plan(selected, spec, run_dir, outcomes, progress) -> list:
    """(part, module) to run; the others settled now (not in the checkout, cached, needing root)."""
    plan, rooted = [], []
    for part in selected:
        try:
            module = parts.load_part(part)
        except parts.PartMissing as err:
            outcomes[part.name] = Outcome(part, "missing", why=str(err))
            continue
        cached = _valid_cache(part, spec, run_dir)
        if cached is not None and not spec.force:
            outcomes[part.name] = Outcome(part, "cached", cached.measured, cached.wall_s, version=cached.version)
            progress(f"{part.name}: cached from {cached.finished_utc} ({len(cached.measured)} figures; --force "
                     f"reruns it)")
        elif parts.needs_root(part, module) and os.geteuid() != 0:
            rooted.append(part)
            outcomes[part.name] = Outcome(part, "needs root", why=f"needs root for its network runs: sudo python "
                                                                  f"harness/run.py reproduce {part.system}")
        else:
            plan.append((part, module))
    if rooted:
        progress(f"note: not root: {', '.join(p.name for p in rooted)} build networks and need root (sudo python "
                 f"harness/run.py reproduce {spec.systems}); the other parts run now")
    return plan


def _valid_cache(part: parts.Part, spec: ReproduceSpec, run_dir: Path) -> cache.CachedPart | None:
    key = parts.cache_key(parts.part_version(part), parts.part_settings(spec.quick))
    cached = cache.read_cached(run_dir / part.name)
    return cached if cached is not None and cached.key == key else None


def _unselected(part: parts.Part, spec: ReproduceSpec, run_dir: Path) -> Outcome:
    cached = _valid_cache(part, spec, run_dir)
    if cached is not None:
        return Outcome(part, "cached", cached.measured, cached.wall_s, version=cached.version)
    return Outcome(part, "not selected", why=f"not selected: python harness/run.py reproduce {part.system} runs it")


def _run_one(part, module, spec, run_dir, progress, is_user_error) -> tuple[Outcome, BaseException | None]:
    """The part's outcome, and the exception of a bug in it (re-raised by the caller at the end)."""
    work_dir = run_dir / part.name
    work_dir.mkdir(exist_ok=True)
    version, settings = parts.part_version(part), parts.part_settings(spec.quick)
    started = time.monotonic()

    def say(message: str) -> None:
        progress(f"[{part.name} {time.monotonic() - started:4.0f} s] {message}")

    say(f"starting: {part.what} ({work_dir})")
    try:
        measured = _checked(part, module.run_part(work_dir, spec.quick, say))
    except (KeyboardInterrupt, Terminated):
        raise
    except Exception as err:  # noqa: BLE001 -- one part's failure must not lose the others
        wall_s = round(time.monotonic() - started, 2)
        if is_user_error(err):
            progress(f"error: part {part.name}: {err}")
            return Outcome(part, "failed", wall_s=wall_s, why=f"failed: {err}", version=version), None
        progress(f"part {part.name} failed with an internal error ({type(err).__name__}: {err}); the traceback "
                 f"follows once the scorecard is written")
        return Outcome(part, "failed", wall_s=wall_s, why=f"failed: internal error {type(err).__name__}",
                       version=version), err
    wall_s = time.monotonic() - started
    cached = cache.write_cached(work_dir, part.name, parts.cache_key(version, settings), version, settings,
                                measured, wall_s)
    say(f"done in {wall_s:.0f} s: {len(measured)} figures")
    return Outcome(part, "ran", cached.measured, cached.wall_s, version=version), None


def _checked(part: parts.Part, measured) -> list[Measured]:
    if not isinstance(measured, (list, tuple)) or not all(isinstance(m, Measured) for m in measured):
        raise TypeError(f"part {part.name}: run_part must return a list of Measured, got {type(measured).__name__}")
    return list(measured)


def _write_all(run_dir: Path, spec: ReproduceSpec, outcomes: dict[str, Outcome]) -> str:
    """The scorecard, the record and the index of what exists now; the summary line."""
    ordered = [outcomes[p.name] for p in parts.PARTS if p.name in outcomes]
    measured = [m for o in ordered for m in o.measured]
    rows, notes = score(measured, {o.part.name: o.why for o in ordered if o.why})
    title = f"Scorecard: reproduce {spec.systems} ({spec.mode})"
    write_scorecard(rows, notes, run_dir, title, preamble=["Parts:", "", *parts_table(ordered)])
    summary = summary_line(summarise(rows))
    write_record(run_dir, spec.to_dict(), ordered, summary)
    write_index(run_dir, f"reproduce {spec.systems} ({spec.mode})", summary, ordered)
    return summary
