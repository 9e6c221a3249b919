"""DepthwiseConv2dEngine on Verilator: DS-CNN / MobileNetV1-0.25 depthwise shapes (and DS-CNN's single-channel first
conv) at 16/8/4 bit against hw.golden.

Same testbench as ``test_engine_fc`` (CSR writes, Wishbone memory model, free-running engine, bit-exact comparison
with ``hw.golden.depthwise_conv2d`` + ``requantize`` through ``hw.layout``, and the ``hw.perf`` cycle model within
5 %).
"""

import cocotb
import numpy as np
import pytest

from cocotb_tests.test_engine_fc import replay, run_jobs
from hw.accel.sim import random_conv2d_layer, random_depthwise_layer
from hw.params import EngineParams
from hw.perf import depthwise_conv2d_cycles


@cocotb.test()
async def layers_back_to_back(dut):
    """Replay the jobs written by the pytest side."""
    await replay(dut)


#: (name, input shape, kernel, strides, padding, precisions): real depthwise layers that fit the default buffers.
REAL_DW = [
    ("dscnn_dw", (25, 5, 64), (3, 3), (1, 1), "same", (16, 8, 4)),
    ("mobilenet_dw_s2_6x6x128", (6, 6, 128), (3, 3), (2, 2), "same", (16, 8, 4)),
    ("mobilenet_dw_s2_12x12x64", (12, 12, 64), (3, 3), (2, 2), "same", (8, 4)),
    ("mobilenet_dw_s1_3x3x256", (3, 3, 256), (3, 3), (1, 1), "same", (16, 8, 4)),
]


@pytest.mark.verilator
@pytest.mark.parametrize("bits", [16, 8, 4])
def test_dwconv_real_shapes_each_precision(tmp_path, bits):
    """The real shapes at one precision, back to back on one build, bit-exact and within 5 % of ``hw.perf``."""
    p = EngineParams()
    rng = np.random.default_rng(bits)
    shapes = [s for s in REAL_DW if bits in s[5]]
    layers = [random_depthwise_layer(rng, p, shape, kernel, bits, strides=strides, padding=padding, relu=True,
                                     base=0x10000 * (1 + 2 * i))
              for i, (_, shape, kernel, strides, padding, _) in enumerate(shapes)]
    cycles = run_jobs("depthwise_conv2d_engine", __name__, tmp_path, p, layers)
    for (name, shape, kernel, strides, padding, _), res in zip(shapes, cycles):
        model = depthwise_conv2d_cycles(p, shape, kernel, bits, strides=strides, padding=padding)
        assert abs(model.total - res["CYCLES"]) <= 0.05 * res["CYCLES"], (name, model, res)
        assert abs(model.compute - res["COMPUTE_CYCLES"]) <= 0.05 * res["COMPUTE_CYCLES"], (name, model, res)


@pytest.mark.verilator
def test_single_channel_first_conv_real_shape(tmp_path):
    """DS-CNN's first conv (49 x 10 x 1, 10 x 4 stride 2, 64 channels: a conv2d with one input channel, ``cin = 1``)
    on the depthwise engine at 16/8/4 bit, back to back: bit-exact against ``hw.golden.conv2d``, cycles as
    ``hw.perf``."""
    p = EngineParams()
    rng = np.random.default_rng(49)
    layers = [random_conv2d_layer(rng, p, (49, 10, 1), (10, 4), 64, bits, strides=(2, 2), padding="same", o_bits=8,
                                  relu=True, on="depthwise", base=0x10000 * (1 + 2 * i))
              for i, bits in enumerate((16, 8, 4))]
    cycles = run_jobs("depthwise_conv2d_engine", __name__, tmp_path, p, layers)
    for bits, res in zip((16, 8, 4), cycles):
        model = depthwise_conv2d_cycles(p, (49, 10, 1), (10, 4), bits, 8, strides=(2, 2), padding="same", n_out=64)
        assert abs(model.total - res["CYCLES"]) <= 1 and abs(model.compute - res["COMPUTE_CYCLES"]) <= 1, (bits, res)
        assert model.util_compute > 0.99


@pytest.mark.verilator
def test_dwconv_unsplit_engine(tmp_path):
    """The engine without the split mode (``split=()``: every lane of a word on one channel, 4 tap read ports):
    DS-CNN's depthwise layer at 8 and 4 bit and random layers, bit-exact, cycles as ``hw.perf`` for that engine."""
    p = EngineParams()
    rng = np.random.default_rng(77)
    layers = [random_depthwise_layer(rng, p, (25, 5, 64), (3, 3), bits, padding="same", relu=True, split=(),
                                     base=0x10000 * (1 + 2 * i)) for i, bits in enumerate((8, 4))]
    cycles = run_jobs("depthwise_conv2d_engine", __name__, tmp_path, p, layers + _random_layers(rng, p, 8, split=()),
                      split=())
    for bits, res in zip((8, 4), cycles):
        model = depthwise_conv2d_cycles(p, (25, 5, 64), (3, 3), bits, padding="same", split=())
        assert (model.total, model.compute) == (res["CYCLES"], res["COMPUTE_CYCLES"]), (bits, model, res)


def _random_layers(rng, p, count, **options):
    layers = []
    for i in range(count):
        kh, kw = int(rng.integers(1, 6)), int(rng.integers(1, 6))
        shape = (int(rng.integers(kh, 12)), int(rng.integers(kw, 12)), int(rng.integers(1, 40)))
        layers.append(random_depthwise_layer(
            rng, p, shape, (kh, kw), int(rng.choice(p.precisions)),
            strides=(int(rng.integers(1, 3)), int(rng.integers(1, 3))), padding=str(rng.choice(["same", "valid"])),
            a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)), o_bits=int(rng.choice(p.precisions)),
            o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)), base=0x100000 + 0x4000 * i, **options))
    return layers


@pytest.mark.verilator
def test_dwconv_random_shapes_smoke(tmp_path):
    p = EngineParams()
    run_jobs("depthwise_conv2d_engine", __name__, tmp_path, p, _random_layers(np.random.default_rng(21), p, 20))


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("bus, macs", [(32, 4), (64, 8), (128, 2)])
def test_dwconv_random_shapes_sweep(tmp_path, bus, macs):
    """>= 200 random shapes/precisions/strides/paddings/signedness over three builds, back to back, wait states."""
    p = EngineParams(bus_width=bus, macs=macs)
    run_jobs("depthwise_conv2d_engine", __name__, tmp_path, p, _random_layers(np.random.default_rng(bus + macs), p, 70),
             wait=1)
