"""``report.md`` of a ``collaborate`` run: our figures beside System B's published ones (SEEDS.md), explained."""
from __future__ import annotations

from pathlib import Path

from harness.analysis.published import PUBLISHED_ACCURACY, PUBLISHED_CIFAR_GAIN_POINTS
from harness.analysis.seed_stats import MIN_SEEDS, TEST_NAME


def _p(x) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def _n(x) -> str:
    return "-" if x is None else f"{x:,}"


def _ms(x) -> str:
    return "-" if x is None else f"{x:.1f}"


def _ci(mean, half) -> str:
    return f"{mean:.2f}" if half is None else f"{mean:.2f} ± {half:.2f}"


def _published_gain(k: int, n: int) -> tuple[str, float] | None:
    """(data set, published gain in points) at the same k and labelled-set size, if the seeds give one."""
    for name, pk, pn, a0, a1 in PUBLISHED_ACCURACY:
        if (pk, pn) == (k, n):
            return name, (PUBLISHED_CIFAR_GAIN_POINTS if a0 is None else round(a1 - a0, 2))
    return None


def _accuracy_table(means: list[dict], dataset: str) -> list[str]:
    """EdgeCNN0-k vs EdgeCNN1-k over the seeds: mean ± 95% CI, the gain and its paired test, and where a
    published gain exists at the same k and size, ours beside it with its verdict."""
    lines = ["## EdgeCNN0-k vs EdgeCNN1-k by labelled-set size (over seeds)", "",
             f"Mean ± 95% confidence interval (Student's t) over the seeds; gain = EdgeCNN1-k - EdgeCNN0-k per seed, "
             f"tested with a {TEST_NAME} on the per-seed pairs (same labelled subset and seed for both).", "",
             "| k | labelled images | seeds | EdgeCNN0-k % | EdgeCNN1-k % | gain (points) | test | train s 0-k / 1-k |",
             "|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in means:
        gain, gain_ci = r.get("gain", r["edgecnn1"] - r["edgecnn0"]), r.get("gain_ci")
        lines.append(f"| {r['k']} | {r['labelled_images']} | {r['repeats']} | {_ci(r['edgecnn0'], r.get('edgecnn0_ci'))} | "
                     f"{_ci(r['edgecnn1'], r.get('edgecnn1_ci'))} | {'+' if gain >= 0 else ''}{_ci(gain, gain_ci)} | "
                     f"{r.get('gain_verdict', 'not tested (older analysis)')} | "
                     f"{r['edgecnn0_s']:.1f} / {r['edgecnn1_s']:.1f} |")
    few = sorted({r["repeats"] for r in means if r["repeats"] < MIN_SEEDS})
    if few:
        lines += ["", f"**Only {', '.join(map(str, few))} seed(s) per cell (fewer than {MIN_SEEDS}): the intervals "
                      "are wide and the tests weak; run with more table repeats before citing a gain.**"]
    lines += ["", "Published (SEEDS.md, System B):", "", "| data set | k | labelled images | EdgeCNN0 % | EdgeCNN1 % |",
              "|---|---:|---:|---:|---:|"]
    for name, k, n, a0, a1 in PUBLISHED_ACCURACY:
        if a0 is None:
            lines.append(f"| {name} | {k} | {n} | EdgeCNN1-10 is {PUBLISHED_CIFAR_GAIN_POINTS} points above | |")
        else:
            lines.append(f"| {name} | {k} | {n} | {a0} | {a1} |")
    beside = []
    for r in means:
        published = _published_gain(r["k"], r["labelled_images"])
        if published is None:
            continue
        gain = r.get("gain", r["edgecnn1"] - r["edgecnn0"])
        verdict = r.get("gain_verdict", "not tested")
        beside.append(f"- k = {r['k']}, {r['labelled_images']} images: ours {gain:+.2f} points ({verdict}) on "
                      f"`{dataset}`; published {published[1]:+.2f} on {published[0]}"
                      + (": ours is within noise, so it is no evidence of a gain" if r.get("gain_within_noise", True)
                         else "") + ".")
    lines += [""] + (["Ours beside the published gain at the same k and labelled-set size:", ""] + beside + [""]
                     if beside else [])
    lines += [f"Ours is on `{dataset}`" + (" (1,797 8x8 digits upscaled to 32x32)" if dataset == "digits" else "")
              + ". Point `--models-dir` at a model set built with `models --data DIR --dataset mnist|fashion|cifar10` "
              "to run the table on those files.", ""]
    return lines


def write_report(run_dir: Path, record: dict, spec, analysis: dict) -> Path:
    m, versions, phases = analysis["m"], analysis["versions"], analysis["phases"]
    lines = [f"# collaborate: System B initialisation and update phases ({record.get('status')})", "",
             f"Data set `{analysis['dataset']}`; access `{spec.access}`, WAN `{spec.wan}`, "
             f"link backend `{record['environment']['link_backend']}`; N = {spec.labelled_images} labelled images at "
             f"the edge, M = {spec.labels_per_update} cloud labels per update, {spec.updates} update(s); shared "
             f"layers m = k = {m}. WAN counters: the base station's WAN port ({record['wan_counters'].get('source')}).",
             "", "## Edge model after each update (held-out test split)", "",
             "| version | labelled images (N + cloud labels) | EdgeCNN1 accuracy | EdgeCNN0 on the same images | gain (points) "
             "| training s | epochs | swap ms |", "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for v in versions:
        gain = None if v.get("edgecnn0_test_accuracy") is None or v["test_accuracy"] is None else \
            v["test_accuracy"] - v["edgecnn0_test_accuracy"]
        lines.append(f"| {v['version']} | {v['labelled_images']} ({v['cloud_labels']}) | {_p(v['test_accuracy'])} | "
                     f"{_p(v.get('edgecnn0_test_accuracy'))} | {_p(gain)} | {v['train_seconds']:.2f} | {v['epochs']} | "
                     f"{_ms(v['swap_ms'])} |")
    lines += ["", "The cloud's labels come from CloudCNN, so they are as right as CloudCNN is "
              f"(manifest test accuracy {_p(record['models'].get('cloudcnn', {}).get('accuracy'))}%): a wrong label "
              "teaches the edge the wrong class. EdgeCNN0 is retrained here, offline, on exactly the images and labels "
              "the edge used. Each version is one training (one seed): its gain has no confidence interval and is not "
              "tested; the table of EdgeCNN0-k vs EdgeCNN1-k below is, over seeds.", "", "## Response times of the devices' requests around the retrain", "",
              "| phase | requests | median ms | p90 ms | errors | online accuracy |", "|---|---:|---:|---:|---:|---:|"]
    for phase, s in phases.items():
        lines.append(f"| {phase} | {s['count']} | {_ms(s['median_ms'])} | {_ms(s['p90_ms'])} | {s['errors']} | "
                     f"{_p(s['online_accuracy'])} |")
    lines += ["", "'during' = sent between the start of a retrain (building the training set) and the swap; the "
              "training runs in its own process on the same CPUs, so what it costs the answers shows here.", "",
              "## WAN bytes per phase (base station WAN port counters)", "",
              "| phase | what | payload bytes | WAN bytes to cloud | WAN bytes from cloud |", "|---|---|---:|---:|---:|"]
    block = analysis.get("block")
    if block:
        lines.append(f"| initialisation | {block['model']} (ONNX) download | {_n(block['bytes'])} | "
                     f"{_n(block['wan_tx_bytes'])} | {_n(block['wan_rx_bytes'])} |")
    for c in analysis["wan_cycles"]:
        lines.append(f"| update {c['update']} | {c['objects']} objects up ({c['batches']} batches), labels down | "
                     f"{_n(c['payload_bytes'])} | {_n(c['wan_tx_bytes'])} | {_n(c['wan_rx_bytes'])} |")
    init = analysis.get("wan_init")
    if init:
        lines.append(f"| edge start to ready (all) | index + block + health checks | | {_n(init['tx'])} | "
                     f"{_n(init['rx'])} |")
    lines += ["", "Payload = the ONNX file or the JPEG objects; the WAN adds HTTP, TCP/IP and Ethernet headers and "
              "the ACKs of the other direction. Uploads start only after the WAN has carried less than "
              f"{spec.idle_rate_bytes_per_s:,.0f} B/s for {spec.idle_s:g} s"
              + (f" (a {spec.wan_busy_rate_mbps:g} Mbit/s background load ran for the first {spec.wan_busy_s:g} s "
                 "of the update phase)." if spec.wan_busy_s else ".")]
    waited = analysis.get("wan_wait", {}).get("first_upload_after_busy_start_s")
    if waited is not None:
        lines += ["", f"First upload {waited:.2f} s after the background load started (load {spec.wan_busy_s:g} s + "
                  f"quiet {spec.idle_s:g} s = {spec.wan_busy_s + spec.idle_s:g} s at the earliest)."]
    lines.append("")
    means = analysis["table_means"]
    if means:
        lines += _accuracy_table(means, analysis["dataset"])
    if analysis["figures"]:
        lines += ["## Figures", ""] + [f"![{f}]({f})" for f in analysis["figures"]] + [""]
    path = run_dir / "report.md"
    path.write_text("\n".join(lines))
    return path
