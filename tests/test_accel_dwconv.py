"""DepthwiseConv2dEngine in amaranth.sim against hw.golden.depthwise_conv2d + requantize (small shapes; the real
DS-CNN / MobileNet shapes run on Verilator in ``cocotb_tests/test_engine_dwconv.py``)."""

import numpy as np
import pytest

from hw.accel import regs
from hw.accel.driver import read_output
from hw.accel.conv import Conv2dEngine
from hw.accel.dwconv import DepthwiseConv2dEngine
from hw.accel.sim import random_conv2d_layer, random_depthwise_layer, run_and_check, run_engine
from hw.params import EngineParams
from hw.perf import (depthwise_conv2d_cycles, depthwise_conv2d_fits, depthwise_conv2d_layer_cycles,
                     depthwise_conv2d_runs, conv2d_engine, default_split)


def check(params, layers, mul_pipeline=1):
    return run_and_check(DepthwiseConv2dEngine(params, mul_pipeline), layers)


@pytest.mark.parametrize("in_shape, kernel, bits, strides, padding, params", [
    ((4, 4, 5), (3, 3), 16, (1, 1), "same", {}),                          # partial channel group
    ((5, 4, 6), (3, 3), 8, (1, 1), "same", {}),                           # 9 taps in 5 words: one lane idle
    ((7, 6, 9), (3, 3), 4, (2, 2), "same", {}),                           # stride 2, requantizer-bound groups
    ((5, 5, 3), (2, 3), 8, (2, 1), "valid", {"macs": 2, "bus_width": 64}),
    ((4, 5, 19), (3, 1), 4, (1, 2), "same", {"macs": 8, "bus_width": 128}),   # group spans several bus words
])
def test_dwconv_vs_golden_and_cycle_model(in_shape, kernel, bits, strides, padding, params):
    p = EngineParams(**params)
    layer = random_depthwise_layer(np.random.default_rng(sum(in_shape)), p, in_shape, kernel, bits,
                                   strides=strides, padding=padding, relu=True)
    res = check(p, [layer])[0]
    model = depthwise_conv2d_cycles(p, in_shape, kernel, bits, strides=strides, padding=padding)
    assert abs(model.total - res["cycles"]) <= 0.05 * res["cycles"]
    assert abs(model.compute - res["compute_cycles"]) <= 0.05 * res["compute_cycles"]


def test_unsigned_activations_back_to_back_without_reset():
    """Two layers on one engine: unsigned 8-bit activations with 4-bit outputs, then signed 16 bit, mul_pipeline=0."""
    p = EngineParams(macs=2)
    rng = np.random.default_rng(5)
    check(p, [
        random_depthwise_layer(rng, p, (5, 5, 4), (3, 3), 8, padding="same", a_signed=False, o_bits=4,
                               o_signed=False, base=0x1000),
        random_depthwise_layer(rng, p, (6, 5, 3), (3, 3), 16, strides=(2, 2), padding="valid", base=0x8000),
    ], mul_pipeline=0)


@pytest.mark.parametrize("change, code", [
    ({"a_mode": 3, "w_mode": 3}, regs.ErrorCode.BAD_PRECISION),          # no 2-bit mode
    ({"cout": 4}, regs.ErrorCode.BAD_GEOMETRY),                           # depth multiplier != 1
    ({"pad_top": 3}, regs.ErrorCode.BAD_GEOMETRY),
    ({"kh": 0}, regs.ErrorCode.ZERO_DIM),
    ({"in_h": 3000}, regs.ErrorCode.BUFFER_OVERFLOW),                     # 3000 x 4 pixels: more than act_words
    ({"addr_in": 0x1002}, regs.ErrorCode.MISALIGNED),
])
def test_bad_configuration_sets_error_and_touches_no_memory(change, code):
    p = EngineParams()
    bad, _ = random_depthwise_layer(np.random.default_rng(0), p, (4, 4, 3), (3, 3), 8, padding="same")
    bad.runs[0].update(change)
    good = random_depthwise_layer(np.random.default_rng(1), p, (3, 3, 2), (2, 2), 8, base=0x8000)
    memory, results = run_engine(DepthwiseConv2dEngine(p), [bad, good[0]])
    assert results[0]["status"] == {"busy": 0, "done": 0, "error": 1, "err_code": int(code)}
    first = 0x8000 // p.bus_bytes
    assert min(memory.reads) >= first and min(memory.writes) >= first
    np.testing.assert_array_equal(read_output(good[0], memory.words), good[1])


def test_driver_refuses_oversized_layer_and_bad_weights():
    p = EngineParams(act_words=64)
    with pytest.raises(ValueError, match=r"the input need 150 bus words for one output row \(3 input rows\)"):
        random_depthwise_layer(np.random.default_rng(0), p, (50, 50, 2), (3, 3), 16)
    assert not depthwise_conv2d_fits(p, (50, 50, 2), (3, 3), 16)
    from hw.accel.driver import depthwise_conv2d_job
    with pytest.raises(ValueError, match=r"w \(KH, KW, 1, M\); got x \(3, 3, 2\), w \(3, 3, 2, 2\)"):
        depthwise_conv2d_job(EngineParams(), np.zeros((3, 3, 2)), np.zeros((3, 3, 2, 2)), None, 1, 0, a_bits=8,
                             a_signed=True, w_bits=8, w_signed=True, o_bits=8, o_signed=True)


def test_cycle_model_dscnn_utilization():
    """The documented utilization of DS-CNN's 3x3 depthwise layer (25x5x64), compute phase, P = 4.

    Split (default): two channels a MAC unit at 8 and 4 bit, lane-slot ceilings 9/9, 9/9 and 9/10 less the pipeline
    drain. Unsplit (``split=()``): every lane of a word on one channel, 9/9, 9/10 and 9/12. The default two
    requantizers keep up at every precision; one would not at 4 bit."""
    p = EngineParams()

    def util(bits, **kw):
        return depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), bits, padding="same", **kw).util_compute
    assert 0.995 < util(16) <= 1 and 0.995 < util(8) <= 1 and 0.895 < util(4) <= 0.9
    assert 0.995 < util(16, split=()) <= 1 and 0.895 < util(8, split=()) <= 0.9 and 0.745 < util(4, split=()) <= 0.75
    assert 0.56 < util(4, requantizers=1) < 0.57
    latency = {b: depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), b, padding="same").total for b in (16, 4)}
    assert latency[4] <= 0.3 * latency[16]


@pytest.mark.parametrize("split", [(), (4,), (2, 4)])
@pytest.mark.parametrize("in_shape, kernel, bits, strides, o_bits", [
    ((5, 4, 13), (3, 3), 4, (1, 1), 8),        # 13 channels: a full split group of 8 and a partial one
    ((6, 5, 11), (2, 3), 8, (2, 1), 4),        # even tap count, stride 2
    ((4, 4, 3), (3, 3), 4, (2, 2), 16),        # fewer channels than P: the upper sums unused
])
def test_split_and_unsplit_engines_agree_with_golden_and_model(split, in_shape, kernel, bits, strides, o_bits):
    """The same layers on engines with and without the split multiplier mode: bit-exact outputs; cycles as the model
    for that engine within one cycle a run."""
    p = EngineParams()
    layer = random_depthwise_layer(np.random.default_rng(sum(in_shape) + bits), p, in_shape, kernel, bits,
                                   strides=strides, padding="same", a_signed=bits == 8, o_bits=o_bits, relu=True)
    memory, res = run_engine(DepthwiseConv2dEngine(p, split=split), [layer[0]])
    np.testing.assert_array_equal(read_output(layer[0], memory.words), layer[1])
    model = depthwise_conv2d_cycles(p, in_shape, kernel, bits, o_bits, strides=strides, padding="same", split=split)
    assert abs(model.total - res[0]["cycles"]) <= 1 and abs(model.compute - res[0]["compute_cycles"]) <= 1


def test_split_needs_both_rows_of_a_pair_in_the_halved_weight_banks():
    """With split modes each weight bank is two half-depth memories (even / odd rows): one 16-bit 3 x 3 row of 5 bus
    words fits a bank of 8 words but not a half of 4. The engine and ``hw.perf`` agree on the limit."""
    p = EngineParams(weight_words=32)
    job, expected = random_depthwise_layer(np.random.default_rng(3), p, (3, 3, 4), (3, 3), 16, padding="same",
                                           split=())
    memory, res = run_engine(DepthwiseConv2dEngine(p, split=()), [job])
    np.testing.assert_array_equal(read_output(job, memory.words), expected)
    memory, res = run_engine(DepthwiseConv2dEngine(p), [job])
    assert res[0]["status"]["err_code"] == int(regs.ErrorCode.BUFFER_OVERFLOW)
    assert depthwise_conv2d_runs(p, (3, 3, 4), (3, 3), 16, split=()) == 1
    assert depthwise_conv2d_runs(p, (3, 3, 4), (3, 3), 16) == 0


@pytest.mark.parametrize("split", [None, ()])
@pytest.mark.parametrize("in_shape, kernel, cout, bits, strides", [
    ((9, 6, 1), (4, 3), 10, 4, (2, 2)),        # DS-CNN-like first conv: 12 taps, odd channel count
    ((5, 5, 1), (3, 3), 8, 8, (1, 1)),
    ((4, 3, 1), (2, 2), 3, 16, (1, 1)),
])
def test_single_channel_conv2d_on_the_depthwise_engine(split, in_shape, kernel, cout, bits, strides):
    """A conv2d with one input channel (``cin = 1``, ``cout = M``) runs on the depthwise engine, taps on the lanes:
    bit-exact against ``hw.golden.conv2d``, cycles as ``hw.perf`` (``n_out = M``)."""
    p = EngineParams()
    assert conv2d_engine(in_shape) == "depthwise" and conv2d_engine((4, 4, 2)) == "conv2d"
    layer = random_conv2d_layer(np.random.default_rng(cout + bits), p, in_shape, kernel, cout, bits, strides=strides,
                                padding="same", o_bits=8, relu=True, on="depthwise", split=split)
    assert layer[0].runs[0]["cin"] == 1 and layer[0].runs[0]["cout"] == cout
    res = run_and_check(DepthwiseConv2dEngine(p, split=split), [layer])
    model = depthwise_conv2d_cycles(p, in_shape, kernel, bits, 8, strides=strides, padding="same", split=split,
                                    n_out=cout)
    assert abs(model.total - res[0]["cycles"]) <= 1 and abs(model.compute - res[0]["compute_cycles"]) <= 1


def test_depthwise_engine_channel_counts_are_checked():
    """Only one input channel may fan out to several output channels: the driver, the model and the engine refuse
    ``cin != cout`` otherwise."""
    p = EngineParams()
    with pytest.raises(ValueError, match=r"not 4 from 2"):
        depthwise_conv2d_cycles(p, (4, 4, 2), (3, 3), 8, n_out=4)
    bad, _ = random_depthwise_layer(np.random.default_rng(0), p, (4, 4, 2), (3, 3), 8, padding="same")
    bad.runs[0].update(cout=4)
    memory, results = run_engine(DepthwiseConv2dEngine(p), [bad])
    assert results[0]["status"]["err_code"] == int(regs.ErrorCode.BAD_GEOMETRY) and not memory.writes


@pytest.mark.parametrize("engine, split, error, message", [
    (DepthwiseConv2dEngine, (1,), ValueError, r"split lane counts must be at least 2 .*, not 1 \(in split=\(1,\)\)"),
    (DepthwiseConv2dEngine, (8,), ValueError, r"split lane count 8 is not in lanes=\(1, 2, 4\)"),
    (DepthwiseConv2dEngine, (4, 4), ValueError, r"split must not repeat a lane count, got \(4, 4\)"),
    (DepthwiseConv2dEngine, 4, TypeError, r"split must be a tuple of lane counts such as \(2, 4\), not 4"),
    (Conv2dEngine, (4,), ValueError, r"split=\(4,\): the conv2d engine has no split mode"),
])
def test_split_is_checked(engine, split, error, message):
    with pytest.raises(error, match=message):
        engine(EngineParams(), split=split)


def test_default_split():
    """Depthwise: every lane count >= 2 runs split; the other engines never split."""
    assert default_split(EngineParams(), "depthwise") == (2, 4)
    assert default_split(EngineParams(lanes=(1, 2)), "depthwise") == (2,)
    assert default_split(EngineParams(lanes=(1,)), "depthwise") == ()
    assert default_split(EngineParams(), "conv2d") == default_split(EngineParams(), "dense") == ()


@pytest.mark.parametrize("P, bus, kernel, bits, o_bits, requantizers", [
    (4, 32, (1, 1), 16, 16, None),   # K = 1 word a group, two beats of 2 channels: requantizer-bound, 2 cycles a group
    (4, 32, (2, 2), 4, 8, 4),        # K = 1, one beat of 4 channels: a group every cycle
    (4, 32, (3, 3), 4, 4, 1),        # K = 3 < 4 beats of 1: the single-requantizer engine (56 % on DS-CNN)
    (8, 32, (3, 3), 4, 4, None),     # K = 3, two beats of 4 channels
    (8, 32, (3, 3), 8, 16, None),    # K = 5, four beats of 2 channels (16-bit outputs: 2 a bus word)
])
def test_requantizer_beats_bound_short_groups(P, bus, kernel, bits, o_bits, requantizers):
    """Groups shorter than their requantization beats wait for them; the model predicts it exactly."""
    p = EngineParams(macs=P, bus_width=bus)
    shape = (3, 4, 2 * P + 1)
    layer = random_depthwise_layer(np.random.default_rng(P + bits), p, shape, kernel, bits, o_bits=o_bits,
                                   padding="same", relu=True)
    memory, res = run_engine(DepthwiseConv2dEngine(p, requantizers=requantizers), [layer[0]])
    np.testing.assert_array_equal(read_output(layer[0], memory.words), layer[1])
    model = depthwise_conv2d_cycles(p, shape, kernel, bits, o_bits, padding="same", requantizers=requantizers)
    assert (model.total, model.compute) == (res[0]["cycles"], res[0]["compute_cycles"])


@pytest.mark.parametrize("requantizers", [0, 3, 8, True])
def test_requantizer_count_is_checked(requantizers):
    with pytest.raises(ValueError, match=f"requantizers must be a power of two between 1 and macs=4, not "
                                         f"{requantizers!r}"):
        DepthwiseConv2dEngine(EngineParams(), requantizers=requantizers)


def test_large_layer_runs_as_row_bands():
    """A MobileNet-like stride-2 layer on a 4x smaller input buffer: row bands, bit-exact, cycles as the model."""
    p = EngineParams(act_words=64)
    shape = (10, 6, 8)
    assert not depthwise_conv2d_fits(p, shape, (3, 3), 8, strides=(2, 2), padding="same")
    job, expected = random_depthwise_layer(np.random.default_rng(9), p, shape, (3, 3), 8, strides=(2, 2),
                                           padding="same", relu=True)
    assert len(job.runs) == 3 and [r["pad_top"] for r in job.runs] == [0, 0, 0]
    res = check(p, [(job, expected)])
    model = depthwise_conv2d_layer_cycles(p, shape, (3, 3), 8, strides=(2, 2), padding="same")
    total, compute = sum(r["cycles"] for r in res), sum(r["compute_cycles"] for r in res)
    assert abs(model.total - total) <= 0.05 * total and abs(model.compute - compute) <= 0.05 * compute


def _random_layer(rng, p, base):
    kh, kw = int(rng.integers(1, 4)), int(rng.integers(1, 4))
    shape = (int(rng.integers(kh, 7)), int(rng.integers(kw, 7)), int(rng.integers(1, 12)))
    return random_depthwise_layer(
        rng, p, shape, (kh, kw), int(rng.choice(p.precisions)), strides=(int(rng.integers(1, 3)),
                                                                          int(rng.integers(1, 3))),
        padding=str(rng.choice(["same", "valid"])), a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)),
        o_bits=int(rng.choice(p.precisions)), o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)), base=base)


@pytest.mark.parametrize("seed", range(2))
def test_random_dwconv_shapes_fast(seed):
    rng = np.random.default_rng(400 + seed)
    p = EngineParams(macs=int(rng.choice([1, 2, 4, 8])), bus_width=int(rng.choice([32, 64, 128])))
    check(p, [_random_layer(rng, p, 0x1000 + 0x4000 * i) for i in range(2)])


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6))
def test_random_dwconv_shapes(seed):
    rng = np.random.default_rng(500 + seed)
    p = EngineParams(macs=int(rng.choice([1, 2, 4, 8])), bus_width=int(rng.choice([32, 64, 128])))
    check(p, [_random_layer(rng, p, 0x1000 + 0x4000 * i) for i in range(5)], mul_pipeline=int(rng.integers(3)))
