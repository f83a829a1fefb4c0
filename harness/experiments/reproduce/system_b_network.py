"""``reproduce``'s System B network part: compare (edge vs cloud, System B's sizes) over the radio models
``lte`` and ``wifi`` (topo/emulator/radio/) with the default node compute budgets, on the fitted WAN of
``scenarios/system-b.toml``, set beside the published figures.

Two figures were fitted (``system_b_network_fit``: LTE upload 512K, LTE response 60K), so those come back
with basis "fitted"; the WiFi response is "predicted"; the inference figure is "measured". One compare run
per access network is a checkpoint: a run folder under ``work_dir/runs/<access>-<profile hash>-<mode>-<scenario hash>``
whose experiment.json says complete is reused, so a re-run after Ctrl-C redoes only the access that had not
finished. Writes network.csv, response_vs_size.png, upload_vs_size.png and fit.json into ``work_dir``; fit.json's
``inference_probe`` is the served models timed warm and after an idle gap (``system_b_network_probe``).
"""
from __future__ import annotations

import csv
import hashlib
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from models.errors import ModelError
from harness.experiments.reproduce.measured import Measured
from harness.experiments.reproduce.system_b_network_inference import (BUDGET_NOTE, compute_note, depends_on_size,
                                                                    fixed_cost_text, inference_by_size, size_effect)
from harness.experiments.reproduce.system_b_network_probe import probe_run, probe_text
from harness.experiments.reproduce.system_b_network_fit import (cells_from_summary, fit_wan,
                                                              model_for, read_calibration, write_calibration)
from harness.experiments.reproduce.system_b_network_report import (changes, find, pooled_change, values_by_cell,
                                                                 write_figures, write_network_csv)
from harness.experiments.reproduce.system_b_network_scenario import SCENARIO_PATH, load_scenario, plausibility
from harness.repo_paths import REPO_ROOT

CALIBRATION_PATH = REPO_ROOT / "scenarios" / "system-b-calibration.csv"
HEARTBEAT_S = 20.0

@dataclass(frozen=True)
class PartSettings:
    accesses: tuple[str, ...]
    sizes: tuple[str, ...]
    repetitions: int
    calibrate_seconds: float = 1.0
    models_dir: str = ""            # "" = the default model set

    def __post_init__(self):
        if not self.accesses or not self.sizes or self.repetitions < 1:
            raise ValueError("settings need accesses, sizes and repetitions >= 1")
        if "60K" not in self.sizes or "512K" not in self.sizes or "lte" not in self.accesses:
            raise ValueError("the fitted figures need lte and the sizes 60K and 512K")


QUICK = PartSettings(("lte", "wifi"), ("60K", "124K", "256K", "512K", "1024K"), repetitions=8)
FULL = PartSettings(("lte", "wifi"), ("60K", "124K", "256K", "512K", "1024K", "2048K", "4096K"), repetitions=20)


def _spec(settings: PartSettings, access: str, scenario: Path, results_dir: Path):
    from harness.experiments.compare.spec import ExperimentSpec
    return ExperimentSpec(accesses=(access,), placements=("edge", "cloud"), sizes=settings.sizes,
                          repetitions=settings.repetitions, wan=str(scenario), capture=False,
                          calibrate_seconds=settings.calibrate_seconds, models_dir=settings.models_dir,
                          results_dir=str(results_dir))


def _complete_run(folder: Path) -> Path | None:
    """The newest run folder in ``folder`` that finished and was analysed, or None."""
    for run in sorted(folder.glob("*-compare"), reverse=True):
        try:
            status = json.loads((run / "experiment.json").read_text()).get("status")
        except (OSError, ValueError):
            continue
        if status == "complete" and (run / "summary.csv").is_file() and (run / "requests.csv").is_file():
            return run
    return None


class _Heartbeat:
    """A progress line every HEARTBEAT_S while a run goes: the requests finished so far (rows on disk)."""

    def __init__(self, folder: Path, access: str, total: int, progress: Callable[[str], None]):
        self.folder, self.access, self.total, self.progress = folder, access, total, progress
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

    def _beat(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            done = sum(max(0, len(p.read_text(errors="replace").splitlines()) - 1)
                       for p in self.folder.glob(f"*-compare/logs/{self.access}/device-*.csv"))
            self.progress(f"system-b network [{self.access}]: {done} of {self.total} requests")

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=2)


def _run_access(settings: PartSettings, access: str, scenario: Path, folder: Path, progress) -> Path:
    """The complete compare run of one access network: reused when it exists, else run now."""
    done = _complete_run(folder)
    if done is not None:
        progress(f"system-b network [{access}]: reusing {done.name}")
        return done
    from harness.analysis.report import analyse_run
    from harness.experiments.compare.command import check_experiment
    from harness.experiments.compare.run import execute
    from harness.orchestration.model_set import models_for
    from harness.orchestration.running import INTERRUPTED_EXIT, TERMINATED_EXIT, run_with_lock

    spec = _spec(settings, access, scenario, folder)
    backend = check_experiment(spec)           # root, tools, profiles: one line if one is missing
    models_dir = models_for(spec.models_dir)
    folder.mkdir(parents=True, exist_ok=True)
    total = 2 * len(settings.sizes) * settings.repetitions
    progress(f"system-b network [{access}]: {total} requests on the fitted WAN ({backend} links)")
    with _Heartbeat(folder, spec.accesses[0], total, progress):
        code = run_with_lock("compare", folder, lambda run_dir: execute(spec, models_dir, run_dir, backend, progress),
                             lambda run_dir: analyse_run(run_dir, progress=lambda _: None))
    if code in (INTERRUPTED_EXIT, TERMINATED_EXIT):
        raise KeyboardInterrupt()
    run = _complete_run(folder)
    if code != 0 or run is None:
        raise HarnessError(f"system-b network: the {access} compare run in {folder} did not complete (exit {code}); "
                           "see its report.md")
    return run


def _read_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def _ci_text(change) -> str:
    if change.ci_low_pct is None:
        return "no CI (fewer than 2 requests a side)"
    return f"95% CI {change.ci_low_pct:+.1f}..{change.ci_high_pct:+.1f}%"


def _measured(key: str, change, basis: str, detail: str) -> Measured:
    if change is None:
        return Measured(key, None, basis="not run", detail=detail)
    return Measured(key, round(change.change_pct, 2), None if change.ci_half_width is None else
                    round(change.ci_half_width, 2), min(change.n_edge, change.n_cloud), "% change", basis, detail)


def figures_of(found: list, model, wan, refit, compute: str = BUDGET_NOTE, inference=None,
               radio: str = "", probe: str = "", effect: dict | None = None) -> list[Measured]:
    """The four B network figures from the measured changes, the fitted model and this run's refit;
    ``inference``: the LTE inference change pooled over the sizes, the figure when ``effect`` (``size_effect``)
    finds no size dependence, else set beside the 60K cell's; ``radio``: what the
    model measured of the access radios (system_b_network_radio); ``probe``: the served models timed warm and
    after an idle gap (system_b_network_probe.probe_text)."""
    rate, delay = wan.up.rate_bps / 1e6, wan.up.delay_ms
    fitted = (f"the WAN (uplink {rate:.3f} Mbit/s, one-way delay {delay:.2f} ms) was solved for this figure"
              + (f" on the radio models ({radio})" if radio else "") + f"; beside public measurements, "
              f"{plausibility(rate, delay)}")
    refit_text = (f"; a refit on this run's own times gives {refit.rate_mbps:.3f} Mbit/s, {refit.delay_ms:.2f} ms"
                  if refit else "")
    out = []
    for key, metric, size, label in (("b.lte.response.60k", "response_ms", 60 * 1024, "response"),
                                     ("b.lte.upload.512k", "upload_ms", 512 * 1024, "upload")):
        c = find(found, "lte", metric, size)
        detail = (f"Fitted: {fitted}; measured on the emulated network, LTE {label} at {size // 1024}K is edge "
                  f"{c.edge_ms:.1f} ms vs cloud {c.cloud_ms:.1f} ms ({c.cloud_ms / c.edge_ms:.2f}x), "
                  f"{_ci_text(c)}{refit_text}.") if c else f"Not run: no LTE {label} at {size // 1024}K was measured."
        out.append(_measured(key, c, "fitted", detail))
    cell = find(found, "lte", "inference_ms", 60 * 1024)
    pool = inference is not None and effect is not None and not depends_on_size(effect)
    c = inference if pool else cell
    where = ("pooled over the LTE sizes (the same resized input)" if pool else "at LTE 60K (the published size)")
    out.append(_measured("b.lte.inference.60k", c, "measured", (
        f"Server-side inference medians {where}: EdgeCNN1-3 {c.edge_ms:.2f} ms (edge) vs "
        f"CloudCNN {c.cloud_ms:.2f} ms (cloud), {_ci_text(c)}; {compute}{inference_by_size(found, inference, effect)}"
        f"{probe}{fixed_cost_text(c.edge_ms, c.cloud_ms)}.") if c else "Not run: no LTE 60K inference."))
    c = find(found, "wifi", "response_ms", 60 * 1024)
    if c is None:
        out.append(Measured("b.wifi.response", None, basis="not run", detail="Not run: no WiFi response at 60K."))
        return out
    span = [x.change_pct for x in found if x.access == "wifi" and x.metric == "response_ms"]
    lte = find(found, "lte", "response_ms", 60 * 1024)
    model_pct = model(c.access, c.metric, c.size_bytes)
    out.append(_measured("b.wifi.response", c, "predicted", (
        f"Predicted at 60K (the seeds give no size): edge {c.edge_ms:.1f} ms vs cloud {c.cloud_ms:.1f} ms, "
        f"{_ci_text(c)}; over {len(span)} sizes {min(span):+.1f}..{max(span):+.1f}%"
        + (f"; the fitted model said {model_pct:+.1f}%" if model_pct is not None else "")
        + (f". The same WAN adds {c.cloud_ms - c.edge_ms:.0f} ms to WiFi's cloud path and "
           f"{lte.cloud_ms - lte.edge_ms:.0f} ms to LTE's at 60K, over an edge time of {c.edge_ms:.0f} vs "
           f"{lte.edge_ms:.0f} ms: with one WAN for both, WiFi's reduction cannot be smaller than LTE's "
           f"{lte.change_pct:+.1f}%" if lte else "") + ".")))
    return out


def scenario_hash(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:12]


def access_hash(access: str) -> str:
    """A short hash of the access profile's values: a run on another profile (the old pipes) is not reused."""
    from topo.profiles import load_profile
    profile = load_profile(access)
    text = json.dumps({"up": profile.up.to_dict(), "down": profile.down.to_dict()}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def run_part(work_dir: Path, quick: bool, progress: Callable[[str], None], settings: PartSettings | None = None,
             scenario: Path = SCENARIO_PATH, calibration: Path = CALIBRATION_PATH) -> list[Measured]:
    """Run (or reuse) one compare run per access on the fitted WAN; the B network figures (module doc)."""
    work_dir = Path(work_dir)
    settings = settings or (QUICK if quick else FULL)
    wan = load_scenario(scenario)                         # a bad scenario: one line, before anything is built
    cells = read_calibration(calibration)
    model = model_for(cells, wan)
    rate, delay = wan.up.rate_bps / 1e6, wan.up.delay_ms
    tag = f"{'quick' if quick else 'full'}-{scenario_hash(scenario)}"
    rows, summaries, runs = [], [], {}
    for access in settings.accesses:
        run = runs[access] = _run_access(settings, access, Path(scenario),
                                         work_dir / "runs" / f"{access}-{access_hash(access)}-{tag}", progress)
        rows += _read_csv(run / "requests.csv")
        summaries += _read_csv(run / "summary.csv")
    progress("system-b network: analysing (bootstrap CIs, figures)")
    cells_measured = values_by_cell(rows)
    found = changes(cells_measured)
    sizes_modelled = {(a, s) for a in model.accesses for s in model.sizes(a)}

    def model_change(access, metric, size):
        return model.change_pct(rate, delay, access, metric, size) if (access, size) in sizes_modelled else None

    def model_time(access, placement, size, metric):
        return model.predict(rate, delay, access, placement, size)[metric] if (access, size) in sizes_modelled \
            else None

    write_network_csv(work_dir / "network.csv", found, model_change)
    write_figures(work_dir, cells_measured, model_time)
    own = cells_from_summary(summaries, "this part's runs", (rate, delay))
    write_calibration(own, work_dir / "calibration.csv")
    try:
        refit = fit_wan(model_for(own, wan))
    except HarnessError:
        refit = None
    probe = None
    if "lte" in runs:
        from harness.orchestration.model_set import models_for
        progress("system-b network: timing the served models warm and after an idle gap (the inference ratio)")
        try:
            probe = probe_run(runs["lte"], "lte", lambda: models_for(settings.models_dir))
        except (HarnessError, ModelError, OSError) as err:   # the figures stand without it; say why it is missing
            progress(f"system-b network: the inference probe did not run ({err})")
    (work_dir / "fit.json").write_text(json.dumps({
        "scenario": str(scenario), "scenario_sha256_12": scenario_hash(scenario), "calibration": str(calibration),
        "wan_uplink_mbps": rate, "wan_delay_ms": delay,
        "radio_lines": [line.to_dict() for line in model.lines.values()],
        "refit_on_this_run": None if refit is None else {"rate_mbps": refit.rate_mbps, "delay_ms": refit.delay_ms,
                                                         "converged": refit.converged},
        "settings": {"accesses": settings.accesses, "sizes": settings.sizes, "repetitions": settings.repetitions},
        "inference_probe": probe}, indent=2) + "\n")
    lte_line = model.lines.get("lte")
    return figures_of(found, model_change, wan, refit, compute_note(runs.get("lte")),
                      pooled_change(cells_measured, "lte", "inference_ms", 60 * 1024),
                      lte_line.text() if lte_line else "", probe_text(probe), size_effect(cells_measured))


def main(argv=None) -> int:
    """Only this part, into a folder: the calibration run of scenarios/README.md (needs root)."""
    import argparse
    import sys

    from topo.errors import TopoError
    parser = argparse.ArgumentParser(prog="python -m harness.experiments.reproduce.system_b_network",
                                     description="Run reproduce's System B network part alone (e.g. to calibrate).")
    parser.add_argument("work_dir", type=Path, help="the part's folder; finished runs in it are reused")
    parser.add_argument("--quick", action="store_true", help="the quick plan (5 sizes x 8 requests)")
    args = parser.parse_args(argv)
    try:
        found = run_part(args.work_dir, args.quick, lambda line: print(line, file=sys.stderr, flush=True))
    except (HarnessError, TopoError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    for m in found:
        print(f"{m.key}: {m.ours} ({m.basis}) {m.detail}")
    print(f"calibration extract: {args.work_dir / 'calibration.csv'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
