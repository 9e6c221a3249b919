"""Whole-net replay testbench: one engine with an on-chip memory model, running many layers without reset.

The design is ``sim.top.EngineWithMemory`` (an engine whose DMA port is served by a memory inside the simulated
design, so the engine runs free on Verilator with no Python per bus cycle). The clock is cocotb's C (GPI) clock, so
no Python runs per cycle while the engine works either. The testbench loads each layer's memory image through a host
port (one word per cycle, before the engine starts), writes the CSRs, waits for ``irq`` on an edge trigger, reads the
status and cycle registers and the output words back.

The pytest/CLI side (``sim.rtl``) writes ``layers.json``::

    [{"name", "runs": [CSR field dicts], "memory": {word address: hex word}, "out": [first word, count],
      "expect": [hex words] or null}, ...]

and the test :func:`replay` writes ``result.json`` after every layer:
``[{"name", "runs": [{"STATUS", "CYCLES", "COMPUTE_CYCLES"}], "out": [hex words]}, ...]``. With ``expect`` given the
test stops after the first layer whose output words differ (the caller decodes and reports the element).
"""

import json
import sys
from pathlib import Path

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import FallingEdge, First, ReadOnly, RisingEdge, Timer

from cocotb_tests.csr import csr_access
from cocotb_tests.runner import config
from hw.accel import regs

__all__ = ["NetBench", "replay"]

class NetBench:
    """Clock, host-port memory access and CSR accesses for ``sim.top.EngineWithMemory``."""

    def __init__(self, dut):
        self.dut = dut
        # impl="gpi": the clock toggles in C (cocotb's default Python clock runs a coroutine every half cycle, so
        # every engine cycle would cost Python time). Safe here: inputs change on falling edges, reads use ReadOnly.
        Clock(dut.clk, 10, "ns", impl="gpi").start()
        for name in ("csr__cyc", "csr__stb", "csr__we", "csr__sel", "csr__adr", "csr__dat_w", "host_we",
                     "host_adr", "host_dat_w"):
            getattr(dut, name).value = 0
        dut.rst.value = 0

    async def load(self, words):
        """Write ``{address: word}`` through the host port, one word per cycle."""
        dut = self.dut
        for address, word in words.items():
            await FallingEdge(dut.clk)
            dut.host_adr.value, dut.host_dat_w.value, dut.host_we.value = address, word, 1
        await FallingEdge(dut.clk)
        dut.host_we.value = 0

    async def dump(self, first, count):
        """Read ``count`` words from ``first`` through the host port (one word per cycle)."""
        dut, words = self.dut, []
        for i in range(count + 1):
            await FallingEdge(dut.clk)
            if i:
                words.append(int(dut.host_dat_r.value))
            dut.host_adr.value = first + i if i < count else 0
        return words

    async def csr(self, addr, data=None):
        """One classic CSR access at byte address ``addr`` (a write if ``data`` is given); returns the read data."""
        return await csr_access(self.dut, addr, data)

    async def run(self, fields, timeout_cycles):
        """Configure one run, start it and wait (edge trigger, no polling) for ``irq``; return the counters."""
        for address, word in sorted(regs.encode(**fields).items()):
            await self.csr(address, word)
        await self.csr(regs.register("CTRL").address, 1)
        await ReadOnly()
        if int(self.dut.irq.value):                   # the previous run's irq drops as this run starts
            await FallingEdge(self.dut.irq)
        done = RisingEdge(self.dut.irq)
        if await First(done, Timer(10 * timeout_cycles, "ns")) is not done:
            raise TimeoutError(f"the engine did not raise irq within {timeout_cycles} cycles")
        return {name: await self.csr(regs.register(name).address) for name in ("STATUS", "CYCLES", "COMPUTE_CYCLES")}


def _progress(i, total, name, width=30):
    filled = width * i // total
    sys.stderr.write(f"\r  rtl [{'#' * filled}{'.' * (width - filled)}] {i}/{total} {name:<16}")
    if i == total:
        sys.stderr.write("\n")
    sys.stderr.flush()


@cocotb.test()
async def replay(dut):
    """Run every layer of layers.json in order without reset; stop after the first output that differs."""
    cfg = config()
    layers = json.loads(Path(cfg["layers"]).read_text())
    bench, results = NetBench(dut), []
    for i, layer in enumerate(layers):
        _progress(i, len(layers), layer["name"])
        await bench.load({int(a): int(v, 16) for a, v in layer["memory"].items()})
        runs = [await bench.run(fields, cfg.get("timeout_cycles", 50_000_000)) for fields in layer["runs"]]
        out = await bench.dump(*layer["out"])
        results.append({"name": layer["name"], "runs": runs, "out": [hex(w) for w in out]})
        Path(cfg["result"]).write_text(json.dumps(results))
        if layer.get("expect") is not None and [int(w, 16) for w in layer["expect"]] != out:
            sys.stderr.write(f"\n  {layer['name']}: output differs from golden; stopping\n")
            return
    _progress(len(layers), len(layers), "done")
