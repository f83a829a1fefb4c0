"""The part of a run that measured something, on the host monitor's clock, and the host's CPU inside and outside it.

host-cpu.csv's ``t_s`` is each sampling interval's end in seconds since the monitor started (experiment.json
``host_monitor_start_s``, monotonic s, as every ``*_ns`` stamp). The measured window is a list of intervals:

- a ``load`` run: each cell, from its devices' shared start (``schedule_start_ns``: every device set up; else its
  start plus ``setup_s``, if recorded) to its last reply (its rows' latest ``client_reply_complete_ns``; else the cell's end);
- compare / sweep / replay: each (access, placement) group of requests.csv rows (one workload run each), from its
  first scheduled request (``scheduled_ns``, else ``client_send_start_ns``) to its last reply.

Outside it: the network's bring-up, the servers' start and model download, the link calibration, and the devices'
process launch and imports before each shared start. Validity judges the host inside; outside is reported only.
"""
from __future__ import annotations

from dataclasses import dataclass


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class Window:
    intervals: tuple[tuple[float, float], ...]   # (begin s, end s) on the monitor's clock, sorted, disjoint
    source: str                                  # how they were found, in words

    @property
    def seconds(self) -> float:
        return sum(end - begin for begin, end in self.intervals)

    def to_dict(self) -> dict:
        return {"intervals_s": [[round(b, 3), round(e, 3)] for b, e in self.intervals],
                "seconds": round(self.seconds, 3), "source": self.source}


def _merged(intervals) -> tuple[tuple[float, float], ...]:
    out: list[list[float]] = []
    for begin, end in sorted(i for i in intervals if i[1] > i[0]):
        if out and begin <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([begin, end])
    return tuple((b, e) for b, e in out)


def _last_reply_ns(rows: list[dict]) -> int | None:
    return max((v for v in (_int(r.get("client_reply_complete_ns")) for r in rows) if v is not None), default=None)


def load_cell_interval_ns(cell: dict, rows: list[dict]) -> tuple[int, int] | None:
    """A ``load`` cell's measured part (monotonic ns): from its devices' shared start (else its start plus its
    set-up) to its last reply among ``rows`` (else the cell's end); None when either end is unknown."""
    begin = _int(cell.get("schedule_start_ns"))
    if begin is None and _int(cell.get("started_ns")) is not None:   # a run without the shared start's stamp
        setup_s = cell.get("setup_s") if isinstance(cell.get("setup_s"), (int, float)) else 0.0
        begin = _int(cell["started_ns"]) + int(setup_s * 1e9)
    end = _last_reply_ns(rows)
    end = end if end is not None else _int(cell.get("ended_ns"))
    return (begin, end) if begin is not None and end is not None else None


def rows_by_cell(requests: list[dict]) -> dict[tuple, list[dict]]:
    """requests.csv rows of a ``load`` run grouped by (access, level, placement)."""
    by_cell: dict[tuple, list[dict]] = {}
    for row in requests:
        by_cell.setdefault((row.get("access"), row.get("level"), row.get("placement")), []).append(row)
    return by_cell


def _load_intervals(record: dict, requests: list[dict]) -> list[tuple[int, int]]:
    by_cell = rows_by_cell(requests)
    found = (load_cell_interval_ns(cell, by_cell.get((cell.get("access"), cell.get("level"), cell.get("placement")), []))
             for cell in record.get("cells") or [])
    return [interval for interval in found if interval is not None]


def _row_group_intervals(requests: list[dict]) -> list[tuple[int, int]]:
    groups: dict[tuple, list[dict]] = {}
    for row in requests:
        groups.setdefault((row.get("access"), row.get("placement")), []).append(row)
    out = []
    for rows in groups.values():
        starts = [v for r in rows if (v := _int(r.get("scheduled_ns")) or _int(r.get("client_send_start_ns")))]
        end = _last_reply_ns(rows)
        if starts and end is not None:
            out.append((min(starts), end))
    return out


def measured_window(record: dict, requests: list[dict] | None) -> tuple[Window | None, str]:
    """The run's measured window, or None and why there is none (then the whole run is judged)."""
    start_s = record.get("host_monitor_start_s")
    if not isinstance(start_s, (int, float)):
        return None, "experiment.json has no host_monitor_start_s (a run older than the measured window)"
    if record.get("experiment") == "load":
        found, source = _load_intervals(record, requests or []), \
            "each cell from its devices' shared start to its last reply"
    else:
        found, source = _row_group_intervals(requests or []), \
            "each access x placement from its first scheduled request to its last reply"
    intervals = _merged((b / 1e9 - start_s, e / 1e9 - start_s) for b, e in found)
    if not intervals:
        return None, "no request with its send and reply times (nothing was measured)"
    return Window(intervals, source), ""


def split_samples(samples: list[tuple[float, float]], window: Window | None):
    """host-cpu.csv samples ((interval end t_s, busy %), in time order) cut at the window's edges: two lists of
    segments, inside and outside the window, each segment a list of (seconds, busy %) of consecutive pieces.
    Without a window everything is inside."""
    inside: list[list[tuple[float, float]]] = []
    outside: list[list[tuple[float, float]]] = []
    edges = sorted({e for i in (window.intervals if window else ()) for e in i})
    previous_t, previous_in = 0.0, None
    for t_s, busy in samples:
        cuts = [previous_t] + [e for e in edges if previous_t < e < t_s] + [t_s]
        for begin, end in zip(cuts, cuts[1:]):
            middle = (begin + end) / 2
            is_in = window is None or any(b <= middle <= e for b, e in window.intervals)
            target = inside if is_in else outside
            if is_in != previous_in or not target:
                target.append([])
            target[-1].append((end - begin, busy))
            previous_in = is_in
        previous_t = max(previous_t, t_s)
    return inside, outside


def longest_above_s(segments: list[list[tuple[float, float]]], limit_pct: float) -> float:
    """The longest stretch of consecutive pieces above ``limit_pct`` within one segment."""
    longest = 0.0
    for segment in segments:
        current = 0.0
        for seconds, busy in segment:
            current = current + seconds if busy > limit_pct else 0.0
            longest = max(longest, current)
    return longest


def mean_busy_pct(segments: list[list[tuple[float, float]]]) -> float | None:
    pieces = [p for s in segments for p in s]
    total = sum(seconds for seconds, _ in pieces)
    return sum(seconds * busy for seconds, busy in pieces) / total if total > 0 else None


def covered_s(segments: list[list[tuple[float, float]]]) -> float:
    return sum(seconds for s in segments for seconds, _ in s)


def cpu_summary(segments: list[list[tuple[float, float]]], limit_pct: float) -> dict:
    """For validity.json: the seconds sampled, the mean busy % and the longest stretch above ``limit_pct``."""
    mean = mean_busy_pct(segments)
    return {"seconds": round(covered_s(segments), 3), "mean_busy_pct": None if mean is None else round(mean, 1),
            "longest_above_s": round(longest_above_s(segments, limit_pct), 3)}
