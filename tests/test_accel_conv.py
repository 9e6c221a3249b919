"""Conv2dEngine in amaranth.sim against hw.golden.conv2d + requantize (small shapes; real ones run on Verilator)."""

import numpy as np
import pytest

from hw.accel import regs
from hw.accel.conv import Conv2dEngine
from hw.accel.driver import read_output
from hw.accel.sim import random_conv2d_layer, run_and_check, run_engine
from hw.params import EngineParams
from hw.perf import conv2d_cycles, conv2d_fits, conv2d_layer_cycles


def check(params, layers, mul_pipeline=1):
    return run_and_check(Conv2dEngine(params, mul_pipeline), layers)


@pytest.mark.parametrize("in_shape, kernel, cout, bits, strides, padding", [
    ((3, 3, 4), (1, 1), 4, 16, (1, 1), "valid"),          # pointwise
    ((5, 4, 3), (3, 3), 6, 8, (1, 1), "same"),            # padding on every side, Cin not a lane multiple
    ((7, 6, 5), (3, 2), 5, 4, (2, 2), "same"),            # stride 2, asymmetric kernel, partial group
])
def test_conv_vs_golden_and_cycle_model(in_shape, kernel, cout, bits, strides, padding):
    p = EngineParams()
    layer = random_conv2d_layer(np.random.default_rng(sum(in_shape)), p, in_shape, kernel, cout, bits,
                                strides=strides, padding=padding, relu=True)
    res = check(p, [layer])[0]
    model = conv2d_cycles(p, in_shape, kernel, cout, bits, strides=strides, padding=padding)
    assert abs(model.total - res["cycles"]) <= 0.05 * res["cycles"]
    assert abs(model.compute - res["compute_cycles"]) <= 0.05 * res["compute_cycles"]


@pytest.mark.parametrize("in_shape, cout, bits, o_bits, requantizers", [
    ((3, 3, 8), 9, 8, 8, 1),      # 4-word groups, 4 beats: a group every 4 cycles (was 4 + 2 + 4 + 2)
    ((3, 3, 8), 9, 4, 4, 1),      # 2-word groups wait for 4 beats
    ((3, 3, 8), 9, 4, 4, 2),      # two requantizers: 2 beats, a group every 2 cycles (MobileNet pw1 at 4 bit)
    ((3, 2, 4), 6, 4, 16, 4),     # 16-bit outputs: 2 a bus word, so 2 beats even with 4 requantizers
])
def test_short_groups_paced_by_requantization_beats(in_shape, cout, bits, o_bits, requantizers):
    """Pointwise layers with few input channels: groups shorter than P follow each other every max(K, P / E) cycles;
    bit-exact and cycle-exact against the model."""
    p = EngineParams()
    job, expected = random_conv2d_layer(np.random.default_rng(cout + bits), p, in_shape, (1, 1), cout, bits,
                                        o_bits=o_bits, relu=True)
    memory, res = run_engine(Conv2dEngine(p, requantizers=requantizers), [job])
    np.testing.assert_array_equal(read_output(job, memory.words), expected)
    model = conv2d_cycles(p, in_shape, (1, 1), cout, bits, o_bits, requantizers=requantizers)
    assert (model.total, model.compute) == (res[0]["cycles"], res[0]["compute_cycles"])


def test_dscnn_first_conv_geometry_back_to_back():
    """The 10x4 stride-2 'same' first conv of DS-CNN on a cropped 9x6x1 input, then a 1x1 stride-2 shortcut
    (ResNet-8) with unsigned activations and 8-bit weights, without reset in between."""
    p = EngineParams(macs=2, bus_width=64)
    rng = np.random.default_rng(3)
    check(p, [
        random_conv2d_layer(rng, p, (9, 6, 1), (10, 4), 3, 8, strides=(2, 2), padding="same", base=0x1000),
        random_conv2d_layer(rng, p, (5, 5, 6), (1, 1), 4, 8, strides=(2, 2), padding="valid", a_signed=False,
                            o_bits=4, base=0x8000),
    ], mul_pipeline=0)


@pytest.mark.parametrize("change, code", [
    ({"pad_top": 3}, regs.ErrorCode.BAD_GEOMETRY),        # pad_top >= KH
    ({"out_h": 9}, regs.ErrorCode.BAD_GEOMETRY),          # windows start below the input
    ({"kw": 0}, regs.ErrorCode.ZERO_DIM),
    ({"in_h": 2000}, regs.ErrorCode.BUFFER_OVERFLOW),     # 2000 x 4 pixels: more than act_words
    ({"addr_out": 0x8001}, regs.ErrorCode.MISALIGNED),
])
def test_bad_configuration_sets_error_and_touches_no_memory(change, code):
    p = EngineParams()
    bad, _ = random_conv2d_layer(np.random.default_rng(0), p, (4, 4, 3), (3, 3), 2, 8, padding="same")
    bad.runs[0].update(change)
    good = random_conv2d_layer(np.random.default_rng(1), p, (3, 3, 2), (2, 2), 2, 8, base=0x8000)
    memory, results = run_engine(Conv2dEngine(p), [bad, good[0]])
    assert results[0]["status"] == {"busy": 0, "done": 0, "error": 1, "err_code": int(code)}
    first = 0x8000 // p.bus_bytes
    assert min(memory.reads) >= first and min(memory.writes) >= first
    np.testing.assert_array_equal(read_output(good[0], memory.words), good[1])


def test_driver_refuses_layer_without_one_fitting_row():
    """50 columns x 3 input rows (one output row's windows) need 150 words: no band fits 64."""
    with pytest.raises(ValueError, match=r"the input need 150 bus words for one output row \(3 input rows\) but the "
                                         r"engine holds 64"):
        random_conv2d_layer(np.random.default_rng(0), EngineParams(act_words=64), (50, 50, 2), (3, 3), 2, 16)
    with pytest.raises(ValueError, match="the output need 10 bus words for one output row .* holds 8"):
        random_conv2d_layer(np.random.default_rng(0), EngineParams(out_words=8), (4, 10, 2), (3, 3), 2, 16,
                            padding="same")


@pytest.mark.parametrize("in_shape, kernel, cout, bits, strides, padding, buffers, bands", [
    ((9, 5, 3), (3, 3), 5, 8, (1, 1), "same", {"act_words": 16}, 8),       # halo rows, padding in the first band
    ((11, 4, 2), (3, 2), 3, 16, (2, 2), "same", {"act_words": 16}, 5),     # stride 2: bands start on even rows
    ((8, 3, 4), (2, 3), 6, 4, (1, 1), "valid", {"out_words": 4}, 2),       # output-bound bands
])
def test_large_layer_runs_as_row_bands(in_shape, kernel, cout, bits, strides, padding, buffers, bands):
    """Row bands (hw.perf.row_bands): one run per band, the output equal to hw.golden, the cycles to the model."""
    p = EngineParams(**buffers)
    assert not conv2d_fits(p, in_shape, kernel, cout, bits, strides=strides, padding=padding)
    layer = random_conv2d_layer(np.random.default_rng(sum(in_shape)), p, in_shape, kernel, cout, bits,
                                strides=strides, padding=padding, relu=True)
    assert len(layer[0].runs) == bands
    res = check(p, [layer])
    model = conv2d_layer_cycles(p, in_shape, kernel, cout, bits, strides=strides, padding=padding)
    total, compute = sum(r["cycles"] for r in res), sum(r["compute_cycles"] for r in res)
    assert abs(model.total - total) <= 0.05 * total and abs(model.compute - compute) <= 0.05 * compute


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_random_conv_shapes(seed):
    rng = np.random.default_rng(200 + seed)
    p = EngineParams(macs=int(rng.choice([1, 2, 4])), bus_width=int(rng.choice([32, 64])))
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    shape = (int(rng.integers(kh, 7)), int(rng.integers(kw, 7)), int(rng.integers(1, 9)))
    check(p, [random_conv2d_layer(
        rng, p, shape, (kh, kw), int(rng.integers(1, 7)), int(rng.choice(p.precisions)),
        strides=(int(rng.integers(1, 3)), int(rng.integers(1, 3))), padding=str(rng.choice(["same", "valid"])),
        a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)), o_bits=int(rng.choice(p.precisions)),
        o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)))])
