"""The device workloads of one placement: ``python -m nodes.workload`` on each of ue1..ue<devices> at once, each
with its own seed and rows file, their progress summed; Ctrl-C stops them all together.

The devices start their schedules together: each says ``ready`` once set up (imports, images), and when all
have, every one gets the same ``start NS`` line (``START_DELAY_S`` ahead), so no device's start-up overlaps
another's schedule. Every schedule runs at SCHED_FIFO ``DEVICE_FIFO_PRIORITY`` (below the emulators'): a device
wakes on time although the servers share its cores (``nodes.device_timing``); a device's own CPU is bounded by its
schedule (open loop) or by its replies (closed loop: one request at a time), and it reports it. What each device
got, and how long the start-up took, is ``start-<placement>.json`` beside the rows."""
from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from harness.errors import HarnessError
from harness.experiments.compare.spec import ExperimentSpec
from harness.orchestration.node_processes import CLOUD_URL, EDGE_URL, python_module, stop_all
from harness.repo_paths import REPO_ROOT
from nodes.device_timing import DEVICE_FIFO_PRIORITY, parse_scheduling, start_line
from topo.network import Terminated
from topo.topology import ue_name

WORKLOAD_STOP_TIMEOUT_S = 3.0   # SIGINT (as from a terminal) -> exit of the device workloads, then SIGTERM, SIGKILL
IMAGES_DIR = REPO_ROOT / ".cache" / "images"
START_DELAY_S = 0.25   # the start line's time ahead of its sending: every device has read it and left its wait


@dataclass(frozen=True)
class Workload:
    """What every device of one placement runs; device i (1-based) gets seed + i - 1."""

    url: str
    model: str
    sizes: tuple[str, ...]
    tag: str                      # request id prefix; a device's ids add its name when there are several
    repetitions: int = 1
    seed: int = 1
    devices: int = 1
    duration_s: float = 0.0       # closed loop: cycle for this long instead of ``repetitions``
    think_ms: float = 0.0
    rate_hz: float = 0.0
    arrivals_file: str = ""
    timeout_s: float = 120.0
    retries: int = 0
    retry_backoff_s: float = 0.5
    keep_time: bool = True        # shared start and real-time schedules (False: each device on its own, as before)
    images: str = ""              # --images DIR: the folder's files instead of synthetic images (nodes.image_folder)
    image_mode: str = "resize"
    labels_file: str = ""
    hosts: tuple[str, ...] = ()   # a scenario's devices by position (""/empty: ue1..ue<devices>)
    targets: tuple[tuple[str, str], ...] = ()  # per device (url, model) where they differ (a scenario's edges)
    target_files: tuple[str, ...] = ()  # per device, a file the harness rewrites when it moves (nodes.serving_target)

    def device_name(self, index: int) -> str:
        return self.hosts[index - 1] if self.hosts else ue_name(index)

    def target(self, index: int) -> tuple[str, str]:
        return self.targets[index - 1] if self.targets else (self.url, self.model)

    @property
    def realtime_priority(self) -> int:
        """SCHED_FIFO priority of the devices' schedules (0: none, ``keep_time`` off)."""
        return DEVICE_FIFO_PRIORITY if self.keep_time else 0

    def device_tag(self, index: int) -> str:
        return self.tag if self.devices == 1 else f"{self.tag}-{self.device_name(index)}"

    def argv(self, index: int, out: Path) -> list[str]:
        url, model = self.target(index)
        argv = python_module("nodes.workload", "--url", url, "--model", model,
                             "--sizes", ",".join(self.sizes), "--seed", str(self.seed + index - 1),
                             "--tag", self.device_tag(index),
                             "--device", self.device_name(index), "--timeout-s", f"{self.timeout_s:g}",
                             "--retries", str(self.retries), "--retry-backoff-s", f"{self.retry_backoff_s:g}",
                             "--images-dir", str(IMAGES_DIR), "--out", str(out),
                             "--realtime-priority", str(self.realtime_priority))
        if self.target_files:
            argv += ["--target-file", self.target_files[index - 1]]
        if self.keep_time:
            argv.append("--start-line")
        if not self.arrivals_file:  # an arrival file sets the requests itself
            argv += ["--repetitions", str(self.repetitions)]
        if self.duration_s:
            argv += ["--duration-s", f"{self.duration_s:g}"]
        if self.think_ms:
            argv += ["--think-ms", f"{self.think_ms:g}"]
        if self.rate_hz:
            argv += ["--rate-hz", f"{self.rate_hz:g}"]
        if self.arrivals_file:
            argv += ["--arrivals", str(Path(self.arrivals_file).resolve())]
        if self.images:  # the harness re-encoded them into IMAGES_DIR before (harness.orchestration.folder_images)
            argv += ["--images", str(Path(self.images).resolve()), "--image-mode", self.image_mode]
            argv += ["--labels", str(Path(self.labels_file).resolve())] if self.labels_file else []
        return argv


def placement_target(spec: ExperimentSpec, placement: str) -> tuple[str, str]:
    """(server URL, model name) the device calls for ``placement``."""
    return {"edge": (EDGE_URL, spec.edge_model), "cloud": (CLOUD_URL, spec.cloud_model),
            "features": (EDGE_URL, "features-pca"), "split": (EDGE_URL, "split-3")}[placement]


def compare_workload(spec: ExperimentSpec, placement: str, duration_s: float = 0.0) -> Workload:
    url, model = placement_target(spec, placement)
    return Workload(url=url, model=model, sizes=spec.sizes, tag=placement, repetitions=spec.repetitions,
                    seed=spec.seed, devices=spec.devices, duration_s=duration_s, think_ms=spec.think_ms,
                    rate_hz=spec.open_loop_rate_hz, arrivals_file=spec.arrivals_file,
                    timeout_s=spec.request_timeout_s, retries=spec.request_retries,
                    retry_backoff_s=spec.retry_backoff_s, images=spec.images_dir, image_mode=spec.image_mode,
                    labels_file=spec.labels_file)


def rows_file(folder: Path, placement: str, index: int, devices: int, name: str = "") -> Path:
    """Where device ``index`` (host ``name``, default ue<index>) writes its rows: ``device-<placement>.csv``
    alone, ``device-<placement>-ue<i>.csv`` among several."""
    return folder / (f"device-{placement}.csv" if devices == 1
                     else f"device-{placement}-{name or ue_name(index)}.csv")


def device_rows_files(folder: Path, placement: str) -> list[Path]:
    """Every device's rows file of ``placement`` in ``folder`` (either naming), ue1 first."""
    found = [folder / f"device-{placement}.csv"] + sorted(
        folder.glob(f"device-{placement}-ue*.csv"), key=lambda p: int(p.stem.rsplit("-ue", 1)[1] or 0))
    return [p for p in found if p.is_file()]


def start_record_file(folder: Path, placement: str) -> Path:
    return folder / f"start-{placement}.json"


def read_start_record(folder: Path, placement: str) -> dict:
    """What ``run_workloads`` recorded of the devices' start ({} when it did not get that far)."""
    try:
        return json.loads(start_record_file(folder, placement).read_text())
    except (OSError, ValueError):
        return {}


def run_workloads(net, workload: Workload, folder: Path, placement: str, label: str,
                  on_progress: Callable[[int], None] = lambda done: None,
                  on_stop: Callable[[], None] = lambda: None,
                  on_start: Callable[[], None] = lambda: None) -> list[Path]:
    """Run ``workload`` on ue1..ue<devices> at once; each device's rows stream into its file in ``folder`` (its
    stderr beside it, ``.err``). ``on_progress(done)``: requests finished so far, all devices together;
    ``on_start()``: when the devices' shared start is sent (all set up). Returns the rows files.

    A device that fails is one line naming it (``label``: access and placement). Ctrl-C / SIGTERM (raised
    here): ``on_stop()`` at once, then every device is stopped together as a terminal would (SIGINT first:
    each keeps its finished rows), and the stop is raised on."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [workload.device_name(i) for i in range(1, workload.devices + 1)]
    outs = [rows_file(folder, placement, i, workload.devices, names[i - 1]) for i in range(1, workload.devices + 1)]
    procs: list[subprocess.Popen] = []
    launched_ns = time.monotonic_ns()
    record = {"devices": workload.devices, "realtime_priority_requested": workload.realtime_priority}

    def started(ready: list[bool], scheduling: list[str], start_ns: int) -> None:
        record.update(setup_s=round((time.monotonic_ns() - launched_ns) / 1e9, 3), start_delay_s=START_DELAY_S,
                      start_ns=start_ns,
                      ready=sum(ready), scheduling={names[i - 1]: s for i, s in enumerate(scheduling, 1)})
        start_record_file(folder, placement).write_text(json.dumps(record, indent=1) + "\n")
        on_start()

    try:
        for index, out in enumerate(outs, 1):
            with open(out.with_suffix(".err"), "wb") as err:
                procs.append(net.popen(names[index - 1], workload.argv(index, out), "device", stdout=subprocess.PIPE,
                                       stdin=subprocess.PIPE, stderr=err, cwd=REPO_ROOT))
        if not workload.keep_time:  # no shared start: each device started its schedule on its own
            started([False] * len(procs), [""] * len(procs), time.monotonic_ns())
        cpu_s, scheduling = _follow(procs, on_progress,
                                    started if workload.keep_time else lambda ready, scheduling, start_ns: None)
        said = [s for s in cpu_s if s is not None]
        record.update(devices_cpu_s=round(sum(said), 3) if said else None, devices_cpu_reported=len(said),
                      ended_ns=time.monotonic_ns(), scheduling={names[i - 1]: s for i, s in enumerate(scheduling, 1)})
        start_record_file(folder, placement).write_text(json.dumps(record, indent=1) + "\n")
        failed = [(i, p) for i, p in enumerate(procs, 1) if p.wait() != 0]
        if failed:
            index, proc = failed[0]
            lines = outs[index - 1].with_suffix(".err").read_text(errors="replace").strip().splitlines()
            others = f" (and {len(failed) - 1} other device(s))" if len(failed) > 1 else ""
            raise HarnessError(f"device workload ({label}, {names[index - 1]}) failed: "
                               f"{lines[-1] if lines else f'exit code {proc.returncode}'}{others}")
    except (KeyboardInterrupt, Terminated):
        on_stop()
        raise
    finally:  # each workload runs in its own session (mnexec setsid), so it is told here, as a terminal would
        stop_all(procs, WORKLOAD_STOP_TIMEOUT_S, signals=(signal.SIGINT, signal.SIGTERM))
        for proc in procs:
            proc.stdout.close()
            _close(proc.stdin)
    return outs


def _seconds(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _close(stream) -> None:
    try:
        stream.close()
    except OSError:  # a device that exited left a broken pipe
        pass


def _send_start(procs: list[subprocess.Popen], ready: list[bool]) -> int:
    """The same start line to every ready device (one that exited before it was ready gets none); returns the
    start (monotonic ns)."""
    line = start_line(START_DELAY_S)
    for proc, is_ready in zip(procs, ready):
        if is_ready:
            try:
                proc.stdin.write(line)
                proc.stdin.flush()
            except OSError:  # it exited meanwhile: its exit code tells
                pass
        _close(proc.stdin)
    return int(line.split()[1])


def _follow(procs: list[subprocess.Popen], on_progress: Callable[[int], None],
            on_started: Callable[[list[bool], list[str], int], None] = lambda ready, scheduling, start_ns: None) \
        -> tuple[list[float | None], list[str]]:
    """Read every device's lines until all have closed their output: ``scheduling ...`` (what it got),
    ``ready`` (set up; once every device is ready or gone, all get the start line), ``progress DONE TOTAL`` and
    ``cpu S`` (its schedule's CPU seconds, at its end). Returns each device's CPU seconds (None: not said) and
    scheduling ("" not said)."""
    done = [0] * len(procs)
    partial = [b""] * len(procs)
    ready, gone, scheduling = [False] * len(procs), [False] * len(procs), [""] * len(procs)
    cpu_s: list[float | None] = [None] * len(procs)
    sent = False
    with selectors.DefaultSelector() as selector:
        for index, proc in enumerate(procs):
            selector.register(proc.stdout, selectors.EVENT_READ, index)
        while selector.get_map():
            for key, _ in selector.select(timeout=1.0):
                index = key.data
                chunk = os.read(key.fd, 65536)
                if not chunk:
                    selector.unregister(key.fileobj)
                    gone[index] = True
                else:
                    lines = (partial[index] + chunk).split(b"\n")
                    partial[index] = lines.pop()
                    for line in lines:
                        text = line.decode(errors="replace")
                        parts = text.split()
                        if len(parts) == 3 and parts[0] == "progress" and parts[1].isdigit():
                            done[index] = int(parts[1])
                        elif text == "ready":
                            ready[index] = True
                        elif (got := parse_scheduling(text)) is not None:
                            scheduling[index] = got
                        elif len(parts) == 2 and parts[0] == "cpu":
                            cpu_s[index] = _seconds(parts[1])
                    on_progress(sum(done))
                if not sent and all(r or g for r, g in zip(ready, gone)):
                    sent = True
                    on_started(ready, scheduling, _send_start(procs, ready))
    return cpu_s, scheduling
