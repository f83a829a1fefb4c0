#!/usr/bin/env python3
"""One data set's steps of reproduce's System B models part, alone: its figures and what each step cost.

    .venv/bin/python benchmarks/bench_reproduce_dataset.py mnist            # the FULL plan (MNIST: ~17 min)
    .venv/bin/python benchmarks/bench_reproduce_dataset.py fashion --quick
    .venv/bin/python benchmarks/bench_reproduce_dataset.py fashion --time-only   # CloudCNN + the time cells (~50 min)

Runs ``system_b_models.run_dataset`` into the folder that ``bench_reproduce.py`` uses for the part
(``.cache/bench-reproduce/reproduce-<full|quick>/system_b_models``). Steps that finished there before, with the
same inputs, are reused, and a later ``bench_reproduce.py --reuse`` reuses these. Use it to check a change to one
data set's steps when a cold full run (about 2 h 26 min) does not fit. Writes
benchmarks/results/reproduce-parts/system-b-models-<dataset>[-time][-quick].{json,md}: the figures beside the published
values, and the seconds of each step (a reused step keeps the time it took when it ran).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness_runs import RESULTS_OUT, ROOT, host_fields, md_table, write_outputs  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("dataset", help="fashion, mnist or cifar10")
    parser.add_argument("--quick", action="store_true", help="the quick plan")
    parser.add_argument("--time-only", action="store_true",
                        help="only CloudCNN and the cells of the training-time figure (and the figures they give)")
    parser.add_argument("--results-dir", type=Path, default=ROOT / ".cache" / "bench-reproduce",
                        help="where the reproduce-<full|quick>/ folder is (default: .cache/bench-reproduce)")
    args = parser.parse_args(argv)

    from harness.experiments.reproduce.scorecard import score
    from harness.experiments.reproduce.system_b_models import run_dataset
    from harness.experiments.reproduce.system_b_models_plan import FULL, QUICK
    from models.errors import DatasetError

    plan = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    work_dir = args.results_dir / f"reproduce-{mode}" / "system_b_models"
    host, started = host_fields(), time.monotonic()
    try:
        figures, steps = run_dataset(work_dir, args.dataset, plan, lambda line: print(line, file=sys.stderr,
                                                                                       flush=True),
                                     time_only=args.time_only)
    except DatasetError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: the finished steps are kept; run the same command to resume", file=sys.stderr)
        return 130
    wall = time.monotonic() - started
    mine = {m.key for m in figures}
    scored, _ = score(figures)   # the scorecard's verdict of each row this run measured, judged on its own
    rows = [[r.key, f"{r.published} {r.unit}",
             "" if r.ours is None else f"{r.ours:.2f}" + ("" if r.ci95 is None else f" ± {r.ci95:.2f}"),
             r.off, r.tolerance, r.verdict, r.n, r.basis, r.detail.replace("|", "/")]
            for r in scored if r.key in mine]
    name = (f"system-b-models-{args.dataset}" + ("-time" if args.time_only else "")
            + ("-quick" if args.quick else ""))
    shown = work_dir.relative_to(ROOT) if work_dir.is_relative_to(ROOT) else work_dir
    result = {"host": host, "dataset": args.dataset, "plan": plan.describe(), "time_only": args.time_only,
              "work_dir": str(shown),
              "wall_s": round(wall, 1), "step_seconds": steps, "steps_total_seconds": round(sum(steps.values()), 1),
              "figures": [m.to_dict() for m in figures],
              "verdicts": {r.key: r.verdict for r in scored if r.key in mine}}
    markdown = [f"# reproduce, System B models, {args.dataset} steps alone ({mode} plan; "
                f"benchmarks/bench_reproduce_dataset.py{' --time-only' if args.time_only else ''})", "",
                f"Host {host['host']} ({host['cpus']} CPUs), started {host['started']}; wall time {wall:.0f} s "
                f"(steps reused from `{shown}` "
                f"count the time they took when they ran: {sum(steps.values()):.0f} s in all). Each verdict is the "
                f"scorecard's rule applied to this row alone; the counts come from a whole run (bench_reproduce.py).",
                "", *md_table(["key", "published", "ours (± 95% CI)", "off", "tolerance", "verdict", "n", "basis",
                               "detail"], rows), "",
                "## Steps", "", *md_table(["step", "seconds"], [[k, f"{v:.1f}"] for k, v in steps.items()])]
    write_outputs(RESULTS_OUT / "reproduce-parts", name, result, markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
