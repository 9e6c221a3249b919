"""hw.perf cycle model against the RTL (amaranth.sim): within 5 % on every measured layer."""

import numpy as np
import pytest

from hw.accel.fc import FullyConnectedEngine
from hw.accel.sim import random_dense_layer, run_engine
from hw.params import EngineParams
from hw.perf import conv2d_cycles, conv2d_fits, fc_cycles, fc_max_outputs, fc_tiles

FC_LAYERS = [  # (P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait)
    (4, 32, 64, 12, 16, 16, 1, 0),     # DS-CNN classifier
    (4, 32, 64, 12, 4, 8, 1, 0),
    (4, 32, 9, 16, 16, 16, 1, 0),      # short rows: groups wait for the requantizer
    (2, 64, 37, 11, 8, 8, 0, 1),       # wait states
    (1, 32, 5, 3, 4, 16, 2, 0),
]


@pytest.mark.parametrize("P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait", FC_LAYERS)
def test_fc_model_matches_rtl(P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait):
    p = EngineParams(macs=P, bus_width=bus)
    job, _ = random_dense_layer(np.random.default_rng(n_in), p, n_in, n_out, bits, o_bits=o_bits)
    _, res = run_engine(FullyConnectedEngine(p, mul_pipeline), [job], wait=wait)
    model = fc_cycles(p, n_in, n_out, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait)
    assert abs(model.total - res[0]["cycles"]) <= 0.05 * res[0]["cycles"], (model, res)
    assert abs(model.compute - res[0]["compute_cycles"]) <= 0.05 * res[0]["compute_cycles"], (model, res)


def test_utilization_definition():
    c = fc_cycles(EngineParams(), 640, 128, 4)
    assert c.peak_macs_per_cycle == 16 and c.macs == 640 * 128
    assert c.util_compute == c.macs / (c.compute * 16) and 0.9 < c.util_compute <= 1


def test_tiles_cover_layer_and_fit():
    p = EngineParams()
    tiles = fc_tiles(p, 640, 128, 16)
    assert sum(tiles) == 128 and max(tiles) <= fc_max_outputs(p, 640, 16)
    assert all(t % 8 == 0 for t in tiles[:-1])
    with pytest.raises(ValueError, match="act_words"):
        fc_tiles(EngineParams(act_words=4, weight_words=4), 640, 8, 16)


def test_conv2d_fits_matches_driver_limits():
    p = EngineParams()
    assert conv2d_fits(p, (49, 10, 1), (10, 4), 64, 16, strides=(2, 2), padding="same")
    assert not conv2d_fits(p, (32, 32, 16), (3, 3), 16, 16, padding="same")      # 8192 input words > act_words
    assert conv2d_fits(p, (32, 32, 16), (3, 3), 16, 8, padding="same")


def test_conv2d_cycles_counts_macs_and_fc_is_1x1_conv():
    p = EngineParams()
    c = conv2d_cycles(p, (25, 5, 64), (1, 1), 64, 8, padding="same")
    assert c.macs == 25 * 5 * 64 * 64 and c.peak_macs_per_cycle == 8
    assert fc_cycles(p, 64, 12, 8) == conv2d_cycles(p, (1, 1, 64), (1, 1), 12, 8)
