"""Experiment options: defaults < config file < flags, validated with the source named."""
from __future__ import annotations

import json

import pytest

from harness.experiments.compare.spec import ExperimentSpec, SpecError, resolve_spec


def test_defaults_are_the_seeds_experiment():
    spec = resolve_spec("compare", None, {})
    assert spec.accesses == ("lte", "wifi") and spec.placements == ("edge", "cloud")
    assert spec.sizes_bytes == [61440, 126976, 262144, 524288, 1048576, 2097152, 4194304]


def test_precedence_defaults_file_flags(tmp_path):
    config = tmp_path / "run.toml"
    config.write_text('repetitions = 3\nsizes = ["60K", "512K"]\nseed = 7\n')
    spec = resolve_spec("compare", config, {"repetitions": 5, "seed": None, "placements": "edge"})
    assert spec.repetitions == 5           # flag beats file
    assert spec.seed == 7                  # file beats default
    assert spec.sizes == ("60K", "512K")
    assert spec.placements == ("edge",)    # comma string from a flag
    assert spec.accesses == ("lte", "wifi")  # default


def test_saved_experiment_json_repeats_a_run(tmp_path):
    original = ExperimentSpec(repetitions=2, sizes=("124K",), seed=3)
    saved = tmp_path / "experiment.json"
    saved.write_text(json.dumps({"spec": original.to_dict()}))
    assert resolve_spec("compare", saved, {}) == original


@pytest.mark.parametrize("text, needle", [
    ("repetitons = 3", "unknown key 'repetitons'"),
    ("repetitions = 0", "repetitions must be >= 1"),
    ('repetitions = "three"', "repetitions must be an integer"),
    ('placements = ["fog"]', "unknown placement 'fog'"),
    ('sizes = ["61K"]', "unknown image size '61K'"),
    ("link_backend = 'ns3'", "link_backend must be one of"),
    ("seed = [", "not a valid config"),
])
def test_bad_config_names_file_and_key(tmp_path, text, needle):
    config = tmp_path / "bad.toml"
    config.write_text(text + "\n")
    with pytest.raises(SpecError) as err:
        resolve_spec("compare", config, {})
    assert needle in str(err.value) and "bad.toml" in str(err.value)


def test_replay_needs_both_traces():
    with pytest.raises(SpecError, match="uplink and a downlink"):
        resolve_spec("replay", None, {"uplink_trace": "x.up"})
