"""reproduce, System B network part: the WAN fit, the scenario file, the figures it returns (no network here;
the real run is the part's benchmark and the lead's reproduce run)."""
from __future__ import annotations

import csv
import json
import math

import pytest

from harness.analysis.floor import wire_bytes
from harness.errors import HarnessError
from harness.experiments.reproduce import system_b_network as part
from harness.experiments.reproduce.system_b_network_fit import (FIT_TARGETS, Cell, fit_wan, model_for,
                                                              payload_of_wire, read_calibration)
from harness.experiments.reproduce.system_b_network_report import Change, bootstrap_change
from harness.experiments.reproduce.system_b_network_scenario import (SCENARIO_PATH, load_scenario,
                                                                   rewrite_fitted_text)
from topo.profiles import load_profile

K = 1024
SIZES = (60 * K, 512 * K)


def _cells(server_ms=5.0, residual_ms=2.0) -> list[Cell]:
    """Edge uploads on a line (the radio's delivered rate: 8 Mbit/s LTE, 70 WiFi), cloud ones 2x theirs."""
    rates = {"lte": 8e6, "wifi": 70e6}
    return [Cell(a, p, s, s + 300.0, 620.0, server_ms + (1.0 if p == "cloud" else 0.0),
                 (2 if p == "cloud" else 1) * (30.0 + wire_bytes(s + 300.0) * 8 / rates[a] * 1000),
                 (2 if p == "cloud" else 1) * (20.0 + wire_bytes(s + 300.0) * 8 / rates[a] * 1000),
                 residual_ms, 1.0, 100.0, 20.0)
            for a in ("lte", "wifi") for p in ("edge", "cloud") for s in SIZES]


@pytest.mark.parametrize("rate_mbps, delay_ms", [(5.0, 30.0), (2.0, 5.0), (7.0, 80.0)])
def test_fit_recovers_known_wan_parameters(rate_mbps, delay_ms):
    model = model_for(_cells(), load_scenario())
    targets = [(a, m, s, model.change_pct(rate_mbps, delay_ms, a, m, s)) for a, m, s, _ in FIT_TARGETS]
    fit = fit_wan(model, targets)
    assert fit.converged
    assert fit.rate_mbps == pytest.approx(rate_mbps, rel=1e-3)
    assert fit.delay_ms == pytest.approx(delay_ms, abs=0.05)


def test_fit_says_when_no_wan_gives_the_targets():
    model = model_for(_cells(), load_scenario())
    # the cloud cannot be faster than the edge: edge and cloud share the access link
    fit = fit_wan(model, [("lte", "upload_ms", 512 * K, +40.0), ("lte", "response_ms", 60 * K, +40.0)])
    assert not fit.converged


def test_the_radio_line_is_measured_from_the_edge_cells():
    model = model_for(_cells(), load_scenario())
    lte, wifi = model.lines["lte"], model.lines["wifi"]
    assert lte.delivered_bps == pytest.approx(8e6, rel=1e-6) and wifi.delivered_bps == pytest.approx(70e6, rel=1e-6)
    assert lte.peak_bps > lte.nominal_bps                    # the floor's radio peak (BLER) is not what it delivers
    assert lte.access_ms == pytest.approx(20.0 - load_profile("lte").up.delay_ms, abs=1e-6)
    assert lte.rms_ms == pytest.approx(0.0, abs=1e-6)


def test_the_model_keeps_each_cells_medians_on_its_own_wan_and_the_radio_bounds_a_fast_one():
    cells = _cells()
    model = model_for(cells, load_scenario())
    for c in cells:                      # residuals are taken against the WAN each cell was measured on
        got = model.predict(c.wan_up_mbps, c.wan_delay_ms, c.access, c.placement, c.size_bytes)
        assert got["upload_ms"] == pytest.approx(c.upload_ms) and got["response_ms"] == pytest.approx(c.response_ms)
    # a WAN far faster than the radio: the cloud upload is bounded by what the radio delivers, not the WAN
    fast = [model.predict(r, 20.0, "lte", "cloud", 512 * K)["upload_ms"] for r in (100.0, 1000.0)]
    assert fast[0] == pytest.approx(fast[1])
    slow = model.predict(2.0, 20.0, "lte", "cloud", 512 * K)["upload_ms"]
    assert slow - fast[0] == pytest.approx(wire_bytes(512 * K + 300) * 8 * (1 / 2e6 - 1 / 8e6) * 1000, rel=1e-6)


def test_a_summary_without_its_runs_wan_is_one_line(tmp_path):
    row = {"access": "lte", "placement": "edge", "size_bytes": "61440", "network_floor_ms": "80",
           "upload_floor_ms": "70", "server_ms": "5", "response_ms_median": "100", "upload_ms_median": "80",
           "floor_request_wire_bytes": str(wire_bytes(61_772)), "floor_reply_wire_bytes": str(wire_bytes(620))}
    path = tmp_path / "summary.csv"
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(row))
        writer.writeheader()
        writer.writerow(row)
    with pytest.raises(HarnessError, match="needs its run's WAN") as err:
        read_calibration(path)
    assert "\n" not in str(err.value)
    (tmp_path / "experiment.json").write_text(json.dumps({"profiles": {"wan": {"up": {"rate_bps": 3e6,
                                                                                      "delay_ms": 21.0}}}}))
    cell, = read_calibration(path)
    assert (cell.wan_up_mbps, cell.wan_delay_ms, cell.upload_residual_ms) == (3.0, 21.0, 10.0)


def test_the_fitted_values_are_set_beside_the_cited_measurements():
    from harness.experiments.reproduce.system_b_network_scenario import plausibility
    usual = plausibility(3.5, 21.6)
    assert "RTT 43 ms is inside" in usual and "bandwidth-capped VM" in usual and "implausible" not in usual
    assert "OUTSIDE" in plausibility(3.5, 200.0) and "implausible" in plausibility(0.5, 20.0)
    assert "within a campus link" in plausibility(400.0, 20.0)


def test_payload_of_wire_inverts_wire_bytes():
    for payload in (1, 1447, 1448, 1449, 61_772, 4_194_604):
        assert payload_of_wire(wire_bytes(payload)) == payload


def test_shipped_scenario_loads_and_is_the_fit_of_its_calibration():
    wan = load_scenario(SCENARIO_PATH)
    assert wan.up.delay_ms == wan.down.delay_ms
    assert wan.up.rate_bps < 8e6       # slower than the LTE uplink: what the 512K upload figure needs
    fit = fit_wan(model_for(read_calibration(part.CALIBRATION_PATH), wan))
    assert fit.converged
    assert fit.rate_mbps == pytest.approx(wan.up.rate_bps / 1e6, abs=0.001)   # the file holds the fitted values
    assert fit.delay_ms == pytest.approx(wan.up.delay_ms, abs=0.01)


BASE = SCENARIO_PATH.read_text()


@pytest.mark.parametrize("old, new, words", [
    ('rate = "3', 'rate = "-3', "rate"),
    ('jitter = "0 ms"', 'jitter = "2 ms"', "jitter"),
    ('delay = "', 'delay = "1', "must be equal"),
    ('queue = "droptail"', 'queue = "fifo"', "queue"),
    ('jitter = "0 ms"', 'jiter = "0 ms"', "unknown field"),
])
def test_bad_scenario_values_give_one_line(tmp_path, old, new, words):
    path = tmp_path / "bad.toml"
    path.write_text(BASE.replace(old, new, 1))
    with pytest.raises(HarnessError) as err:
        load_scenario(path)
    message = str(err.value)
    assert "\n" not in message and str(path) in message and words in message


def test_rewrite_sets_only_the_fitted_values_and_keeps_comments():
    text = rewrite_fitted_text(BASE, 1.2345, 9.876, "note")
    wan_lines = text.splitlines()
    assert 'rate = "1.234 Mbit/s"' in text or 'rate = "1.235 Mbit/s"' in text
    assert text.count('delay = "9.88 ms"') == 2
    assert 'rate = "100 Mbit/s"' in text                      # the downlink rate is not fitted
    assert "# fit: note" in wan_lines
    assert [l for l in wan_lines if l.startswith("#")][:3] == [l for l in BASE.splitlines() if l.startswith("#")][:3]
    with pytest.raises(HarnessError, match="no line"):
        rewrite_fitted_text("[up]\nrate = \"1 Mbit/s\"\n", 1.0, 1.0, "x")


def test_bootstrap_ci_holds_the_change_and_needs_two_requests():
    edge, cloud = [10.0, 11.0, 12.0, 10.5, 11.5], [20.0, 22.0, 21.0, 23.0, 20.5]
    low, high = bootstrap_change(edge, cloud)
    point = (11.0 - 21.0) / 21.0 * 100
    assert low <= point <= high < 0
    assert bootstrap_change([1.0], cloud) == (None, None)


def _change(access, metric, size, edge, cloud):
    return Change(access, size, metric, edge, cloud, 8, 8, (edge - cloud) / cloud * 100, -60.0, -50.0)


def test_figures_have_their_basis_and_say_what_was_not_run():
    wan = load_scenario()
    found = [_change("lte", "response_ms", 60 * K, 100.0, 225.0), _change("lte", "upload_ms", 512 * K, 560.0, 1256.0),
             _change("lte", "inference_ms", 60 * K, 1.3, 2.5), _change("wifi", "response_ms", 60 * K, 23.0, 200.0),
             _change("wifi", "response_ms", 512 * K, 90.0, 1300.0)]
    out = {m.key: m for m in part.figures_of(found, lambda *a: -88.0, wan, None)}
    assert {k: m.basis for k, m in out.items()} == {"b.lte.response.60k": "fitted", "b.lte.upload.512k": "fitted",
                                                   "b.lte.inference.60k": "measured", "b.wifi.response": "predicted"}
    assert out["b.lte.response.60k"].ours == pytest.approx(-55.56, abs=0.01)
    assert out["b.lte.response.60k"].ci95 == 5.0
    assert "issue 13" in out["b.lte.inference.60k"].detail
    assert "beside public measurements, RTT" in out["b.lte.upload.512k"].detail
    assert "-88.0%" in out["b.wifi.response"].detail and "2 sizes" in out["b.wifi.response"].detail
    missing = {m.key: m for m in part.figures_of(found[:1], lambda *a: None, wan, None)}
    assert missing["b.lte.upload.512k"].basis == "not run" and missing["b.wifi.response"].basis == "not run"


def _fake_run(folder, access, calibration):
    """A finished compare run folder of one access: the part must reuse it and build nothing."""
    run = folder / "20260101T000000Z-compare"
    run.mkdir(parents=True)
    (run / "experiment.json").write_text(json.dumps({"status": "complete"}))
    requests = []
    for cell in calibration:
        if cell.access != access:
            continue
        for rep in range(4):
            jitter = 1 + 0.01 * rep
            requests.append({"access": access, "placement": cell.placement, "size_bytes": cell.size_bytes,
                             "status": "ok", "response_ms": cell.response_ms * jitter,
                             "upload_ms": cell.upload_ms * jitter, "inference_ms": 2.0 * jitter})
    summary = [{"access": c.access, "placement": c.placement, "size_bytes": c.size_bytes,
                "request_payload_bytes": c.request_payload_bytes, "reply_payload_bytes": c.reply_payload_bytes,
                "server_ms": c.server_ms, "response_ms": c.response_ms, "upload_ms": c.upload_ms,
                "response_residual_ms": c.response_residual_ms, "upload_residual_ms": c.upload_residual_ms,
                "wan_up_mbps": c.wan_up_mbps, "wan_delay_ms": c.wan_delay_ms}
               for c in calibration if c.access == access]
    for name, rows in (("requests.csv", requests), ("summary.csv", summary)):
        with open(run / name, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


def test_a_finished_run_is_reused_without_root_and_the_part_writes_its_files(tmp_path, monkeypatch):
    import topo.network
    monkeypatch.setattr(topo.network.os, "geteuid", lambda: 1000)   # building a network would now fail
    calibration = read_calibration(part.CALIBRATION_PATH)
    tag = f"quick-{part.scenario_hash(SCENARIO_PATH)}"
    for access in ("lte", "wifi"):
        _fake_run(tmp_path / "runs" / f"{access}-{part.access_hash(access)}-{tag}", access, calibration)
    lines = []
    out = {m.key: m for m in part.run_part(tmp_path, True, lines.append)}
    assert any("reusing" in line for line in lines)
    assert set(out) == {"b.lte.response.60k", "b.lte.upload.512k", "b.lte.inference.60k", "b.wifi.response"}
    assert math.isfinite(out["b.lte.response.60k"].ours) and out["b.lte.response.60k"].basis == "fitted"
    for name in ("network.csv", "response_vs_size.png", "upload_vs_size.png", "fit.json", "calibration.csv"):
        assert (tmp_path / name).is_file(), name
    rows = list(csv.DictReader(open(tmp_path / "network.csv")))
    fitted = [r for r in rows if r["basis"] == "fitted"]
    assert {(r["access"], r["size"], r["metric"]) for r in fitted} == {("lte", "60K", "response_ms"),
                                                                       ("lte", "512K", "upload_ms")}
    assert all(r["model_change_pct"] for r in rows if r["metric"] != "inference_ms")


def test_without_root_a_run_that_must_be_built_is_one_line(tmp_path, monkeypatch):
    import topo.network
    from topo.errors import TopoError
    monkeypatch.setattr(topo.network.os, "geteuid", lambda: 1000)
    with pytest.raises(TopoError, match="needs root"):
        part.run_part(tmp_path, True, lambda _: None)


def test_inference_is_pooled_over_the_sizes_of_one_access():
    from harness.experiments.reproduce.system_b_network_report import pooled_change
    cells = {("lte", "edge", 60 * K, "inference_ms"): [1.0, 1.2], ("lte", "edge", 512 * K, "inference_ms"): [1.1],
             ("lte", "cloud", 60 * K, "inference_ms"): [2.0, 2.4], ("lte", "cloud", 512 * K, "inference_ms"): [2.2],
             ("wifi", "cloud", 60 * K, "inference_ms"): [99.0]}
    c = pooled_change(cells, "lte", "inference_ms", 60 * K)
    assert (c.n_edge, c.n_cloud, c.edge_ms, c.cloud_ms) == (3, 3, 1.1, 2.2)
    assert c.change_pct == pytest.approx(-50.0)
    assert pooled_change(cells, "wifi", "inference_ms", 60 * K) is None


def test_the_inference_sentence_computes_the_fixed_cost_the_published_ratio_implies():
    from harness.experiments.reproduce.system_b_network import fixed_cost_text

    text = fixed_cost_text(2.42, 7.52)
    fixed = float(text.split("same ")[1].split(" ms")[0])
    assert (2.42 + fixed) / (7.52 + fixed) == pytest.approx(1 - 0.3768, abs=0.01)
    assert fixed_cost_text(7.0, 7.52) == ""     # already nearer than published: no fixed cost explains it


def test_the_inference_figure_pools_the_sizes_only_when_the_time_does_not_move_with_them():
    wan = load_scenario()
    found = [_change("lte", "inference_ms", 60 * K, 1.9, 3.7), _change("lte", "inference_ms", 1024 * K, 2.6, 3.5),
             _change("lte", "response_ms", 60 * K, 100.0, 225.0)]
    pooled = _change("lte", "inference_ms", 60 * K, 2.3, 3.6)
    rises = {"edge": {"rho": 0.32, "p": 0.0001, "n": 140}, "cloud": {"rho": 0.05, "p": 0.6, "n": 140}}
    flat = {"edge": {"rho": 0.1, "p": 0.3, "n": 140}, "cloud": {"rho": -0.05, "p": 0.6, "n": 140}}
    figure = {m.key: m for m in part.figures_of(found, lambda *a: None, wan, None, inference=pooled,
                                                effect=rises)}["b.lte.inference.60k"]
    assert figure.ours == pytest.approx(100 * (1.9 / 3.7 - 1), abs=0.01)     # the 60K cell: the time moves
    assert "at LTE 60K (the published size)" in figure.detail
    assert "EdgeCNN1-3 takes 1.90 ms at 60K .. 2.60 ms at 1024K and CloudCNN 3.70 .. 3.50 ms, the change per size " \
           "-48.6 .. -25.7%" in figure.detail
    assert "the time rises with the size (Spearman over the requests: edge rho +0.32 (p 0.0001), cloud rho +0.05 " \
           "(p 0.6)), so the figure is the published size's alone (pooled over the 2 sizes: -36.1%)" in figure.detail
    figure = {m.key: m for m in part.figures_of(found, lambda *a: None, wan, None, inference=pooled,
                                                effect=flat)}["b.lte.inference.60k"]
    assert figure.ours == pytest.approx(100 * (2.3 / 3.6 - 1), abs=0.01) and "pooled over the LTE sizes" in \
        figure.detail
    assert "does not move with the size" in figure.detail and "the 60K cell alone: -48.6%" in figure.detail
    alone = {m.key: m for m in part.figures_of(found[:1], lambda *a: None, wan, None)}["b.lte.inference.60k"]
    assert "by image size" not in alone.detail and alone.ours == pytest.approx(100 * (1.9 / 3.7 - 1), abs=0.01)


def test_size_effect_is_spearman_over_the_requests_of_each_node():
    cells = {("lte", "edge", s * K, "inference_ms"): [s / 100 + d for d in (0.0, 0.01, 0.02)] for s in (60, 512, 4096)}
    cells |= {("lte", "cloud", s * K, "inference_ms"): [3.0, 3.1, 2.9] for s in (60, 512, 4096)}
    cells[("wifi", "edge", 60 * K, "inference_ms")] = [99.0]
    effect = part.size_effect(cells)
    assert effect["edge"]["rho"] > 0.9 and effect["edge"]["n"] == 9 and effect["edge"]["p"] < 0.001
    assert effect["cloud"]["rho"] == pytest.approx(0.0) and part.depends_on_size(effect)
    assert not part.depends_on_size({"cloud": effect["cloud"]})
    assert part.size_effect({("lte", "edge", 60 * K, "inference_ms"): [1.0, 2.0]}) == {}     # one size: no test
