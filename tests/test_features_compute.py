"""`features` runs its servers on compute budgets as compare and load do: the same flags reach its spec (over a
--config file's), a bad budget is one line before anything is built, and the spec has no stray --compute flag."""
from __future__ import annotations

import pytest

from conftest import run_cli
from harness.cli.compute_options import compute_settings
from harness.cli.main import build_parser
from harness.cli.spec_flags import spec_flags
from harness.experiments.collaborate.spec import CollabSpecError, resolve
from harness.experiments.features.spec import FeaturesSpec


def features_spec(*argv: str, config=None) -> FeaturesSpec:
    args = build_parser().parse_args(["features", *argv])
    flags = spec_flags(args, FeaturesSpec)
    flags["compute"] = compute_settings(args, FeaturesSpec)
    return resolve(FeaturesSpec, config, flags)


def test_the_compute_flags_reach_the_features_spec(tmp_path):
    assert features_spec().compute == ()  # the default node profile (system-b)
    assert features_spec("--node-profile", "none", "--edge-cpus", "0.5").compute == ("node_profile=none",
                                                                                      "edge.cpus=0.5")
    config = tmp_path / "features.toml"
    config.write_text('compute = ["node_profile=system-a", "cloud.threads=2"]\n')
    args = ["--config", str(config), "--cloud-threads", "3"]
    assert features_spec(*args, config=config).compute == ("node_profile=system-a", "cloud.threads=3")


def test_a_bad_budget_is_one_line_and_there_is_no_compute_flag():
    with pytest.raises(CollabSpecError, match="node profile 'nonsense': no such profile"):
        FeaturesSpec(compute=("node_profile=nonsense",))
    result = run_cli("features", "--node-profile", "nonsense")
    assert result.returncode == 1 and "no such profile" in result.stderr and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1  # a user error, as compare says it
    assert "--compute" not in run_cli("features", "--help").stdout
