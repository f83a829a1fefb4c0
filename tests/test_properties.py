"""Property-based tests (hypothesis): every parser of user or network input gives a result or ONE clear error.

Targets: the trace readers (Mahimahi, rate CSV, delay CSV), the profile loader, the experiment
config loader, the fault parser, the emulator's config and control files, and the Open Inference
Protocol request / response parsers. "Clear" means: the parser's own exception class (a ValueError
or RuntimeError subclass), a one-line message, and no other exception (a traceback); "never a hang":
each input has a deadline. The inputs tried are counted and written to .cache/property-inputs.json
(and printed at the end of the module).
"""
from __future__ import annotations

import collections
import json
import math
import os
import string
import tempfile
from datetime import timedelta
from pathlib import Path

import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.experiments.compare.spec import SpecError, resolve_spec
from harness.orchestration.faults import FaultError, parse_fault
from nodes.errors import ProtocolError, RequestError
from nodes.protocol import DATATYPES, parse_infer_request, parse_infer_response
from topo.emulator.config import EmulatorConfig, EmulatorConfigError
from topo.emulator.control import ControlError, read_control
from topo.profiles import ProfileError, load_profile_file
from traces.readers import read_delay_csv, read_mahimahi_trace, read_rate_csv
from traces.trace_types import TraceFormatError

REPO_ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = int(os.environ.get("ECT_PROPERTY_EXAMPLES", "400"))  # per target
# derandomize comes from the profile conftest loads: replayed under CI=true, explored elsewhere. Never set it here.
PROPERTY = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5),
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
TRIED: collections.Counter = collections.Counter()
WORK = Path(tempfile.mkdtemp(prefix="ect-properties-"))


@pytest.fixture(scope="module", autouse=True)
def count_inputs(request):
    yield
    total = sum(TRIED.values())
    out = REPO_ROOT / ".cache" / "property-inputs.json"
    out.parent.mkdir(exist_ok=True)
    if total:  # a run of a few non-property tests of this module keeps the last real count
        out.write_text(json.dumps({"total": total, "per_target": dict(sorted(TRIED.items()))}, indent=1) + "\n")
    line = f"property tests: {total} inputs tried: " + ", ".join(f"{k} {v}" for k, v in sorted(TRIED.items()))
    request.config.add_cleanup(lambda: print(line))  # after pytest's own summary, not captured
    for path in WORK.iterdir():
        path.unlink()
    WORK.rmdir()


def test_property_settings_follow_the_ci_profile():
    from conftest import CI

    assert PROPERTY.derandomize is CI, "test_properties must not override the profile's derandomize"


@pytest.mark.parametrize("ci, replays", [("true", True), ("", False)])
def test_ci_replays_the_same_examples_elsewhere_explores(ci, replays):
    """As the README says: under CI=true the property tests replay the same examples; elsewhere they explore."""
    code = ("import sys; sys.path.insert(0, 'tests'); import conftest, test_properties; "
            "print(test_properties.PROPERTY.derandomize)")
    env = {k: v for k, v in os.environ.items() if k != "CI"} | ({"CI": ci} if ci else {})
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split()[-1] == str(replays), done.stdout


def one_clear_error(target: str, func, expected: tuple[type, ...]):
    """Call func(); a result is fine, an ``expected`` error must be one line; anything else fails the test."""
    TRIED[target] += 1
    try:
        return func()
    except expected as err:
        message = str(err)
        assert message and "\n" not in message and "Traceback" not in message, repr(message)
        assert len(message) < 2000, message[:200]
        return None


def write(name: str, data: bytes | str) -> Path:
    path = WORK / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8", "surrogatepass"))
    return path


# --- shared strategies -------------------------------------------------------------------------------
numbers_text = st.one_of(st.integers(-10**6, 10**12).map(str), st.floats(allow_nan=True, allow_infinity=True).map(repr),
                         st.sampled_from(["", " ", "1e400", "-0", "0x10", "1_000", "١٢", "NaN", "+5", "3.", ".5"]))
junk_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=200)
junk_bytes = st.binary(max_size=300)


def lines_of(cell, max_lines=30):
    return st.lists(cell, max_size=max_lines).map(lambda rows: "\n".join(rows))


# --- traces --------------------------------------------------------------------------------------------
mahimahi_text = st.one_of(lines_of(numbers_text),
                          st.lists(st.integers(0, 5000), min_size=1, max_size=50).map(
                              lambda xs: "\n".join(map(str, sorted(xs)))),
                          junk_text)
csv_text = st.one_of(
    lines_of(st.tuples(numbers_text, numbers_text).map(",".join)),
    lines_of(st.lists(numbers_text, max_size=4).map(",".join)),
    st.lists(st.tuples(st.floats(0, 100), st.floats(0, 1000)), max_size=20).map(
        lambda rows: "time_s,value\n" + "\n".join(f"{t},{v}" for t, v in sorted(rows))),
    junk_text)


@PROPERTY
@given(st.one_of(mahimahi_text, junk_bytes))
def test_mahimahi_reader_any_input(data):
    one_clear_error("trace mahimahi", lambda: read_mahimahi_trace(write("t.up", data)), (TraceFormatError,))


@PROPERTY
@given(st.one_of(csv_text, junk_bytes))
def test_rate_csv_reader_any_input(data):
    one_clear_error("trace rate csv", lambda: read_rate_csv(write("rate.csv", data)), (TraceFormatError,))


@PROPERTY
@given(st.one_of(csv_text, junk_bytes))
def test_delay_csv_reader_any_input(data):
    one_clear_error("trace delay csv", lambda: read_delay_csv(write("delay.csv", data)), (TraceFormatError,))


# --- TOML: profiles and experiment configs ----------------------------------------------------------------
def toml_value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return "nan" if math.isnan(value) else ("inf" if value == math.inf else "-inf" if value == -math.inf
                                                else repr(value))
    if isinstance(value, int):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)


def toml_document(top: dict, tables: dict[str, dict]) -> str:
    lines = [f"{json.dumps(k)} = {toml_value(v)}" for k, v in top.items()]
    for name, table in tables.items():
        lines.append(f"[{json.dumps(name)}]")
        lines += [f"{json.dumps(k)} = {toml_value(v)}" for k, v in table.items()]
    return "\n".join(lines) + "\n"


scalar = st.one_of(st.booleans(), st.integers(-10**12, 10**12), st.floats(), st.text(max_size=30),
                   st.sampled_from(["8 Mbit/s", "10ms", "0.5%", "unlimited", "100 packets", "64 KiB", "drophead",
                                    "gilbert-elliott", "loop", "once", "-3 ms", "1e9 Gbit/s", "../../etc/passwd",
                                    "traces/lte-variable.up", "60K", "edge", "lte", "10s:link-down:wan:5s"]))
value = st.one_of(scalar, st.lists(scalar, max_size=4))
DIRECTION_KEYS = ["rate", "rate_trace", "trace_mode", "delay", "jitter", "jitter_distribution", "allow_reorder",
                  "delay_trace", "loss", "loss_model", "ge_p_good_bad", "ge_p_bad_good", "ge_loss_good",
                  "ge_loss_bad", "queue", "queue_limit", "seed", "bogus"]
direction_table = st.dictionaries(st.sampled_from(DIRECTION_KEYS), value, max_size=8)
profile_text = st.one_of(
    st.builds(lambda top, up, down, which: toml_document(top, {k: t for k, t in (("up", up), ("down", down))
                                                               if k in which}),
              st.dictionaries(st.sampled_from(["name", "description", "extra"]), scalar, max_size=2),
              direction_table, direction_table, st.sampled_from([("up", "down"), ("up",), ()])),
    junk_text)


@PROPERTY
@given(st.one_of(profile_text, junk_bytes))
def test_profile_loader_any_input(data):
    one_clear_error("profile toml", lambda: load_profile_file(write("p.toml", data)), (ProfileError,))


SPEC_KEYS = ["experiment", "accesses", "placements", "sizes", "repetitions", "link_backend", "open_loop_rate_hz",
             "seed", "ues", "wan", "lan", "uplink_trace", "replay_seconds", "capture", "capture_snaplen_bytes",
             "calibrate_seconds", "request_timeout_s", "request_retries", "retry_backoff_s",
             "edge_cloud_timeout_s", "edge_cloud_retries", "faults", "models_dir", "unknown_key"]
config_text = st.one_of(st.dictionaries(st.sampled_from(SPEC_KEYS), value, max_size=6).map(
    lambda top: toml_document(top, {})), junk_text)


@PROPERTY
@given(st.one_of(config_text, junk_bytes), st.sampled_from(["compare", "sweep", "replay"]))
def test_config_loader_any_input(data, experiment):
    one_clear_error("experiment config", lambda: resolve_spec(experiment, write("c.toml", data), {}), (SpecError,))


@PROPERTY
@given(st.one_of(st.dictionaries(st.text(max_size=12), value, max_size=5).map(lambda d: json.dumps({"spec": d})),
                 junk_text))
def test_saved_experiment_json_any_input(data):
    one_clear_error("experiment.json", lambda: resolve_spec("compare", write("e.json", data), {}), (SpecError,))


# --- faults, emulator files ------------------------------------------------------------------------------
fault_text = st.one_of(
    st.builds(lambda *parts: ":".join(p for p in parts if p is not None),
              st.sampled_from(["10s", "0s", "500ms", "1.5s", "10", "-1s", "1e3s", "s", ""]),
              st.sampled_from(["link-down", "kill", "rate", "LINK-DOWN", "boom", ""]),
              st.sampled_from(["wan", "lan", "access", "cloud", "edge", "access/up", "access/down", "wan/x", ""]),
              st.one_of(st.none(), st.sampled_from(["5s", "2Mbit/s", "0Mbit/s", "fast", "1ms", "0s", ""])),
              st.one_of(st.none(), st.sampled_from(["10s", "x", "1ms"]))),
    st.text(alphabet=string.digits + "smkMbit/:-. acdeglnoprtuwAX", max_size=40),
    junk_text)


@PROPERTY
@given(fault_text)
def test_fault_parser_any_input(text):
    one_clear_error("fault", lambda: parse_fault(text), (FaultError,))


json_value = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
                          lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10),
                                                                                            children, max_size=4),
                          max_leaves=12)
emulator_config = st.fixed_dictionaries(
    {}, optional={"name": st.one_of(st.text(max_size=70), json_value), "uplink_in": st.text(max_size=20),
                  "downlink_in": st.text(max_size=20), "uplink": st.one_of(direction_table, json_value),
                  "downlink": st.one_of(direction_table, json_value), "log_dir": json_value,
                  "packet_log": json_value, "other": json_value})


@PROPERTY
@given(st.one_of(emulator_config.map(json.dumps), junk_text, junk_bytes))
def test_emulator_config_any_input(data):
    one_clear_error("emulator config", lambda: EmulatorConfig.from_file(write("emu.json", data)),
                    (EmulatorConfigError,))


@PROPERTY
@given(st.one_of(st.fixed_dictionaries({}, optional={"seq": json_value, "uplink_rate_bps": json_value,
                                                     "downlink_rate_bps": json_value, "restore": json_value,
                                                     "x": json_value}).map(json.dumps), junk_text, junk_bytes))
def test_emulator_control_any_input(data):
    one_clear_error("emulator control", lambda: read_control(write("c.control.json", data)), (ControlError,))


# --- the protocol ------------------------------------------------------------------------------------------
tensor_entry = st.fixed_dictionaries(
    {}, optional={"name": st.one_of(st.sampled_from(["image", "x", ""]), json_value),
                  "datatype": st.one_of(st.sampled_from(DATATYPES), json_value),
                  "shape": st.one_of(st.lists(st.integers(-2, 70), max_size=4), json_value),
                  "data": json_value,
                  "parameters": st.one_of(st.fixed_dictionaries({"binary_data_size": st.one_of(
                      st.integers(-5, 400), json_value)}), json_value)})
infer_header = st.fixed_dictionaries(
    {}, optional={"id": json_value, "inputs": st.one_of(st.lists(tensor_entry, max_size=3), json_value),
                  "outputs": st.one_of(st.lists(st.fixed_dictionaries({"name": json_value}), max_size=2), json_value),
                  "parameters": json_value, "model_name": json_value})


@st.composite
def infer_body(draw):
    header = json.dumps(draw(infer_header)).encode()
    binary = draw(junk_bytes)
    length = draw(st.one_of(st.none(), st.just(len(header)), st.integers(-3, len(header) + len(binary) + 3),
                            st.sampled_from(["", "abc", " 5", "1e3", "-1"])))
    return header + binary, length


@PROPERTY
@given(st.one_of(infer_body(), st.tuples(junk_bytes, st.one_of(st.none(), st.integers(-3, 400), junk_text))))
def test_infer_request_parser_any_input(body_and_length):
    body, length = body_and_length
    one_clear_error("protocol request", lambda: parse_infer_request(body, length), (RequestError,))


@PROPERTY
@given(st.one_of(infer_body(), st.tuples(junk_bytes, st.one_of(st.none(), st.integers(-3, 400)))))
def test_infer_response_parser_any_input(body_and_length):
    body, length = body_and_length
    one_clear_error("protocol response", lambda: parse_infer_response(body, length), (ProtocolError,))
