"""FullyConnectedEngine in amaranth.sim against hw.golden.dense + requantize: precisions, buses, P, errors."""

import numpy as np
import pytest

from hw.accel import regs
from hw.accel.driver import dense_job, read_output
from hw.accel.fc import FullyConnectedEngine
from hw.accel.sim import random_dense_layer, run_and_check, run_engine
from hw.params import EngineParams


def check(params, layers, **kw):
    return run_and_check(FullyConnectedEngine(params), layers, **kw)


@pytest.mark.parametrize("bits", [16, 8, 4])
def test_dscnn_classifier_shape(bits):
    """DS-CNN's final dense layer, 64 -> 12, at each precision."""
    rng = np.random.default_rng(bits)
    p = EngineParams()
    check(p, [random_dense_layer(rng, p, 64, 12, bits)])


@pytest.mark.parametrize("bus, macs, mul_pipeline", [(64, 2, 0), (128, 8, 2), (32, 1, 1)])
def test_bus_widths_and_parallelism(bus, macs, mul_pipeline):
    rng = np.random.default_rng(bus + macs)
    p = EngineParams(bus_width=bus, macs=macs)
    layer = random_dense_layer(rng, p, 37, 11, 8, a_signed=False)
    dut = FullyConnectedEngine(p, mul_pipeline=mul_pipeline)
    memory, results = run_engine(dut, [layer[0]])
    assert results[0]["status"]["done"] == 1
    np.testing.assert_array_equal(read_output(layer[0], memory.words), layer[1])


def test_back_to_back_mixed_precision_signedness_relu():
    """Layers without reset in between: 4-bit unsigned in / 8-bit unsigned out with ReLU, 16-bit with short rows
    (groups wait for the requantizer), 8-bit unsigned weights to 4-bit out."""
    rng = np.random.default_rng(7)
    p = EngineParams()
    check(p, [
        random_dense_layer(rng, p, 30, 5, 4, a_signed=False, o_bits=8, o_signed=False, relu=True, base=0x1000),
        random_dense_layer(rng, p, 9, 16, 16, relu=True, base=0x4000),
        random_dense_layer(rng, p, 50, 3, 8, w_signed=False, o_bits=4, base=0x8000),
    ])


@pytest.mark.parametrize("seed", range(3))
def test_random_shapes(seed):
    """Random shape, P, M, precisions, signedness and ReLU."""
    rng = np.random.default_rng(100 + seed)
    p = EngineParams(macs=int(rng.choice([1, 2, 4])), requant_mul_bits=int(rng.integers(4, 17)))
    bits = int(rng.choice(p.precisions))
    layer = random_dense_layer(rng, p, int(rng.integers(1, 70)), int(rng.integers(1, 20)), bits,
                       a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)),
                       o_bits=int(rng.choice(p.precisions)), o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)))
    check(p, [layer])


def test_large_layer_runs_as_output_tiles():
    """64 -> 40 at 16 bit needs 5 runs of 8 outputs with 256 weight words; they assemble the one output row."""
    p = EngineParams(weight_words=256)
    job, expected = random_dense_layer(np.random.default_rng(5), p, 64, 40, 16)
    assert [r["cout"] for r in job.runs] == [8] * 5
    check(p, [(job, expected)])


def _error_case(p, change):
    job, _ = random_dense_layer(np.random.default_rng(0), p, 20, 6, 8)
    job.runs[0].update(change)
    return job


@pytest.mark.parametrize("change, code", [
    ({"a_mode": 3}, regs.ErrorCode.BAD_PRECISION),
    ({"o_mode": 3}, regs.ErrorCode.BAD_PRECISION),
    ({"w_mode": 0}, regs.ErrorCode.PRECISION_MISMATCH),
    ({"cin": 0}, regs.ErrorCode.ZERO_DIM),
    ({"stride_h": 0}, regs.ErrorCode.ZERO_DIM),
    ({"addr_w": 0x1002}, regs.ErrorCode.MISALIGNED),
    ({"kh": 3}, regs.ErrorCode.BAD_GEOMETRY),
    ({"pad_left": 1}, regs.ErrorCode.BAD_GEOMETRY),
    ({"cout": 300}, regs.ErrorCode.BUFFER_OVERFLOW),
    ({"cin": 5000}, regs.ErrorCode.BUFFER_OVERFLOW),
])
def test_bad_configuration_sets_error_and_writes_nothing(change, code):
    p = EngineParams(weight_words=256)
    bad = _error_case(p, change)
    good, expected = random_dense_layer(np.random.default_rng(1), p, 20, 6, 8, base=0x8000)
    dut = FullyConnectedEngine(p)
    memory, results = run_engine(dut, [bad, good])
    assert results[0]["status"] == {"busy": 0, "done": 0, "error": 1, "err_code": int(code)}
    first = 0x8000 // p.bus_bytes                                          # the good layer's lowest word address
    assert min(memory.reads) >= first and min(memory.writes) >= first      # the refused layer touched no memory
    np.testing.assert_array_equal(read_output(good, memory.words), expected)   # and the engine recovers


def test_bus_error_reported():
    p = EngineParams()
    job, _ = random_dense_layer(np.random.default_rng(2), p, 20, 6, 8)
    _, results = run_engine(FullyConnectedEngine(p), [job], err_above=job.runs[0]["addr_w"] // 4)
    assert results[0]["status"]["err_code"] == regs.ErrorCode.BUS_ERROR and results[0]["status"]["error"] == 1


def test_driver_refuses_before_starting():
    p = EngineParams(weight_words=64)
    rng = np.random.default_rng(3)
    with pytest.raises(ValueError, match="must be equal"):
        dense_job(p, [1], [[1]], None, 1, 0, a_bits=8, a_signed=True, w_bits=4, w_signed=True, o_bits=8,
                  o_signed=True)
    with pytest.raises(ValueError, match="enlarge the buffers"):
        random_dense_layer(rng, p, 64, 40, 16)
    with pytest.raises(ValueError, match="precision must be one of"):
        dense_job(p, [1], [[1]], None, 1, 0, a_bits=2, a_signed=True, w_bits=2, w_signed=True, o_bits=8,
                  o_signed=True)


def test_engine_rejects_bad_arguments():
    with pytest.raises(ValueError, match="mul_pipeline"):
        FullyConnectedEngine(EngineParams(), mul_pipeline=3)
    with pytest.raises(TypeError, match="FullyConnectedEngine: params"):
        FullyConnectedEngine(None)
