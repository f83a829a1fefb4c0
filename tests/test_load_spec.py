"""Many devices (issue 13), what is decided before anything is built: the load spec and compare's --devices and
arrival options, validated with one clear line; what each device's workload is told; and the load CLI's bad input."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import run_cli
from harness.errors import SpecError
from harness.experiments.compare.device_workload import Workload, device_rows_files, rows_file
from harness.experiments.compare.spec import resolve_spec
from harness.experiments.load.cells import plan_cells
from harness.experiments.load.spec import LoadSpec, resolve_load_spec


def test_load_defaults_and_levels_in_increasing_order():
    spec = LoadSpec()
    assert spec.devices == (1, 2, 4, 8, 16, 32) and spec.placements == ("edge", "cloud")
    assert spec.pattern.startswith("closed loop") and spec.offered_per_device_hz(0.0) is None
    assert resolve_load_spec(None, {"sizes": "8K"}).sizes == ("8K",)  # small images for many devices
    spec = resolve_load_spec(None, {"devices": "8,1,2", "rates_hz": "2,0.5", "accesses": "lte"})
    assert spec.levels == [(1, 0.5), (1, 2.0), (2, 0.5), (2, 2.0), (8, 0.5), (8, 2.0)]
    cells = plan_cells(spec, "lte")
    assert [(c.devices, c.rate_hz, c.placement) for c in cells[:2]] == [(1, 0.5, "edge"), (1, 0.5, "cloud")]
    assert cells[0].level == "d1-r0.5" and spec.offered_per_device_hz(2.0) == 2.0


def test_a_load_config_file_takes_lists_of_numbers(tmp_path):
    config = tmp_path / "load.toml"
    config.write_text('devices = [1, 4]\nrates_hz = [0.5, 2]\naccesses = ["wifi"]\ncell_seconds = 5\n')
    spec = resolve_load_spec(config, {"cell_seconds": "7"})
    assert spec.devices == (1, 4) and spec.rates_hz == (0.5, 2.0) and spec.cell_seconds == 7.0


@pytest.mark.parametrize("flags, needle", [
    ({"devices": "0,2"}, "--devices 0: each load level must be 1..200"),
    ({"devices": "2,2"}, "a level is given twice"),
    ({"devices": "x"}, "--devices 'x': must be a comma list of integers"),
    ({"rates_hz": "1,-2"}, "--rate-hz -2: each rate must be > 0"),
    ({"rates_hz": "1", "think_ms": "5"}, "--think-ms and --rate-hz together: choose one arrival pattern"),
    ({"placements": "split"}, "load placement 'split': use edge and/or cloud"),
    ({"cell_seconds": "1"}, "--cell-seconds 1: must be 2..3600"),
    ({"think_ms": "-1"}, "--think-ms -1: must be >= 0"),
    ({"sizes": "60K,lots"}, "--sizes: image size 'lots' is not a byte count"),
])
def test_bad_load_options_are_one_line(flags, needle):
    with pytest.raises(SpecError) as err:
        resolve_load_spec(None, flags)
    assert needle in str(err.value) and "\n" not in str(err.value)


def test_an_arrival_file_is_checked_before_anything_is_built(tmp_path):
    good, bad = tmp_path / "arrivals.txt", tmp_path / "bad.txt"
    good.write_text("# send times\n0.5\n1.0\n\n2.5\n")
    bad.write_text("0.5\n0.2\n")
    spec = resolve_load_spec(None, {"arrivals_file": str(good), "cell_seconds": "2"})
    assert spec.offered_per_device_hz(0.0) == 1.0  # 2 send times before 2 s
    assert spec.pattern.startswith("open loop, arrival file")
    with pytest.raises(SpecError, match=r"bad.txt:2: 0.2 s comes before 0.5 s"):
        resolve_spec("compare", None, {"arrivals_file": str(bad)})
    with pytest.raises(SpecError, match="cannot read it"):
        resolve_spec("compare", None, {"arrivals_file": str(tmp_path / "none.txt")})
    with pytest.raises(SpecError, match="--rate-hz and --arrivals together"):
        resolve_spec("compare", None, {"arrivals_file": str(good), "open_loop_rate_hz": "2"})


def test_compare_devices_and_the_topology():
    spec = resolve_spec("compare", None, {"devices": "4", "ues": "2", "think_ms": "0"})
    assert spec.devices == 4 and spec.topology_ues == 4
    assert resolve_spec("compare", None, {"ues": "6"}).topology_ues == 6
    for bad in ("0", "201"):
        with pytest.raises(SpecError, match=f"devices must be 1..200 .*got {bad}"):
            resolve_spec("compare", None, {"devices": bad})


def test_each_device_gets_its_own_seed_name_tag_and_file(tmp_path):
    work = Workload(url="http://10.0.2.2:8000", model="m", sizes=("60K",), tag="edge", repetitions=3, seed=7,
                    devices=3, think_ms=250)
    argv = work.argv(3, tmp_path / "x.csv")
    value = dict(zip(argv, argv[1:]))
    assert value["--seed"] == "9" and value["--device"] == "ue3" and value["--tag"] == "edge-ue3"
    assert value["--think-ms"] == "250" and value["--repetitions"] == "3" and "--rate-hz" not in argv
    alone = Workload(url="u", model="m", sizes=("60K",), tag="edge", seed=7, arrivals_file="a.txt")
    argv = alone.argv(1, tmp_path / "x.csv")
    assert "--repetitions" not in argv and argv[argv.index("--arrivals") + 1] == str(Path("a.txt").resolve())
    assert argv[argv.index("--tag") + 1] == "edge" and argv[argv.index("--seed") + 1] == "7"
    assert rows_file(tmp_path, "edge", 1, 1).name == "device-edge.csv"
    for index in (10, 2, 1):
        rows_file(tmp_path, "cloud", index, 12).write_text("x\n")
    assert [p.name for p in device_rows_files(tmp_path, "cloud")] == [
        "device-cloud-ue1.csv", "device-cloud-ue2.csv", "device-cloud-ue10.csv"]


@pytest.mark.parametrize("args, needle", [
    (["--devices", "0,4"], "--devices 0"),
    (["--rate-hz", "1", "--think-ms", "10"], "choose one arrival pattern"),
    (["--access", "nowhere"], "nowhere"),
])
def test_load_bad_input_is_one_line_on_the_command_line(args, needle):
    result = run_cli("load", *args)
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and needle in lines[0], result.stderr


def test_compare_bad_devices_is_one_line():
    result = run_cli("compare", "--devices", "500", "--sizes", "60K")
    lines = result.stderr.strip().splitlines()
    assert result.returncode == 1 and len(lines) == 1 and "devices must be 1..200" in lines[0], result.stderr


def test_an_open_loop_cell_knows_how_many_requests_are_due(tmp_path):
    from harness.experiments.load.cells import expected_requests
    from nodes.arrivals import poisson_offsets_ns

    spec = resolve_load_spec(None, {"devices": "3", "rates_hz": "2", "cell_seconds": "10"})
    cell = plan_cells(spec, "lte")[0]
    due = [len(poisson_offsets_ns(2.0, 1 + i, duration_s=10)) for i in range(3)]
    assert expected_requests(spec, cell) == sum(due) and len(set(due)) > 1  # each device its own schedule
    assert expected_requests(LoadSpec(), plan_cells(LoadSpec(), "lte")[0]) is None  # closed loop: the replies decide
    arrivals = tmp_path / "a.txt"
    arrivals.write_text("0\n1\n2.5\n30\n")
    spec = resolve_load_spec(None, {"devices": "2", "arrivals_file": str(arrivals), "cell_seconds": "3"})
    assert expected_requests(spec, plan_cells(spec, "lte")[0]) == 2 * 3
