"""Conv2dEngine in amaranth.sim against hw.golden.conv2d + requantize (small shapes; real ones run on Verilator)."""

import numpy as np
import pytest

from hw.accel import regs
from hw.accel.conv import Conv2dEngine
from hw.accel.driver import read_output
from hw.accel.sim import random_conv2d_layer, run_engine
from hw.params import EngineParams
from hw.perf import conv2d_cycles


def check(params, layers, mul_pipeline=1):
    memory, results = run_engine(Conv2dEngine(params, mul_pipeline), [job for job, _ in layers])
    for res in results:
        assert res["status"] == {"busy": 0, "done": 1, "error": 0, "err_code": 0}
    for job, expected in layers:
        np.testing.assert_array_equal(read_output(job, memory.words), expected)
    return results


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


def test_driver_refuses_oversized_layer():
    with pytest.raises(ValueError, match="the input need 2500 but the engine holds 64"):
        random_conv2d_layer(np.random.default_rng(0), EngineParams(act_words=64), (50, 50, 2), (3, 3), 2, 16)


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
