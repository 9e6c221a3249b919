"""amaranth.sim helpers for the engines' tests and the benchmark: Wishbone transfers, a Wishbone memory model,
running an engine on jobs, and random layers with their golden results. No test framework is imported.
"""

import numpy as np

from ..golden import requantize, value_range
from ..golden.layers import conv2d, dense, depthwise_conv2d
from .driver import conv2d_job, dense_job, depthwise_conv2d_job, read_output
from .regs import encode, field, register

__all__ = ["wb_write", "wb_read", "WishboneMemory", "write_fields", "run_engine", "run_and_check", "random_dense_layer",
           "random_conv2d_layer", "random_depthwise_layer"]


async def wb_write(ctx, bus, addr, data, sel=None):
    """One classic write cycle on an initiator-side view of a target's ``bus`` (word address ``addr``)."""
    ctx.set(bus.adr, addr)
    ctx.set(bus.dat_w, data)
    ctx.set(bus.sel, (1 << len(bus.sel)) - 1 if sel is None else sel)
    ctx.set(bus.we, 1)
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    await ctx.tick().until(bus.ack)
    ctx.set(bus.cyc, 0)
    ctx.set(bus.stb, 0)
    ctx.set(bus.we, 0)


async def wb_read(ctx, bus, addr):
    """One classic read cycle; returns the data."""
    ctx.set(bus.adr, addr)
    ctx.set(bus.we, 0)
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    value, = await ctx.tick().sample(bus.dat_r).until(bus.ack)
    ctx.set(bus.cyc, 0)
    ctx.set(bus.stb, 0)
    return value


async def write_fields(ctx, bus, **values):
    """Write register fields by name (see ``hw.accel.regs.encode``): one bus write per register touched."""
    for address, word in sorted(encode(**values).items()):
        await wb_write(ctx, bus, address // 4, word)


class WishboneMemory:
    """A Wishbone target memory model (classic cycles, registered ``ack``) for an initiator port.

    Parameters
    ----------
    words : dict of int to int
        Bus-word address to bus word; missing addresses read 0. Updated in place by writes (honouring ``sel``).
    wait : int
        Extra wait cycles before each ``ack`` (0: ``ack`` in the cycle after ``stb``).
    err_above : int or None
        Word addresses ``>= err_above`` answer ``err`` instead of ``ack`` (the port must have the ``err`` feature).

    Attributes
    ----------
    reads, writes : list of int
        Word addresses accessed, in order (writes record only acknowledged writes).
    """

    def __init__(self, words=None, *, wait=0, err_above=None):
        self.words = dict(words or {})
        self.wait = wait
        self.err_above = err_above
        self.reads, self.writes = [], []

    def testbench(self, bus):
        """An ``add_testbench(..., background=True)`` coroutine serving ``bus``."""
        gran = len(bus.dat_w) // len(bus.sel)

        async def serve(ctx):
            while True:
                await ctx.tick()
                if ctx.get(bus.ack) or (hasattr(bus, "err") and ctx.get(bus.err)):
                    ctx.set(bus.ack, 0)
                    if hasattr(bus, "err"):
                        ctx.set(bus.err, 0)
                    continue
                if not (ctx.get(bus.cyc) and ctx.get(bus.stb)):
                    continue
                for _ in range(self.wait):
                    await ctx.tick()
                adr = ctx.get(bus.adr)
                if self.err_above is not None and adr >= self.err_above:
                    ctx.set(bus.err, 1)
                    continue
                if ctx.get(bus.we):
                    sel, value = ctx.get(bus.sel), self.words.get(adr, 0)
                    for i in range(len(bus.sel)):
                        if sel >> i & 1:
                            mask = ((1 << gran) - 1) << (i * gran)
                            value = (value & ~mask) | (ctx.get(bus.dat_w) & mask)
                    self.words[adr] = value
                    self.writes.append(adr)
                else:
                    ctx.set(bus.dat_r, self.words.get(adr, 0))
                    self.reads.append(adr)
                ctx.set(bus.ack, 1)

        return serve


def run_engine(engine, jobs, *, wait=0, err_above=None, max_cycles=200_000):
    """Simulate ``engine`` running ``jobs`` back to back (no reset in between) against one :class:`WishboneMemory`.

    Each job's memory image is merged into the shared memory before its runs start. Returns ``(memory, results)``:
    the memory model and, per run (a job has one run per output tile), a dict with ``status`` (``busy``, ``done``,
    ``error``, ``err_code``), ``cycles`` and ``compute_cycles`` as read back through the CSR port.
    """
    from amaranth.sim import Simulator

    memory = WishboneMemory(wait=wait, err_above=err_above)
    results = []

    def field_of(word, name):
        _, f = field(name)
        return (word >> f.offset) & ((1 << f.width) - 1)

    async def bench(ctx):
        for job in jobs:
            memory.words.update(job.memory)
            for run in job.runs:
                results.append(await run_one(ctx, run))

    async def run_one(ctx, fields):
        await write_fields(ctx, engine.csr, **fields)
        await wb_write(ctx, engine.csr, register("CTRL").address // 4, 1)
        for _ in range(max_cycles):
            if ctx.get(engine.irq):
                break
            await ctx.tick()
        else:
            raise TimeoutError(f"engine did not finish within {max_cycles} cycles")
        status = await wb_read(ctx, engine.csr, register("STATUS").address // 4)
        return {
            "status": {n: field_of(status, n) for n in ("busy", "done", "error", "err_code")},
            "cycles": await wb_read(ctx, engine.csr, register("CYCLES").address // 4),
            "compute_cycles": await wb_read(ctx, engine.csr, register("COMPUTE_CYCLES").address // 4),
        }

    sim = Simulator(engine)
    sim.add_clock(1e-8)
    sim.add_testbench(bench)
    sim.add_testbench(memory.testbench(engine.bus), background=True)
    sim.run()
    return memory, results


def run_and_check(engine, layers, **kw):
    """:func:`run_engine` on ``layers`` (``(job, expected)`` pairs, e.g. from the ``random_*_layer`` helpers) and
    raise ``AssertionError`` unless every run ended done without error and every output equals ``expected`` exactly.

    Keyword arguments go to :func:`run_engine`; returns its per-run results.
    """
    memory, results = run_engine(engine, [job for job, _ in layers], **kw)
    runs = sum(len(job.runs) for job, _ in layers)
    if len(results) != runs:
        raise AssertionError(f"{runs} engine runs expected, {len(results)} ran")
    ok = {"busy": 0, "done": 1, "error": 0, "err_code": 0}
    for i, res in enumerate(results):
        if res["status"] != ok:
            raise AssertionError(f"run {i} ended with status {res['status']}, expected {ok}")
    for job, expected in layers:
        np.testing.assert_array_equal(read_output(job, memory.words), expected)
    return results


def _requant_params(rng, params, acc, o_bits):
    """Per-channel multipliers and a shift mapping ``acc`` onto (slightly beyond) the ``o_bits`` output range."""
    n = acc.shape[-1]
    m_bits = params.requant_mul_bits
    mult = rng.integers(1 << (m_bits - 1), 1 << m_bits, size=n)
    peak = max(int(np.abs(acc).max()), 1) * (1 << m_bits)
    shift = np.full(n, max(0, min(peak.bit_length() - o_bits, (1 << params.requant_shift_bits) - 1)))
    return mult, shift


def random_dense_layer(rng, params, n_in, n_out, bits, a_signed=True, w_signed=True, o_bits=None, o_signed=True,
                       relu=False, base=0x1000):
    """A random dense layer and its golden output: ``(Job, expected)``; outputs both vary and saturate."""
    o_bits = o_bits or bits
    x = rng.integers(*value_range(bits, a_signed), size=n_in, endpoint=True)
    w = rng.integers(*value_range(bits, w_signed), size=(n_in, n_out), endpoint=True)
    bias = rng.integers(-(1 << 12), 1 << 12, size=n_out)
    acc = dense(x, w, bias, params.acc_bits)
    mult, shift = _requant_params(rng, params, acc, o_bits)
    expected = requantize(acc, mult, shift, o_bits, o_signed, relu)
    return dense_job(params, x, w, bias, mult, shift, base=base, a_bits=bits, a_signed=a_signed, w_bits=bits,
                     w_signed=w_signed, o_bits=o_bits, o_signed=o_signed, relu=relu), expected


def random_conv2d_layer(rng, params, in_shape, kernel, cout, bits, *, strides=(1, 1), padding="valid",
                        a_signed=True, w_signed=True, o_bits=None, o_signed=True, relu=False, base=0x1000,
                        on="conv2d", split=None):
    """A random conv2d layer ``in_shape = (H, W, Cin)``, ``kernel = (KH, KW)`` and its golden output, as a job for
    the engine ``on``: ``"conv2d"``, or ``"depthwise"`` for ``Cin = 1`` (with split lane counts ``split``)."""
    o_bits = o_bits or bits
    x = rng.integers(*value_range(bits, a_signed), size=in_shape, endpoint=True)
    w = rng.integers(*value_range(bits, w_signed), size=(*kernel, in_shape[2], cout), endpoint=True)
    bias = rng.integers(-(1 << 12), 1 << 12, size=cout)
    acc = conv2d(x, w, bias, strides, padding, params.acc_bits)
    mult, shift = _requant_params(rng, params, acc, o_bits)
    expected = requantize(acc, mult, shift, o_bits, o_signed, relu)
    options = dict(strides=strides, padding=padding, base=base, a_bits=bits, a_signed=a_signed, w_bits=bits,
                   w_signed=w_signed, o_bits=o_bits, o_signed=o_signed, relu=relu)
    if on == "depthwise":
        return depthwise_conv2d_job(params, x, w, bias, mult, shift, split=split, **options), expected
    if on != "conv2d":
        raise ValueError(f"on must be 'conv2d' or 'depthwise', not {on!r}")
    return conv2d_job(params, x, w, bias, mult, shift, **options), expected


def random_depthwise_layer(rng, params, in_shape, kernel, bits, *, strides=(1, 1), padding="valid", a_signed=True,
                           w_signed=True, o_bits=None, o_signed=True, relu=False, base=0x1000, split=None):
    """A random depthwise conv2d layer ``in_shape = (H, W, C)``, ``kernel = (KH, KW)`` and its golden output (the job
    for an engine with split lane counts ``split``, default ``hw.perf.default_split``)."""
    o_bits = o_bits or bits
    x = rng.integers(*value_range(bits, a_signed), size=in_shape, endpoint=True)
    w = rng.integers(*value_range(bits, w_signed), size=(*kernel, in_shape[2], 1), endpoint=True)
    bias = rng.integers(-(1 << 12), 1 << 12, size=in_shape[2])
    acc = depthwise_conv2d(x, w, bias, strides, padding, params.acc_bits)
    mult, shift = _requant_params(rng, params, acc, o_bits)
    expected = requantize(acc, mult, shift, o_bits, o_signed, relu)
    return depthwise_conv2d_job(params, x, w, bias, mult, shift, strides=strides, padding=padding, base=base,
                                a_bits=bits, a_signed=a_signed, w_bits=bits, w_signed=w_signed, o_bits=o_bits,
                                o_signed=o_signed, relu=relu, split=split), expected
