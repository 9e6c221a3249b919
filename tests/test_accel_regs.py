"""Register map: generated files up to date, map consistency, and the CSR block RTL against the map."""

import subprocess
import sys
from pathlib import Path

import pytest
from amaranth.sim import Simulator

from hw.accel import regs
from hw.accel.csr import CsrBlock
from hw.accel.sim import wb_read, wb_write, write_fields

ROOT = Path(__file__).resolve().parents[1]


def test_generated_files_up_to_date():
    assert (ROOT / regs.HEADER_PATH).read_text() == regs.c_header(), "run `python -m hw.accel.regs`"
    assert (ROOT / regs.MARKDOWN_PATH).read_text() == regs.markdown(), "run `python -m hw.accel.regs`"


def test_check_mode_detects_stale(tmp_path):
    cmd = [sys.executable, "-m", "hw.accel.regs", "--root", str(tmp_path)]
    assert subprocess.run(cmd + ["--check"], cwd=ROOT, capture_output=True).returncode == 1
    assert subprocess.run(cmd, cwd=ROOT).returncode == 0
    assert subprocess.run(cmd + ["--check"], cwd=ROOT).returncode == 0


def test_header_mentions_every_field_and_error():
    h = regs.c_header()
    for r in regs.REGISTERS:
        assert f"STACC_ENGINE_{r.name}_OFFSET 0x{r.address:02x}u" in h
        for f in r.fields:
            assert f"STACC_ENGINE_{r.name}_{f.name.upper()}_MASK" in h
    assert "#define STACC_ENGINE_ERR_BUFFER_OVERFLOW 5u" in h


def test_map_is_dense_and_encode():
    assert [r.address for r in regs.REGISTERS] == [4 * i for i in range(len(regs.REGISTERS))]
    assert regs.encode(kh=3, kw=10, stride_w=2) == {regs.register("KERNEL").address: 3 | 10 << 8 | 2 << 24}
    with pytest.raises(ValueError, match="8 bits"):
        regs.encode(kh=256)
    with pytest.raises(ValueError, match="ro"):
        regs.encode(busy=1)
    with pytest.raises(KeyError, match="nope"):
        regs.field("nope")


def test_bad_field_declarations():
    with pytest.raises(ValueError, match="access"):
        regs.Field("x", 0, 1, "wo", "")
    with pytest.raises(ValueError, match="does not fit"):
        regs.Field("x", 30, 4, "rw", "")
    with pytest.raises(ValueError, match="overlaps"):
        regs.Register("R", 0, "", (regs.Field("a", 0, 4, "rw", ""), regs.Field("b", 3, 2, "rw", "")))


def test_csr_constant_validation():
    with pytest.raises(ValueError, match="'kh' is not a read-only"):
        CsrBlock({"kh": 1})
    with pytest.raises(ValueError, match="does not fit"):
        CsrBlock({"kind": 16})


def test_csr_block_read_write_start():
    dut = CsrBlock({"kind": 2, "macs": 8, "modes": 7, "bus_bytes": 4, "acc_bits": 32})
    seen = {}

    async def bench(ctx):
        await write_fields(ctx, dut.bus, kh=3, kw=10, stride_h=1, stride_w=2, addr_w=0x1234_5678, relu=1, a_mode=2)
        assert ctx.get(dut.cfg.kw) == 10 and ctx.get(dut.cfg.stride_w) == 2 and ctx.get(dut.cfg.relu) == 1
        assert ctx.get(dut.cfg.addr_w) == 0x1234_5678 and ctx.get(dut.cfg.a_mode) == 2
        kernel = regs.register("KERNEL").address // 4
        assert await wb_read(ctx, dut.bus, kernel) == 3 | 10 << 8 | 1 << 16 | 2 << 24
        await wb_write(ctx, dut.bus, kernel, 0xAB << 8, sel=0b0010)        # byte write: only kw changes
        assert await wb_read(ctx, dut.bus, kernel) == 3 | 0xAB << 8 | 1 << 16 | 2 << 24
        assert await wb_read(ctx, dut.bus, regs.register("INFO").address // 4) == 2 | 8 << 4 | 7 << 12 | 4 << 16 \
            | 32 << 24
        ctx.set(dut.status.busy, 1)
        ctx.set(dut.status.err_code, 5)
        ctx.set(dut.status.cycles, 123456)
        assert await wb_read(ctx, dut.bus, 1) == 1 | 5 << 4
        assert await wb_read(ctx, dut.bus, 3) == 123456
        assert await wb_read(ctx, dut.bus, 15) == 0                      # unmapped
        assert await wb_read(ctx, dut.bus, 0) == 0                       # w1p reads 0

    async def count_start(ctx):
        async for _, _, start in ctx.tick().sample(dut.start):
            seen["start"] = seen.get("start", 0) + start

    async def start_bench(ctx):
        await bench(ctx)
        await wb_write(ctx, dut.bus, 0, 1)
        await wb_write(ctx, dut.bus, 0, 0)
        await wb_write(ctx, dut.bus, 0, 1, sel=0b1110)                  # start's byte not selected
        await ctx.tick().repeat(2)

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(start_bench)
    sim.add_testbench(count_start, background=True)
    sim.run()
    assert seen["start"] == 1
