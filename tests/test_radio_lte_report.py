"""The report's radio section: computed sentences splitting a difference into rates and mechanisms."""
from __future__ import annotations

import numpy as np
import pytest

from harness.analysis.radio_section import median_difference_ci, radio_accesses, radio_section
from topo.profiles import load_profile


def profiles(*names):
    return {n: {"up": load_profile(n).up.to_dict(), "down": load_profile(n).down.to_dict()} for n in names}


def row(access, median, floor, placement="edge", size_bytes=61440):
    return {"access": access, "placement": placement, "size": "60K", "size_bytes": str(size_bytes),
            "response_ms_median": str(median), "network_floor_ms": str(floor)}


def requests(access, values, placement="edge", size_bytes=61440):
    return [{"access": access, "placement": placement, "size_bytes": str(size_bytes), "status": "ok",
             "response_ms": str(v)} for v in values]


def test_radio_accesses_pair_a_radio_with_its_pipe_only():
    assert radio_accesses(profiles("lte", "lte-ideal", "wan")) == {"lte": "lte-ideal"}
    assert radio_accesses(profiles("lte", "wan")) == {}
    assert radio_accesses(profiles("lte-ideal")) == {}


def test_the_sentence_splits_the_difference_into_floors_and_mechanisms():
    summary = [row("lte", 400.0, 120.0), row("lte-ideal", 300.0, 140.0)]
    reqs = requests("lte", [390, 400, 410, 420, 380]) + requests("lte-ideal", [295, 300, 305, 310, 290])
    text = "\n".join(radio_section(summary, reqs, profiles("lte", "lte-ideal")))
    assert "## Radio mechanisms vs rates" in text
    assert "median response 400.0 ms on lte vs 300.0 ms on lte-ideal (+100.0 ms, 95% CI [" in text
    assert "rates and delays alone account for -20.0 ms" in text
    assert "the radio mechanisms for +120.0 ms (more than the whole difference: the other part pulls the opposite way)" in text


def test_no_floor_no_split_and_no_pipe_no_section():
    summary = [row("lte", 400.0, "no floor"), row("lte-ideal", 300.0, 140.0)]
    text = "\n".join(radio_section(summary, [], profiles("lte", "lte-ideal")))
    assert "not split into rate and mechanisms" in text and "95% CI" not in text  # no requests: no interval
    assert radio_section([row("lte", 400.0, 120.0)], [], profiles("lte", "lte-ideal")) == []


def test_two_radios_split_into_pipes_and_mechanisms(monkeypatch):
    wifi = {"up": {**load_profile("lte").up.to_dict(), "radio_model": "wifi"}, "down": {}}
    both = {**profiles("lte", "lte-ideal"), "wifi": wifi, "wifi-ideal": profiles("lte-ideal")["lte-ideal"]}
    summary = [row("lte", 400.0, 120.0), row("lte-ideal", 300.0, 140.0),
               row("wifi", 150.0, 60.0), row("wifi-ideal", 130.0, 60.0)]
    text = "\n".join(radio_section(summary, [], both))
    assert "lte vs wifi +250.0 ms; their pipes (lte-ideal vs wifi-ideal: rate and delay alone) give +170.0 ms " \
           "(68% of the difference), the radio mechanisms +80.0 ms (32% of the difference)." in text


def test_the_bootstrap_interval_brackets_the_difference_and_is_reproducible():
    rng = np.random.default_rng(1)
    a, b = rng.normal(100, 5, 200), rng.normal(80, 5, 200)
    low, high = median_difference_ci(a, b)
    assert low < 20 < high and high - low < 5
    assert median_difference_ci(a, b) == (low, high)
    assert median_difference_ci(a[:2], b) is None
    assert np.median(a) - np.median(b) == pytest.approx((low + high) / 2, abs=1.5)


def test_share_is_a_share_only_when_the_parts_pull_the_same_way():
    from harness.analysis.radio_section import _share

    assert _share(30.0, 40.0) == " (75% of the difference)"
    assert "opposite way" in _share(96.2, 27.8)
    assert _share(-68.4, 27.8) == " (against the difference)"
    assert _share(1.0, 0.1) == ""
