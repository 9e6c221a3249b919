"""FullyConnectedEngine on Verilator: CSR writes, a Wishbone memory model on the DMA port, the engine runs free.

The pytest side builds the layers (``hw.accel.sim.random_dense_layer``: ``hw.layout`` memory image, register values
and the golden ``dense`` + ``requantize`` result) and writes them to ``jobs.json``; the cocotb side (:class:`Bench`)
runs them back to back without reset and writes the memory and the status/cycle registers to ``result.json``; pytest
then reads the outputs back through ``hw.layout`` and compares them with the golden result bit-exactly, and the
measured cycles with ``hw.perf``.
"""

import json
from pathlib import Path

import cocotb
import numpy as np
import pytest
from cocotb.clock import Clock
from cocotb.triggers import ReadWrite, RisingEdge

from cocotb_tests.csr import csr_access
from cocotb_tests.runner import config, run
from hw.accel import regs
from hw.accel.driver import read_output
from hw.accel.sim import random_dense_layer
from hw.params import EngineParams
from hw.perf import fc_layer_cycles


# ---- cocotb testbench ----------------------------------------------------------------------------------------------

class Bench:
    """Drives the engine's CSR port and serves its DMA port from a dict memory (bus-word address -> word).

    The memory acknowledges in the first cycle it sees a new request (plus ``wait`` cycles), as
    ``hw.accel.sim.WishboneMemory`` does.
    """

    def __init__(self, dut, memory, wait=0):
        self.dut, self.memory, self.wait = dut, memory, wait
        cocotb.start_soon(Clock(dut.clk, 10, "ns").start())
        for name in ("csr__cyc", "csr__stb", "csr__we", "csr__sel", "csr__adr", "csr__dat_w", "bus__ack",
                     "bus__err", "bus__dat_r"):
            getattr(dut, name).value = 0
        dut.rst.value = 0
        cocotb.start_soon(self._serve())

    async def _serve(self):
        # Reads the bus after each edge has settled (ReadWrite) and answers in that same cycle, exactly like
        # hw.accel.sim.WishboneMemory, so the DMA costs are those hw.perf assumes.
        dut = self.dut
        while True:
            await RisingEdge(dut.clk)
            await ReadWrite()
            if int(dut.bus__ack.value):
                dut.bus__ack.value = 0
                continue
            if not (int(dut.bus__cyc.value) and int(dut.bus__stb.value)):
                continue
            for _ in range(self.wait):
                await RisingEdge(dut.clk)
            adr = int(dut.bus__adr.value)
            if int(dut.bus__we.value):
                self.memory[adr] = int(dut.bus__dat_w.value)
            else:
                dut.bus__dat_r.value = self.memory.get(adr, 0)
            dut.bus__ack.value = 1

    async def csr(self, addr, data=None):
        """One classic CSR access (write if ``data`` is given); returns the read data."""
        return await csr_access(self.dut, addr, data)

    async def run_layer(self, fields, timeout=2_000_000):
        for address, word in sorted(regs.encode(**fields).items()):
            await self.csr(address, word)
        await self.csr(regs.register("CTRL").address, 1)
        for _ in range(timeout):
            await RisingEdge(self.dut.clk)
            if int(self.dut.irq.value):
                break
        else:
            raise TimeoutError("engine did not raise irq")
        return {name: await self.csr(regs.register(name).address) for name in ("STATUS", "CYCLES", "COMPUTE_CYCLES")}


async def replay(dut):
    """Run every job (all its tile runs) of jobs.json in order without reset; record registers and final memory."""
    cfg = config()
    jobs = json.loads(Path(cfg["jobs"]).read_text())
    memory = {}
    bench = Bench(dut, memory, cfg.get("wait", 0))
    results = []
    for job in jobs:
        memory.update({int(a): int(v, 16) for a, v in job["memory"].items()})
        results.append([await bench.run_layer(run) for run in job["runs"]])
    Path(cfg["result"]).write_text(json.dumps({"results": results, "memory": {a: hex(v) for a, v in memory.items()}}))


@cocotb.test()
async def layers_back_to_back(dut):
    """Replay the jobs written by the pytest side."""
    await replay(dut)


# ---- pytest drivers -----------------------------------------------------------------------------------------------

def run_jobs(top, test_module, tmp_path, params, layers, *, mul_pipeline=1, wait=0, **knobs):
    """Simulate ``layers`` ((Job, expected) pairs) on one Verilator build of ``top`` (``knobs``: more of its
    ``hw.tops`` parameters, e.g. ``split``), check every output against its golden result, and return per layer the
    summed ``CYCLES``/``COMPUTE_CYCLES``."""
    jobs = [{"runs": job.runs, "memory": {a: hex(v) for a, v in job.memory.items()}} for job, _ in layers]
    (tmp_path / "jobs.json").write_text(json.dumps(jobs))
    top_params = {**params.as_dict(), "mul_pipeline": mul_pipeline, **knobs}
    run(top, test_module, params=top_params,
        tb={"jobs": str(tmp_path / "jobs.json"), "result": str(tmp_path / "result.json"), "wait": wait})
    out = json.loads((tmp_path / "result.json").read_text())
    memory = {int(a): int(v, 16) for a, v in out["memory"].items()}
    cycles = []
    for (job, expected), runs in zip(layers, out["results"]):
        for res in runs:
            status = res["STATUS"]
            assert status & 0b111 == 0b010, f"STATUS={status:#x}: not done (err_code {status >> 4 & 0xF})"
        np.testing.assert_array_equal(read_output(job, memory), expected)
        cycles.append({k: sum(r[k] for r in runs) for k in ("CYCLES", "COMPUTE_CYCLES")})
    return cycles


def run_fc(tmp_path, params, layers, **kw):
    return run_jobs("fc_engine", __name__, tmp_path, params, layers, **kw)


DSCNN_FC = (64, 12)
FCAE_TILE = (128, 128)


@pytest.mark.verilator
@pytest.mark.parametrize("bits", [16, 8, 4])
def test_fc_real_shapes_each_precision(tmp_path, bits):
    """DS-CNN's classifier (64 -> 12) and an FC-AutoEncoder 128 -> 128 layer (output tiles at 16 bit), back to back,
    vs golden and hw.perf."""
    p = EngineParams()
    rng = np.random.default_rng(bits)
    shapes = [DSCNN_FC, FCAE_TILE]
    layers = [random_dense_layer(rng, p, n_in, n_out, bits, relu=True, base=0x1000 + 0x10000 * i)
              for i, (n_in, n_out) in enumerate(shapes)]
    results = run_fc(tmp_path, p, layers)
    for (n_in, n_out), res in zip(shapes, results):
        model = fc_layer_cycles(p, n_in, n_out, bits)
        assert abs(model.total - res["CYCLES"]) <= 0.05 * res["CYCLES"]
        assert abs(model.compute - res["COMPUTE_CYCLES"]) <= 0.05 * res["COMPUTE_CYCLES"]


def _random_layers(rng, p, count):
    layers = []
    for i in range(count):
        bits = int(rng.choice(p.precisions))
        n_in, n_out = int(rng.integers(1, 200)), int(rng.integers(1, 40))
        layers.append(random_dense_layer(
            rng, p, n_in, n_out, bits, a_signed=bool(rng.integers(2)), w_signed=bool(rng.integers(2)),
            o_bits=int(rng.choice(p.precisions)), o_signed=bool(rng.integers(2)), relu=bool(rng.integers(2)),
            base=0x1000 + 0x8000 * i))
    return layers


@pytest.mark.verilator
def test_fc_random_layers_smoke(tmp_path):
    p = EngineParams()
    run_fc(tmp_path, p, _random_layers(np.random.default_rng(11), p, 20))


@pytest.mark.verilator
@pytest.mark.slow
@pytest.mark.parametrize("bus, macs", [(32, 4), (64, 8), (128, 2)])
def test_fc_random_layers_sweep(tmp_path, bus, macs):
    """>= 200 random shapes/precisions/signedness in total over the three builds, with wait states."""
    p = EngineParams(bus_width=bus, macs=macs)
    run_fc(tmp_path, p, _random_layers(np.random.default_rng(bus + macs), p, 70), wait=1)
