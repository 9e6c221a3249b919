"""Conv2dEngine on Verilator: DS-CNN / ResNet-8 / MobileNetV1 conv shapes at 16/8/4 bit against hw.golden.

Same testbench as ``test_engine_fc`` (CSR writes, Wishbone memory model, free-running engine, bit-exact comparison
through ``hw.layout`` and the ``hw.perf`` cycle model within 5 %).
"""

import cocotb
import numpy as np
import pytest

from cocotb_tests.test_engine_fc import replay, run_jobs
from hw.accel.sim import random_conv2d_layer
from hw.params import EngineParams
from hw.perf import conv2d_cycles


@cocotb.test()
async def layers_back_to_back(dut):
    """Replay the jobs written by the pytest side."""
    await replay(dut)


#: (name, input shape, kernel, Cout, strides, padding): real layers that fit the default buffers.
REAL_CONVS = [
    ("dscnn_conv1", (49, 10, 1), (10, 4), 64, (2, 2), "same"),
    ("dscnn_pointwise", (25, 5, 64), (1, 1), 64, (1, 1), "same"),
    ("resnet8_shortcut", (16, 16, 16), (1, 1), 32, (2, 2), "same"),
    ("mobilenet_pointwise_late", (6, 6, 64), (1, 1), 64, (1, 1), "same"),
]


def _check_cycles(p, convs, bits, cycles):
    for (_, shape, kernel, cout, strides, padding), res in zip(convs, cycles):
        model = conv2d_cycles(p, shape, kernel, cout, bits, strides=strides, padding=padding)
        assert abs(model.total - res["CYCLES"]) <= 0.05 * res["CYCLES"], (shape, model, res)
        assert abs(model.compute - res["COMPUTE_CYCLES"]) <= 0.05 * res["COMPUTE_CYCLES"], (shape, model, res)


@pytest.mark.verilator
@pytest.mark.parametrize("bits", [16, 8, 4])
def test_conv_real_shapes_each_precision(tmp_path, bits):
    p = EngineParams()
    rng = np.random.default_rng(bits)
    convs = REAL_CONVS if bits != 16 else REAL_CONVS[:1]           # 16 bit: the smoke subset (make test)
    layers = [random_conv2d_layer(rng, p, shape, kernel, cout, bits, strides=strides, padding=padding, relu=True,
                                  base=0x10000 * (1 + 2 * i))
              for i, (_, shape, kernel, cout, strides, padding) in enumerate(convs)]
    _check_cycles(p, convs, bits, run_jobs("conv2d_engine", __name__, tmp_path, p, layers))


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2))
def test_conv_random_shapes(tmp_path, seed):
    """100 random shapes/precisions/strides/paddings/signedness per seed on one build, back to back."""
    p = EngineParams()
    rng = np.random.default_rng(300 + seed)
    layers = []
    for i in range(100):
        kh, kw = int(rng.integers(1, 5)), int(rng.integers(1, 5))
        shape = (int(rng.integers(kh, 12)), int(rng.integers(kw, 12)), int(rng.integers(1, 20)))
        layers.append(random_conv2d_layer(
            rng, p, shape, (kh, kw), int(rng.integers(1, 12)), int(rng.choice(p.precisions)),
            strides=(int(rng.integers(1, 3)), int(rng.integers(1, 3))), padding=str(rng.choice(["same", "valid"])),
            a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)), o_bits=int(rng.choice(p.precisions)),
            o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)), base=0x1000 + 0x4000 * i))
    run_jobs("conv2d_engine", __name__, tmp_path, p, layers, wait=seed)
