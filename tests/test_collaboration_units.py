"""Unit tests of the collaboration pieces: WAN counters and idle detection (fake clock), settings,
labelled-set files, phase classification, WAN accounting of an update cycle."""
from __future__ import annotations

import numpy as np
import pytest

from harness.experiments.collaborate.analysis import _phase, _wan_cycles
from harness.experiments.collaborate.spec import CollabSpec, CollabSpecError, resolve
from harness.experiments.features.spec import FeaturesSpec
from nodes.edge_update import UpdateSettings, load_labelled, object_pixels, save_labelled
from nodes.errors import NodeConfigError
from nodes.wan_counters import CounterError, CounterSource, IdleSettings, WanIdleDetector, parse_net_dev

NET_DEV = """Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo:    1000      10    0    0    0     0          0         0     1000      10    0    0    0     0       0          0
bs-eth2: 123456     100    0    0    0     0          0         0   654321     200    0    0    0     0       0          0
"""


def test_parse_net_dev_reads_rx_and_tx_bytes():
    counts = parse_net_dev(NET_DEV, "bs-eth2")
    assert (counts.rx_bytes, counts.tx_bytes, counts.total_bytes) == (123456, 654321, 777777)
    with pytest.raises(CounterError, match="no interface 'eth9'"):
        parse_net_dev(NET_DEV, "eth9")


def test_counter_source_parse_and_read(tmp_path):
    path = tmp_path / "dev"
    path.write_text(NET_DEV)
    source = CounterSource.parse(f"{path}:lo")
    assert source.read().rx_bytes == 1000 and str(source) == f"{path}:lo"
    with pytest.raises(NodeConfigError, match="PATH:INTERFACE"):
        CounterSource.parse("no-colon")
    with pytest.raises(CounterError, match="cannot read"):
        CounterSource.parse(f"{tmp_path}/missing:lo").read()


class FakeWan:
    def __init__(self):
        self.now_s, self.total = 0.0, 0

    def advance(self, seconds: float, rate_bytes_per_s: float) -> None:
        self.now_s += seconds
        self.total += int(seconds * rate_bytes_per_s)


def test_idle_detector_needs_quiet_for_idle_s():
    wan = FakeWan()
    detector = WanIdleDetector(lambda: wan.total, IdleSettings(idle_s=2.0, idle_rate_bytes_per_s=1000, poll_s=0.5),
                               clock=lambda: wan.now_s)
    for _ in range(6):  # busy: 1 MB/s
        wan.advance(0.5, 1e6)
        detector.sample()
        assert not detector.is_idle()
    for step in range(1, 5):  # quiet: 100 B/s
        wan.advance(0.5, 100)
        detector.sample()
        assert detector.idle_for_s() == pytest.approx(0.5 * step)
    assert detector.is_idle()
    wan.advance(0.5, 5000)  # someone loads the WAN again
    detector.sample()
    assert detector.idle_for_s() == 0 and not detector.is_idle()


def test_idle_detector_resync_ignores_our_own_upload():
    wan = FakeWan()
    detector = WanIdleDetector(lambda: wan.total, IdleSettings(idle_s=1.0, idle_rate_bytes_per_s=1000, poll_s=0.5),
                               clock=lambda: wan.now_s)
    for _ in range(3):
        wan.advance(0.5, 0)
        detector.sample()
    assert detector.is_idle()
    wan.advance(0.2, 5e6)  # our own upload
    detector.resync()
    wan.advance(0.5, 0)
    detector.sample()
    assert detector.is_idle()


@pytest.mark.parametrize("kwargs", [dict(idle_s=0), dict(idle_rate_bytes_per_s=-1), dict(poll_s=5, idle_s=1)])
def test_idle_settings_refuse_bad_values(kwargs):
    with pytest.raises(NodeConfigError, match="WAN idle setting"):
        IdleSettings(**kwargs)


@pytest.mark.parametrize("kwargs,field", [(dict(labels_per_update=0), "labels_per_update"),
                                          (dict(label_batch=300), "label_batch"), (dict(pool_stride=3), "pool_stride")])
def test_update_settings_refuse_bad_values(kwargs, field):
    with pytest.raises(NodeConfigError, match=field):
        UpdateSettings(labelled_set="x.npz", **kwargs)


def test_labelled_set_round_trip_and_bad_file(tmp_path):
    images = np.random.default_rng(0).integers(0, 256, (12, 32, 32, 3), dtype=np.uint8)
    labels = np.arange(12) % 10
    save_labelled(tmp_path / "a.npz", images, labels)
    got_images, got_labels = load_labelled(tmp_path / "a.npz")
    assert np.array_equal(got_images, images) and np.array_equal(got_labels, labels)
    np.savez(tmp_path / "bad.npz", images=images[:, :16], labels=labels)
    with pytest.raises(NodeConfigError, match="bad.npz"):
        load_labelled(tmp_path / "bad.npz")


def test_object_pixels_recovers_a_lossless_image():
    from models.preprocess import encode_image

    image = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    assert np.array_equal(object_pixels(encode_image(image, "PNG")), image)


def test_collab_spec_validation_and_config(tmp_path):
    with pytest.raises(CollabSpecError, match="--label-batch 300"):
        CollabSpec(label_batch=300)
    with pytest.raises(CollabSpecError, match="--table-depths"):
        CollabSpec(table_depths=(4,))
    config = tmp_path / "c.toml"
    config.write_text("labelled_images = 60\ntable_sizes = [60, 120]\n")
    spec = resolve(CollabSpec, config, {"updates": "2", "table_depths": "3,10"})
    assert (spec.labelled_images, spec.table_sizes, spec.updates, spec.table_depths) == (60, (60, 120), 2, (3, 10))
    config.write_text("labeled_images = 60\n")
    with pytest.raises(CollabSpecError, match="unknown key 'labeled_images'"):
        resolve(CollabSpec, config, {})
    with pytest.raises(CollabSpecError, match="--updates 'two': must be an integer"):
        resolve(CollabSpec, None, {"updates": "two"})
    with pytest.raises(CollabSpecError, match="--feature-dims"):
        FeaturesSpec(feature_dims=(0,))


def test_phase_of_a_request():
    updates = [{"version": 1, "start_ns": 100, "end_ns": 200}, {"version": 2, "start_ns": 400, "end_ns": 500}]
    assert _phase(50, updates) == ("before", 0)
    assert _phase(150, updates) == ("during", 0)
    assert _phase(300, updates) == ("after", 1)
    assert _phase(450, updates) == ("during", 1)
    assert _phase(600, updates) == ("after", 2)


def test_wan_cycles_sum_the_batches_of_an_update():
    events = [{"event": "labelled", "update": 1, "objects": 50, "payload_bytes": 5000, "wan_tx_bytes": 6000,
               "wan_rx_bytes": 900, "start_ns": 1},
              {"event": "labelled", "update": 1, "objects": 10, "payload_bytes": 1000, "wan_tx_bytes": 1300,
               "wan_rx_bytes": 300, "start_ns": 2},
              {"event": "updated", "version": 1}]
    (cycle,) = _wan_cycles(events)
    assert cycle == {"update": 1, "batches": 2, "objects": 60, "payload_bytes": 6000, "wan_tx_bytes": 7300,
                     "wan_rx_bytes": 1200, "first_upload_ns": 1}
