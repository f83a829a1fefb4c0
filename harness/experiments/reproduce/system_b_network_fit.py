"""Fit System B's WAN to two published figures, and predict the others, with a model one can state.

The model of one cell (access x placement x image size), a median request on a kept-alive connection:

    response_ms = network_ms(path) + server_ms + response_residual_ms
    upload_ms   = upload_ms(path) + upload_residual_ms

- ``network_ms`` / ``upload_ms`` are the floor of ``harness.analysis.floor`` (serialisation at the path's
  bottleneck, one-way delays) on a path whose access uplink is the radio *as it delivers*
  (``system_b_network_radio``: the delivered rate and the once-per-upload access time, measured from the
  calibration's edge cells), not the floor's peak-rate radio; the path is the access link plus the LAN (edge)
  or the WAN (cloud);
- ``server_ms`` and the residuals (what that model and the server leave: the radio's downlink, client, TCP,
  queueing) are measured medians of a calibration run (summary.csv of a compare run on the radio profiles
  ``lte`` / ``wifi``), one per cell, taken against the WAN that cell was measured on (the calibration's
  ``wan_up_mbps`` / ``wan_delay_ms`` columns).

The WAN has two free values, its uplink rate (device -> cloud direction) and its one-way delay (the same
both ways). They are solved so that the model gives exactly the two fitted figures (LTE upload at 512K,
LTE response at 60K, edge vs cloud); every other figure is then a prediction. Its downlink rate is not
fitted: the replies are ~700 bytes, so it moves no figure (it sets only how fast the edge downloads its
models at start).

    python -m harness.experiments.reproduce.system_b_network_fit CALIBRATION.csv [--write scenarios/system-b.toml]

reads a calibration (a run's summary.csv, or the extract the part writes), prints the fit and the
predictions, and with ``--write`` rewrites the fitted values in the scenario file (comments kept).
"""
from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

from harness.analysis.floor import MSS_BYTES, SEGMENT_HEADER_BYTES, path_of, request_floor
from harness.errors import HarnessError
from harness.experiments.reproduce.system_b_network_radio import AccessLine, measure_access, radio_path
from topo.profiles import LinkProfile, ProfileError, load_profile

# The two published figures the WAN is fitted to: (access, metric, size_bytes, change_pct edge vs cloud).
FIT_TARGETS = (("lte", "upload_ms", 512 * 1024, -55.42), ("lte", "response_ms", 60 * 1024, -55.08))
RATE_BOUNDS_MBPS = (0.1, 1000.0)
DELAY_BOUNDS_MS = (0.0, 500.0)
CALIBRATION_FIELDS = ("access", "placement", "size_bytes", "request_payload_bytes", "reply_payload_bytes",
                      "server_ms", "response_ms", "upload_ms", "response_residual_ms", "upload_residual_ms",
                      "wan_up_mbps", "wan_delay_ms")


@dataclass(frozen=True)
class Cell:
    """One measured cell of the calibration, reduced to what the model needs."""
    access: str
    placement: str
    size_bytes: int
    request_payload_bytes: float
    reply_payload_bytes: float
    server_ms: float
    response_ms: float               # the measured medians (kept to compare the model with)
    upload_ms: float
    response_residual_ms: float      # against the summary's floor (peak-rate radio), as summary.csv has them
    upload_residual_ms: float
    wan_up_mbps: float               # the WAN the cell was measured on (the cloud cells' residuals depend on it)
    wan_delay_ms: float

    def __post_init__(self):
        if self.placement not in ("edge", "cloud"):
            raise ValueError(f"calibration cell placement must be edge or cloud, got {self.placement!r}")
        for name in ("request_payload_bytes", "reply_payload_bytes", "server_ms", "response_ms", "upload_ms",
                     "wan_up_mbps", "wan_delay_ms"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0) or (name == "wan_up_mbps" and value <= 0):
                raise ValueError(f"calibration cell {self.access}/{self.placement}/{self.size_bytes}: "
                                 f"{name} {value!r} must be a finite number >= 0")


@dataclass(frozen=True)
class WanFit:
    rate_mbps: float                 # uplink (device -> cloud) rate of the WAN
    delay_ms: float                  # one-way delay, each direction
    target_errors_points: tuple[float, ...]   # model minus published at each FIT_TARGETS, after the fit
    converged: bool

    @property
    def rtt_ms(self) -> float:
        return 2 * self.delay_ms


def payload_of_wire(wire_bytes: float) -> float:
    """The TCP payload of ``wire_bytes`` IP bytes sent in full-size segments (the inverse of floor.wire_bytes)."""
    segments = max(1, math.ceil(wire_bytes / (MSS_BYTES + SEGMENT_HEADER_BYTES)))
    return max(0.0, wire_bytes - SEGMENT_HEADER_BYTES * segments)


def _profile_dict(profile: LinkProfile) -> dict:
    return {"up": profile.up.to_dict(), "down": profile.down.to_dict()}


def wan_with(wan: LinkProfile, rate_mbps: float, delay_ms: float) -> LinkProfile:
    """``wan`` with its uplink rate and both one-way delays replaced (the downlink rate stays)."""
    return wan.replace(up=dataclasses.replace(wan.up, rate_bps=rate_mbps * 1e6, delay_ms=delay_ms),
                       down=dataclasses.replace(wan.down, delay_ms=delay_ms))


class NetworkModel:
    """Predicted medians of every calibrated cell for a candidate WAN (see the module's doc)."""

    def __init__(self, cells: list[Cell], accesses: dict[str, LinkProfile], lan: LinkProfile, wan: LinkProfile):
        self.cells = {(c.access, c.placement, c.size_bytes): c for c in cells}
        self.accesses, self.lan, self.wan = accesses, lan, wan
        missing = sorted({c.access for c in cells} - set(accesses))
        if missing:
            raise HarnessError(f"calibration has access {missing[0]!r} but no profile was given for it")
        self.lines: dict[str, AccessLine] = {
            a: measure_access(a, accesses[a], [c for c in cells if c.access == a and c.placement == "edge"])
            for a in sorted({c.access for c in cells})}
        self._residuals = {key: self._residuals_of(c) for key, c in self.cells.items()}

    def _cell(self, access: str, placement: str, size_bytes: int) -> Cell:
        cell = self.cells.get((access, placement, size_bytes))
        if cell is None:
            raise HarnessError(f"the calibration has no {placement} cell for {access} at {size_bytes} bytes: "
                               "calibrate with a run that measured it")
        return cell

    def _core(self, cell: Cell, rate_mbps: float, delay_ms: float) -> dict:
        """The network part of the cell's times over a WAN of ``rate_mbps`` / ``delay_ms`` (no residuals)."""
        wan = wan_with(self.wan, rate_mbps, delay_ms)
        profiles = {cell.access: _profile_dict(self.accesses[cell.access]), "lan": _profile_dict(self.lan),
                    "wan": _profile_dict(wan)}
        path, notes = path_of(cell.placement, cell.access, profiles)
        if path is None:
            raise HarnessError(f"no network floor for {cell.placement} over {cell.access}: {'; '.join(notes)}")
        link = (wan if cell.placement == "cloud" else self.lan).up.rate_bps
        floor = request_floor(radio_path(path, self.lines[cell.access], link), cell.request_payload_bytes,
                              cell.reply_payload_bytes, "warm")
        return {"response_ms": floor["network_floor_ms"] + cell.server_ms, "upload_ms": floor["upload_floor_ms"]}

    def _residuals_of(self, cell: Cell) -> dict:
        core = self._core(cell, cell.wan_up_mbps, cell.wan_delay_ms)
        return {"response_ms": cell.response_ms - core["response_ms"], "upload_ms": cell.upload_ms - core["upload_ms"]}

    def predict(self, rate_mbps: float, delay_ms: float, access: str, placement: str, size_bytes: int) -> dict:
        cell = self._cell(access, placement, size_bytes)
        core, residual = self._core(cell, rate_mbps, delay_ms), self._residuals[(access, placement, size_bytes)]
        return {metric: core[metric] + residual[metric] for metric in ("response_ms", "upload_ms")}

    def residual(self, access: str, placement: str, size_bytes: int) -> dict:
        """What the model leaves of the cell's measured medians (response_ms, upload_ms) on its own WAN."""
        return dict(self._residuals[(access, placement, size_bytes)])

    def change_pct(self, rate_mbps: float, delay_ms: float, access: str, metric: str, size_bytes: int) -> float:
        edge = self.predict(rate_mbps, delay_ms, access, "edge", size_bytes)[metric]
        cloud = self.predict(rate_mbps, delay_ms, access, "cloud", size_bytes)[metric]
        return (edge - cloud) / cloud * 100.0

    def sizes(self, access: str) -> list[int]:
        return sorted({s for (a, p, s) in self.cells if a == access and p == "edge"
                       and (a, "cloud", s) in self.cells})


def fit_wan(model: NetworkModel, targets=FIT_TARGETS) -> WanFit:
    """The WAN uplink rate and one-way delay that make the model give ``targets`` (least squares in
    log-rate and delay from the best point of a coarse grid; with two targets the solution is exact when
    one exists, and ``converged`` says whether it was reached within 0.05 points)."""
    def errors(x):
        rate, delay = math.exp(x[0]), x[1]
        return [model.change_pct(rate, delay, a, m, s) - pct for a, m, s, pct in targets]

    lo, hi = math.log(RATE_BOUNDS_MBPS[0]), math.log(RATE_BOUNDS_MBPS[1])
    grid = [(r, d) for r in np.linspace(lo, hi, 25) for d in np.linspace(*DELAY_BOUNDS_MS, 26)]
    start = min(grid, key=lambda x: float(np.sum(np.square(errors(x)))))
    result = least_squares(errors, x0=np.array(start), bounds=([lo, DELAY_BOUNDS_MS[0]], [hi, DELAY_BOUNDS_MS[1]]),
                           xtol=1e-10, ftol=1e-10)
    final = tuple(float(e) for e in errors(result.x))
    return WanFit(rate_mbps=float(math.exp(result.x[0])), delay_ms=float(result.x[1]),
                  target_errors_points=final, converged=all(abs(e) < 0.05 for e in final))


# --- calibration input ------------------------------------------------------------------------------

def _number(row: dict, key: str, where: str) -> float:
    try:
        value = float(row[key])
    except (KeyError, TypeError, ValueError):
        raise HarnessError(f"{where}: column {key!r} is missing or not a number ({row.get(key)!r})") from None
    if not math.isfinite(value):
        raise HarnessError(f"{where}: column {key!r} is not finite ({value!r})")
    return value


def cells_from_summary(rows: list[dict], where: str = "summary",
                       wan: tuple[float, float] | None = None) -> list[Cell]:
    """Calibration cells from summary.csv rows (a compare run's, measured on ``wan``: its uplink Mbit/s and
    one-way delay ms), or from a calibration extract (which names its WAN in each row)."""
    cells = []
    for index, row in enumerate(rows):
        if row.get("placement") not in ("edge", "cloud"):
            continue
        at = f"{where} row {index + 2}"
        if "request_payload_bytes" in row:       # an extract this module wrote
            values = {k: _number(row, k, at) for k in CALIBRATION_FIELDS[3:]}
        else:
            floor, up_floor = _number(row, "network_floor_ms", at), _number(row, "upload_floor_ms", at)
            server = _number(row, "server_ms", at)
            response, upload = _number(row, "response_ms_median", at), _number(row, "upload_ms_median", at)
            if wan is None:
                raise HarnessError(f"{where}: a summary.csv needs its run's WAN (experiment.json beside it), or "
                                   "give the calibration.csv extract the part writes")
            values = {"request_payload_bytes": payload_of_wire(_number(row, "floor_request_wire_bytes", at)),
                      "reply_payload_bytes": payload_of_wire(_number(row, "floor_reply_wire_bytes", at)),
                      "server_ms": server, "response_ms": response, "upload_ms": upload,
                      "response_residual_ms": response - floor - server, "upload_residual_ms": upload - up_floor,
                      "wan_up_mbps": wan[0], "wan_delay_ms": wan[1]}
        try:
            cells.append(Cell(row["access"], row["placement"], int(_number(row, "size_bytes", at)), **values))
        except ValueError as err:
            raise HarnessError(f"{at}: {err}") from None
    if not cells:
        raise HarnessError(f"{where}: no edge or cloud cell to calibrate with")
    return cells


def read_calibration(path: Path) -> list[Cell]:
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
    except OSError as err:
        raise HarnessError(f"calibration {path}: cannot read it ({err.strerror or err})") from None
    return cells_from_summary(rows, str(path), _run_wan(Path(path).parent / "experiment.json"))


def _run_wan(experiment_json: Path) -> tuple[float, float] | None:
    """The uplink Mbit/s and one-way delay ms of the WAN a compare run recorded, or None."""
    try:
        up = json.loads(experiment_json.read_text())["profiles"]["wan"]["up"]
        return float(up["rate_bps"]) / 1e6, float(up["delay_ms"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_calibration(cells: list[Cell], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=CALIBRATION_FIELDS)
        writer.writeheader()
        for cell in cells:
            row = dataclasses.asdict(cell)
            writer.writerow({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})


def model_for(cells: list[Cell], wan: LinkProfile) -> NetworkModel:
    """The model over the shipped access profiles named by the cells (the radios ``lte`` / ``wifi``), the LAN
    and ``wan``'s downlink."""
    try:
        accesses = {a: load_profile(a) for a in sorted({c.access for c in cells})}
    except ProfileError as err:   # an access the calibration names is not a profile here
        raise HarnessError(f"calibration: {err}") from None
    return NetworkModel(cells, accesses, load_profile("lan"), wan)


def main(argv=None) -> int:
    from harness.experiments.reproduce.system_b_network_scenario import SCENARIO_PATH, load_scenario, write_fitted

    parser = argparse.ArgumentParser(prog="python -m harness.experiments.reproduce.system_b_network_fit",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("calibration", type=Path, help="summary.csv of a compare run, or a calibration extract")
    parser.add_argument("--scenario", type=Path, default=SCENARIO_PATH, help="the scenario (WAN profile) file")
    parser.add_argument("--write", action="store_true", help="rewrite the fitted values in the scenario file")
    args = parser.parse_args(argv)
    try:
        cells = read_calibration(args.calibration)
        model = model_for(cells, load_scenario(args.scenario))
        fit = fit_wan(model)
    except HarnessError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"fit: WAN uplink {fit.rate_mbps:.3f} Mbit/s, one-way delay {fit.delay_ms:.2f} ms "
          f"(RTT {fit.rtt_ms:.1f} ms); errors at the targets {', '.join(f'{e:+.3f}' for e in fit.target_errors_points)}"
          f" points; converged: {fit.converged}")
    for line in model.lines.values():
        print(f"  radio (edge cells' line): {line.text()}, rms {line.rms_ms:.1f} ms over {line.sizes} sizes")
    for access in sorted(model.accesses):
        for metric in ("response_ms", "upload_ms"):
            changes = [f"{s // 1024}K {model.change_pct(fit.rate_mbps, fit.delay_ms, access, metric, s):+.1f}%"
                       for s in model.sizes(access)]
            print(f"  {access} {metric}: {', '.join(changes)}")
    if args.write:
        write_fitted(args.scenario, fit, str(args.calibration))
        print(f"wrote {args.scenario}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
