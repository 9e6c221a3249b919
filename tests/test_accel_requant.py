"""Requantizer RTL against hw.golden.requantize: exhaustive on a small configuration, random + ties on the default."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from hw.accel.requant import Requantizer
from hw.golden import requantize, wrap
from hw.params import EngineParams


def _run(params, vectors):
    """Stream ``vectors`` (acc, mult, shift, mode, out_signed, relu) one a cycle; return the outputs in order."""
    dut = Requantizer(params)
    out = []

    async def drive(ctx):
        for v in vectors:
            for port, value in zip((dut.acc, dut.multiplier, dut.shift, dut.mode, dut.out_signed, dut.relu), v):
                ctx.set(port, int(value))
            ctx.set(dut.valid, 1)
            await ctx.tick()
        ctx.set(dut.valid, 0)
        await ctx.tick().repeat(Requantizer.LATENCY + 1)

    async def collect(ctx):
        async for _, _, valid, value in ctx.tick().sample(dut.out_valid, dut.out):
            if valid:
                out.append(value)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(drive)
    sim.add_testbench(collect, background=True)
    sim.run()
    return np.array(out, dtype=np.int64)


def _golden(params, vectors):
    v = np.asarray(vectors, dtype=np.int64)
    return np.array([requantize(wrap(a, params.acc_bits), m, s, params.bits_of(int(md)), bool(sg), bool(r))
                     for a, m, s, md, sg, r in v], dtype=np.int64)


def test_exhaustive_small():
    """Every (acc, multiplier, shift) of an 8-bit accumulator, 4-bit M and 3-bit shift; modes/sign/relu cycled."""
    p = EngineParams(acc_bits=8, requant_mul_bits=4, requant_shift_bits=3, mul_width=8, lanes=(1, 2))
    acc, mul, sh = np.meshgrid(np.arange(-128, 128), np.arange(16), np.arange(8), indexing="ij")
    n = acc.size
    k = np.arange(n)
    vectors = np.stack([acc.ravel(), mul.ravel(), sh.ravel(), k % 2, (k // 2) % 2, (k // 4) % 2], axis=1)
    np.testing.assert_array_equal(_run(p, vectors), _golden(p, vectors))


@pytest.mark.parametrize("m_bits", [4, 16])
def test_random_and_ties_default_widths(m_bits):
    p = EngineParams(requant_mul_bits=m_bits)
    rng = np.random.default_rng(m_bits)
    n = 1500
    acc = rng.integers(-(1 << 31), 1 << 31, n)
    acc[:300] = rng.integers(-3000, 3000, 300)                      # small values: many results inside the range
    mul = rng.integers(0, 1 << m_bits, n)
    shift = rng.integers(0, 63, n)                                # golden's limit is 62
    shift[:600] = rng.integers(0, 20, 600)
    # exact ties: acc * mul = (2k + 1) * 2**(s-1)
    s = rng.integers(1, 12, 200)
    mul[300:500] = 1
    acc[300:500] = (2 * rng.integers(-400, 400, 200) + 1) << (s - 1)
    shift[300:500] = s
    acc[0], mul[0], shift[0] = -(1 << 31), (1 << m_bits) - 1, 0    # extreme product, saturates
    vectors = np.stack([acc, mul, shift, rng.choice(p.modes, n), rng.integers(0, 2, n), rng.integers(0, 2, n)], 1)
    np.testing.assert_array_equal(_run(p, vectors), _golden(p, vectors))


def test_rejects_non_params():
    with pytest.raises(TypeError, match="EngineParams"):
        Requantizer({"acc_bits": 32})


def test_cycle_model_uses_the_requantizer_latency():
    from hw.perf import REQUANT_LATENCY
    assert REQUANT_LATENCY == Requantizer.LATENCY
