"""hw.perf cycle model against the RTL (amaranth.sim): within 5 % on every measured layer."""

import numpy as np
import pytest

from hw.accel.fc import FullyConnectedEngine
from hw.accel.sim import random_dense_layer, run_engine
from hw.params import EngineParams
from hw.bench_engines import DEPTHWISE_LAYERS, bench, markdown
from hw.perf import (conv2d_cycles, conv2d_fits, default_requantizers, depthwise_conv2d_cycles, fc_cycles,
                     fc_max_outputs, fc_tiles, row_bands)

FC_LAYERS = [  # (P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait)
    (4, 32, 64, 12, 16, 16, 1, 0),     # DS-CNN classifier
    (4, 32, 64, 12, 4, 8, 1, 0),
    (4, 32, 9, 16, 16, 16, 1, 0),      # short rows
    (4, 32, 8, 13, 4, 4, 1, 0),        # 2-word groups wait for the requantizer (4 beats a group)
    (2, 64, 37, 11, 8, 8, 0, 1),       # wait states
    (1, 32, 5, 3, 4, 16, 2, 0),
]


@pytest.mark.parametrize("P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait", FC_LAYERS)
def test_fc_model_matches_rtl(P, bus, n_in, n_out, bits, o_bits, mul_pipeline, wait):
    """Exact for the dense engine."""
    p = EngineParams(macs=P, bus_width=bus)
    job, _ = random_dense_layer(np.random.default_rng(n_in), p, n_in, n_out, bits, o_bits=o_bits)
    _, res = run_engine(FullyConnectedEngine(p, mul_pipeline), [job], wait=wait)
    model = fc_cycles(p, n_in, n_out, bits, o_bits, mul_pipeline=mul_pipeline, wait=wait)
    assert (model.total, model.compute) == (res[0]["cycles"], res[0]["compute_cycles"]), (model, res)


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


def test_depthwise_model_counts_and_requant_beats():
    """Groups of G channels follow each other every max(K, G / E) cycles, E = min(requantizers, bus / o_bits) channels
    requantized a cycle (2 requantizers by default for P = 4); split precisions have groups of 2P channels and words
    of lanes / 2 taps a channel."""
    p = EngineParams()
    dw = {b: depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), b, padding="same") for b in (16, 8, 4)}
    assert dw[8].macs == 25 * 5 * 9 * 64 and dw[4].peak_macs_per_cycle == 16
    groups = 25 * 5 * 16
    # K * groups + pipeline (2) + the last group's beats (2 or 4 of 2 channels) + sequencer (2) + requantizer (3)
    assert [dw[b].compute for b in (16, 8, 4)] == [9 * groups + 9, 9 * groups // 2 + 11, 5 * groups // 2 + 11]
    unsplit = [depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), b, padding="same", split=()) for b in (16, 8, 4)]
    assert [u.compute for u in unsplit] == [9 * groups + 9, 5 * groups + 9, 3 * groups + 9]
    assert [default_requantizers(EngineParams(macs=P), "depthwise") for P in (1, 2, 4, 8, 64)] == [1, 1, 2, 4, 32]
    assert default_requantizers(p, "conv2d") == default_requantizers(p, "dense") == 1
    one = depthwise_conv2d_cycles(p, (5, 5, 8), (1, 1), 16)              # K = 1 < P / E = 2: requantizer-bound
    assert one.compute == 1 + (25 * 2 - 1) * 2 + 2 + 2 + 5


def test_bench_rows_cover_every_engine_and_precision():
    rows = bench(EngineParams(), rtl_max_macs=0, rtl_max_dw_macs=0)
    assert {r["engine"] for r in rows} == {"dense", "conv2d", "depthwise"}
    dw = [r for r in rows if r["engine"] == "depthwise"]
    assert len(dw) == 3 * (len(DEPTHWISE_LAYERS) + 1) and all(r["rtl"] is None for r in rows)   # + DS-CNN conv1
    conv1 = {r["bits"]: r["model"]["util_compute"] for r in dw if r["layer"] == "conv1 (cin=1)"}
    assert all(u > 0.99 for u in conv1.values()) and len(conv1) == 3
    dscnn = {r["bits"]: r["model"]["util_compute"] for r in dw if r["layer"] == "dw1..4"}
    assert dscnn[16] > 0.99 and dscnn[8] > 0.99 and dscnn[4] > 0.89
    assert "| depthwise | dscnn/dw1..4 | 25x5x64x3x3 | 4 |" in markdown(rows)


def test_row_bands_cover_the_output_with_the_halo_rows():
    p = EngineParams(act_words=64)
    bands = row_bands(p, (20, 8, 4), (3, 3), 4, 16, strides=(1, 1), padding="same")      # 2 words a pixel, 16 a row
    assert [(b.row, b.rows, b.in_row, b.in_rows, b.pad_top) for b in bands] == [
        (0, 3, 0, 4, 1), (3, 2, 2, 4, 0), (5, 2, 4, 4, 0), (7, 2, 6, 4, 0), (9, 2, 8, 4, 0), (11, 2, 10, 4, 0),
        (13, 2, 12, 4, 0), (15, 2, 14, 4, 0), (17, 2, 16, 4, 0), (19, 1, 18, 2, 0)]
    assert row_bands(EngineParams(), (20, 8, 4), (3, 3), 4, 16, padding="same") == [bands[0].__class__(0, 20, 0, 20, 1)]
