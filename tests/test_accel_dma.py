"""Wishbone DMA master against the Wishbone memory model: read runs, write runs, bus errors, per-word cost."""

import pytest
from amaranth import Module
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from hw.accel.dma import WishboneDma
from hw.accel.sim import WishboneMemory
from hw.params import EngineParams


def _run(params, memory, runs):
    """Do the ``(write, addr, length, data)`` runs; return (words read per run, cycles per run, error flags)."""
    dut = WishboneDma(params)
    m = Module()
    m.submodules.dut = dut
    src = Memory(shape=params.bus_width, depth=64, init=[])        # the engine's buffer feeding write runs
    m.submodules.src = src
    rp = src.read_port()
    m.d.comb += [rp.addr.eq(dut.index), dut.wr_data.eq(rp.data)]
    results = []

    async def bench(ctx):
        for write, addr, length, data in runs:
            for i, v in enumerate(data or []):
                ctx.set(src.data[i], v)
            ctx.set(dut.write, write)
            ctx.set(dut.addr, addr)
            ctx.set(dut.length, length)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            got, cycles = [], 1
            async for _, _, rv, idx, rd, done, err in ctx.tick().sample(
                    dut.rd_valid, dut.index, dut.rd_data, dut.done, dut.error):
                if rv:
                    assert idx == len(got)
                    got.append(rd)
                if done:
                    break
                cycles += 1
            results.append((got, cycles, err))

    sim = Simulator(m)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.add_testbench(memory.testbench(dut.bus), background=True)
    sim.run()
    return results


@pytest.mark.parametrize("bus", [32, 128])
def test_read_then_write_runs(bus):
    p = EngineParams(bus_width=bus)
    mem = WishboneMemory({100 + i: (i * 0x1234567 + 7) % (1 << bus) << (bus - 32) for i in range(20)})
    data = [(0xDEADBEEF * (i + 1)) % (1 << bus) for i in range(9)]
    res = _run(p, mem, [(0, 100, 20, None), (1, 300, 9, data), (0, 5, 0, None)])
    assert res[0][0] == [mem.words[100 + i] for i in range(20)]
    assert [mem.words[300 + i] for i in range(9)] == data
    assert mem.writes == list(range(300, 309))
    assert res[2][0] == [] and res[2][2] == 0
    # cost with the memory model (start pulse to done pulse): 2n cycles for reads, 2n + 1 for writes
    assert res[0][1] == 2 * 20 and res[1][1] == 2 * 9 + 1


def test_wait_states_cost():
    res = _run(EngineParams(), WishboneMemory(wait=2), [(0, 0, 10, None)])
    assert res[0][0] == [0] * 10 and res[0][1] == 4 * 10


def test_bus_error_stops_run():
    mem = WishboneMemory({i: i for i in range(16)}, err_above=8)
    res = _run(EngineParams(), mem, [(0, 4, 10, None), (1, 6, 4, [1, 2, 3, 4])])
    assert res[0][0] == [4, 5, 6, 7] and res[0][2] == 1
    assert res[1][2] == 1 and mem.writes == [6, 7]


def test_rejects_non_params():
    with pytest.raises(TypeError, match="WishboneDma: params"):
        WishboneDma(32)
