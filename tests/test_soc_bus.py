# amaranth: UnusedElaboratable=no
"""The SoC's bus fabric and peripherals in amaranth.sim (no CPU): decoder, arbiter, RAM, CSR bridge, peripherals.

(The linter line above: the constructor-error tests build components that are never elaborated.)
"""

import pytest
from amaranth import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out
from amaranth.sim import Simulator

from soc import csr, memory_map, wishbone
from soc.peripherals import WINDOW, SerialUart, SimControl, Timer
from soc.cpu import make_cpu
from soc.ram import Ram, words_from_image
from soc.soc import Accelerator, initiator_bus


def simulate(dut, bench, *, clock=True, monitor=None):
    sim = Simulator(dut)
    if clock:
        sim.add_clock(1e-6)
    sim.add_testbench(bench)
    if monitor is not None:
        sim.add_process(monitor)
    sim.run()


async def wb_access(ctx, bus, adr, data=None, sel=0xF, timeout=20):
    """One classic Wishbone cycle; returns (dat_r, cycles until ack, err)."""
    ctx.set(bus.cyc, 1)
    ctx.set(bus.stb, 1)
    ctx.set(bus.adr, adr)
    ctx.set(bus.we, data is not None)
    ctx.set(bus.dat_w, data or 0)
    ctx.set(bus.sel, sel)
    for waited in range(1, timeout):
        await ctx.tick()
        if ctx.get(bus.ack) or ctx.get(bus.err):
            result = ctx.get(bus.dat_r), waited, ctx.get(bus.err)
            ctx.set(bus.cyc, 0)
            ctx.set(bus.stb, 0)
            await ctx.tick()
            return result
    raise AssertionError(f"no ack after {timeout} cycles")


def test_ram_byte_lanes_and_latency():
    dut = Ram(64, init=bytes(range(8)))

    async def bench(ctx):
        assert await wb_access(ctx, dut.bus, 1) == (0x07060504, 1, 0)
        await wb_access(ctx, dut.bus, 1, 0xAABBCCDD, sel=0b0101)
        assert (await wb_access(ctx, dut.bus, 1))[0] == 0x07BB05DD
    simulate(dut, bench)


def test_ram_refuses_oversized_image():
    with pytest.raises(ValueError, match="firmware image is 68 bytes but the RAM holds 64"):
        words_from_image(bytes(68), 64)


def test_decoder_routes_by_window_and_errs_outside():
    dut = wishbone.Decoder(wishbone.bus_signature(30), [(0x0, 0x100), (0x8000_0000, 0x1000)])

    async def bench(ctx):
        ctx.set(dut.bus.cyc, 1)
        ctx.set(dut.bus.stb, 1)
        ctx.set(dut.bus.adr, (0x8000_0000 + 0x24) >> 2)
        assert (ctx.get(dut.targets[0].cyc), ctx.get(dut.targets[1].cyc)) == (0, 1)
        assert ctx.get(dut.targets[1].adr) == 0x24 >> 2
        assert ctx.get(dut.bus.err) == 0
        ctx.set(dut.bus.adr, 0x4000_0000 >> 2)
        assert ctx.get(dut.bus.err) == 1
        assert (ctx.get(dut.targets[0].cyc), ctx.get(dut.targets[1].cyc)) == (0, 0)
    simulate(dut, bench, clock=False)


def test_decoder_refuses_overlapping_windows():
    with pytest.raises(ValueError, match="overlaps"):
        wishbone.Decoder(wishbone.bus_signature(30), [(0x0, 0x1000), (0x800, 0x800)])


def test_arbiter_round_robin():
    dut = wishbone.Arbiter(wishbone.bus_signature(30), 2)
    a, b = dut.initiators

    async def bench(ctx):
        for port, adr in ((a, 1), (b, 2)):
            ctx.set(port.cyc, 1)
            ctx.set(port.stb, 1)
            ctx.set(port.adr, adr)
        await ctx.tick()
        assert ctx.get(dut.bus.adr) == 1                      # initiator 0 holds the bus while its cyc is high
        await ctx.tick()
        assert ctx.get(dut.bus.adr) == 1
        ctx.set(a.cyc, 0)
        await ctx.tick()
        assert ctx.get(dut.bus.adr) == 2                      # then initiator 1
        ctx.set(a.cyc, 1)
        await ctx.tick()
        assert ctx.get(dut.bus.adr) == 2                      # no pre-emption
        ctx.set(b.cyc, 0)
        await ctx.tick()
        assert ctx.get(dut.bus.adr) == 1
    simulate(dut, bench)


class _CsrHarness(wiring.Component):
    """Wishbone bridge in front of one peripheral at CSR window 0."""

    def __init__(self, peripheral):
        self.peripheral = peripheral
        super().__init__({"bus": In(wishbone.bus_signature(WINDOW))})

    def elaborate(self, platform):
        m = Module()
        m.submodules.bridge = bridge = csr.WishboneBridge(WINDOW)
        m.submodules.peripheral = self.peripheral
        wiring.connect(m, wiring.flipped(self.bus), bridge.wb)
        wiring.connect(m, bridge.csr, self.peripheral.csr)
        return m


def test_timer_counts_cycles_through_the_bridge():
    dut = _CsrHarness(Timer())

    async def bench(ctx):
        first, latency, _ = await wb_access(ctx, dut.bus, 0)
        second, _, _ = await wb_access(ctx, dut.bus, 0)
        assert latency == 2
        assert second - first == latency + 1                  # one access every latency + 1 cycles
        assert (await wb_access(ctx, dut.bus, 1))[0] == 0     # high word as latched by the last CYCLE_LO read
    simulate(dut, bench)


def test_sim_control_exit_and_scratch():
    dut = _CsrHarness(SimControl())

    pulses = []

    async def monitor(ctx):
        async for _, _, stb, code in ctx.tick().sample(dut.peripheral.exit_stb, dut.peripheral.exit_code):
            if stb:
                pulses.append(code)

    async def bench(ctx):
        await wb_access(ctx, dut.bus, 1, 0x12345678)
        assert (await wb_access(ctx, dut.bus, 1))[0] == 0x12345678
        assert pulses == []
        await wb_access(ctx, dut.bus, 0, 42)
        await ctx.tick().repeat(3)
        assert pulses == [42]
    simulate(dut, bench, monitor=monitor)


def test_serial_uart_sends_8n1():
    divisor = 4
    dut = _CsrHarness(SerialUart(divisor))
    line = []

    async def monitor(ctx):
        async for _, _, tx in ctx.tick().sample(dut.peripheral.tx):
            line.append(tx)

    async def bench(ctx):
        await wb_access(ctx, dut.bus, 0, 0xA5)
        assert (await wb_access(ctx, dut.bus, 1))[0] == 0    # STATUS.TX_READY low while sending
        await ctx.tick().repeat(11 * divisor)
        start = line.index(0)
        bits = [line[start + divisor // 2 + i * divisor] for i in range(10)]
        assert bits[0] == 0 and bits[9] == 1
        assert sum(b << i for i, b in enumerate(bits[1:9])) == 0xA5
        assert (await wb_access(ctx, dut.bus, 1))[0] == 1
    simulate(dut, bench, monitor=monitor)


def test_serial_uart_refuses_bad_divisor():
    with pytest.raises(ValueError, match="divisor must be an int >= 2.*not 1"):
        SerialUart(1)


def test_soc_refuses_unknown_cpu():
    with pytest.raises(ValueError, match="unknown CPU 'rocket'; choose one of picorv32, vexriscv"):
        make_cpu("rocket")


class _Engine(wiring.Component):
    def __init__(self, csr_width=5, dma=True):
        members = {"csr": In(wishbone.bus_signature(csr_width))}
        if dma:
            members["bus"] = Out(initiator_bus())
        super().__init__(members)

    def elaborate(self, platform):
        return Module()


def test_accelerator_slot_checks_ports():
    engines = [_Engine(), _Engine(dma=False), _Engine(csr_width=12)]
    Accelerator(engines[0])
    Accelerator(engines[1], dma=None)
    with pytest.raises(TypeError, match="'bus' must be a member"):
        Accelerator(engines[1])
    with pytest.raises(TypeError, match="'regs' must be a member"):
        Accelerator(engines[0], csr="regs")
    with pytest.raises(TypeError, match="addr_width<=10"):
        Accelerator(engines[2])


def test_memory_map_bases():
    assert memory_map.peripheral_base("UART") == memory_map.CSR_BASE + 2 * memory_map.WINDOW_BYTES
    assert memory_map.accel_base(1) == memory_map.ACCEL_BASE + memory_map.ACCEL_WINDOW
    with pytest.raises(ValueError, match="accelerator index must be an int in \\[0, 16\\), not 16"):
        memory_map.accel_base(16)
    with pytest.raises(ValueError, match="unknown peripheral 'GPIO'"):
        memory_map.peripheral_base("GPIO")


def test_generated_files_are_up_to_date():
    from soc.__main__ import GENERATED
    for path, make in GENERATED.items():
        assert path.read_text() == make(), f"{path} is stale: run `python -m soc regs`"
