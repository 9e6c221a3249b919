"""``python -m soc``: generate the memory-map files, emit the SoC Verilog, run firmware in Verilator.

Commands
--------
regs [--check]       write firmware/include/stacc_regs.h and firmware/link/regions.ld (or check they are current)
verilog [--cpu C]    write build/soc/verilog/stacc_soc.v (+ the CPU core's file list); --engines as for sim
sim [--cpu C] ...    build firmware + simulator, run the layer test program, print the UART log, write
                     build/soc/result.json; exit status 0 only if every case equals hw/golden
bench [--cpu C ...]  DS-CNN conv and depthwise layers in software and on the conv / dw engines at 16/8/4 bit,
                     checked against hw/golden; writes build/soc/speedup.json (cycles and speed-up); exit status 0
                     only if all pass
net [--cpu C ...]    a whole exported net (DS-CNN): weighted layers on the conv / dw / fc engines and with the
                     software kernels, the CPU between them; every step checked against hw/golden; writes
                     build/soc/net.json (cycles per step, totals, end-to-end speed-up); exit status 0 only if all pass
bitstream --board B  FPGA bitstream with YoWASP (ulx3s, icebreaker); writes build/soc/bitstream/<board>-<cpu>
                     [-<engine>...]/result.json with LUT/FF/BRAM/DSP use and Fmax (--report-only: from an existing
                     build's reports)
"""

import argparse
import json
import sys
from pathlib import Path

from . import firmware, memory_map, sim, vectors
from .cpu import CPUS
from .engines import ENGINES

GENERATED = {
    firmware.FIRMWARE / "include" / "stacc_regs.h": memory_map.c_header,
    firmware.FIRMWARE / "link" / "regions.ld": memory_map.linker_regions,
}


def cmd_regs(args):
    stale = [path for path, make in GENERATED.items() if not path.exists() or path.read_text() != make()]
    if args.check:
        for path in stale:
            print(f"{path} is out of date with soc/memory_map.py; run `python -m soc regs`", file=sys.stderr)
        return 1 if stale else 0
    for path in stale:
        path.write_text(GENERATED[path]())
        print(f"wrote {path}")
    return 0


def cmd_verilog(args):
    from amaranth.back import verilog
    from .soc import Soc
    from .engines import make_engines
    soc = Soc(args.cpu, uart_divisor=args.uart_divisor, accelerators=make_engines(args.engines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "stacc_soc.v").write_text(verilog.convert(soc, name="stacc_soc"))
    (out / "files.txt").write_text("\n".join([str(out / "stacc_soc.v"), *soc.verilog_files()]) + "\n")
    print(f"wrote {out / 'stacc_soc.v'} (also needs: {', '.join(soc.verilog_files())})")
    return 0


def cmd_sim(args):
    if args.program in ("bench", "net"):
        print(f"the {args.program} program needs its generated vectors: run `python -m soc {args.program}` (see "
              f"--help)", file=sys.stderr)
        return 2
    build = Path(args.build_dir)
    variant = "-".join([args.cpu, *args.engines])
    fw_dir = build / "fw" / variant / args.program
    fw_dir.mkdir(parents=True, exist_ok=True)
    if args.program == "layer_test":
        (fw_dir / "stacc_vectors.h").write_text(
            vectors.c_header([vectors.make_layer(c) for c in vectors.SMOKE_CASES], corrupt=args.corrupt))
    image, _ = firmware.build(args.program, fw_dir, args.cpu, include_dirs=[fw_dir],
                              defines=[f"STACC_N_ENGINES={len(args.engines)}"])
    exe = sim.build_simulator(args.cpu, build / "sim", args.engines)
    result = sim.run(exe, image, max_cycles=args.max_cycles)
    sys.stdout.write(result.uart)
    print(result.summary)
    report = {
        "cpu": args.cpu, "engines": args.engines, "program": args.program, "status": result.status,
        "pass": result.status == 0,
        "total_cycles": result.cycles, "cases": sim.parse_cases(result.uart),
        "exit_reason": sim.EXIT_REASONS.get(result.status, "exit"),
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {out}")
    return 0 if result.status == 0 else 1


def cmd_bench(args):
    from . import bench
    if args.small:
        layers = bench.small_layers(args.bits)
    else:
        layers = bench.dscnn_layers(args.layers, args.bits, args.model)
    rows = []
    for cpu in args.cpu:
        rows += bench.run(layers, cpu, args.engines, args.build_dir, args.max_cycles, corrupt=args.corrupt)
    doc = bench.write(rows, args.out, command="python -m soc bench " + " ".join(args.argv), merge=args.merge)
    print(f"wrote {args.out}: {'PASS' if doc['pass'] else 'FAIL'}")
    return 0 if doc["pass"] else 1


def cmd_net(args):
    from . import net
    reports = [net.run(cpu, args.model, args.sample, sw=not args.no_sw, hw=not args.no_hw,
                       build_dir=args.build_dir, max_cycles=args.max_cycles) for cpu in args.cpu]
    doc = net.write(reports, args.out, command="python -m soc net " + " ".join(args.argv))
    print(f"wrote {args.out}: {'PASS' if all(r['pass'] for r in reports) else 'FAIL'}")
    return 0 if all(r["pass"] for r in reports) and doc["runs"] else 1


def _engine_list(text):
    """``--engines`` values: names separated by spaces or commas (``conv,fc``), each checked."""
    names = [n for n in text.split(",") if n]
    for n in names:
        if n not in ENGINES:
            raise argparse.ArgumentTypeError(f"unknown engine {n!r}; available: {', '.join(ENGINES)}")
    return names


class _Flatten(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, [n for group in values for n in group])


def cmd_bitstream(args):
    from . import bitstream
    result = bitstream.build(args.board, args.cpu, args.program, args.engines, report_only=args.report_only)
    print(json.dumps(result, indent=2))
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m soc", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("regs", help="generate the memory-map header and linker regions")
    p.add_argument("--check", action="store_true", help="only check they are up to date (exit 1 if not)")
    p.set_defaults(func=cmd_regs)

    p = sub.add_parser("verilog", help="emit the SoC Verilog")
    p.add_argument("--cpu", choices=sorted(CPUS), default="picorv32")
    p.add_argument("--uart-divisor", type=int, default=None,
                   help="clock cycles per UART bit for the serial UART (default: the simulation UART)")
    p.add_argument("--engines", nargs="*", type=_engine_list, action=_Flatten, default=[], metavar="ENGINE",
                   help=f"accelerator engines to attach, in slot order (space or comma separated; available: "
                        f"{', '.join(ENGINES)})")
    p.add_argument("--out", default="build/soc/verilog")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser("sim", help="run firmware on the SoC in Verilator")
    p.add_argument("--cpu", choices=sorted(CPUS), default="picorv32")
    p.add_argument("--program", choices=firmware.programs(), default="layer_test",
                   help="firmware/programs/<name>.c (layer_test embeds golden vectors of soc.vectors.SMOKE_CASES)")
    p.add_argument("--engines", nargs="*", type=_engine_list, action=_Flatten, default=[], metavar="ENGINE",
                   help=f"accelerator engines to attach, in slot order (space or comma separated, e.g. conv,fc; "
                        f"available: {', '.join(ENGINES)})")
    p.add_argument("--max-cycles", type=int, default=200_000_000, help="stop with status 124 after this many cycles")
    p.add_argument("--corrupt", action="store_true",
                   help="embed a deliberately wrong expected output (the run must then FAIL)")
    p.add_argument("--build-dir", default="build/soc", help="firmware and simulator build directory")
    p.add_argument("--out", default="build/soc/result.json", help="where to write the JSON result")
    p.set_defaults(func=cmd_sim)

    from .bench import DSCNN_LAYERS, PRECISIONS, MODEL as bench_model
    p = sub.add_parser("bench", help="speed-up of the conv / dw engines over the software kernels (DS-CNN conv and "
                                     "depthwise layers)")
    p.add_argument("--cpu", nargs="+", choices=sorted(CPUS), default=["picorv32"], help="CPU(s) to measure on")
    p.add_argument("--layers", nargs="+", choices=DSCNN_LAYERS, default=list(DSCNN_LAYERS), metavar="LAYER",
                   help=f"DS-CNN conv2d / depthwise layers (default: all of {', '.join(DSCNN_LAYERS)})")
    p.add_argument("--bits", nargs="+", type=int, choices=PRECISIONS, default=list(PRECISIONS),
                   help="precisions (an export's integers where --model or models/uniform<B>/dscnn has the layer "
                        "uniformly at B bits within 32-bit accumulators, else random integers of the same shape)")
    p.add_argument("--model", default=str(bench_model), metavar="PREFIX",
                   help="DS-CNN export <PREFIX>.{json,npz} (default: %(default)s)")
    p.add_argument("--small", action="store_true",
                   help="the small test layers of soc.bench.SMALL_LAYERS instead of DS-CNN's")
    p.add_argument("--engines", nargs="+", type=_engine_list, action=_Flatten, default=["conv", "dw"], metavar="ENGINE",
                   help=f"engines to attach, in slot order (space or comma separated; available: {', '.join(ENGINES)})")
    p.add_argument("--max-cycles", type=int, default=400_000_000, help="per run: stop with status 124 after this")
    p.add_argument("--corrupt", action="store_true",
                   help="embed deliberately wrong expected outputs (every run must then FAIL)")
    p.add_argument("--build-dir", default="build/soc", help="firmware and simulator build directory")
    p.add_argument("--out", default="build/soc/speedup.json", help="where to write the speed-up JSON")
    p.add_argument("--merge", action="store_true",
                   help="keep the rows of an existing --out for other (cpu, layer, bits) instead of overwriting it")
    p.set_defaults(func=cmd_bench)

    from .net import MODEL as net_model
    p = sub.add_parser("net", help="a whole net (DS-CNN) on the engines and in software, end to end")
    p.add_argument("--cpu", nargs="+", choices=sorted(CPUS), default=["picorv32"], help="CPU(s) to run on")
    p.add_argument("--model", default=str(net_model), metavar="PREFIX",
                   help="chain-net export <PREFIX>.{json,npz} (default: %(default)s, the mixed-precision DS-CNN)")
    p.add_argument("--sample", type=int, default=0, help="which of the export's stored input vectors")
    p.add_argument("--no-sw", action="store_true", help="skip the software pass (long on picorv32)")
    p.add_argument("--no-hw", action="store_true", help="skip the engine pass")
    p.add_argument("--max-cycles", type=int, default=2_000_000_000, help="stop with status 124 after this")
    p.add_argument("--build-dir", default="build/soc", help="firmware and simulator build directory")
    p.add_argument("--out", default="build/soc/net.json",
                   help="JSON to write (runs of other CPUs / models / samples in it are kept)")
    p.set_defaults(func=cmd_net)

    p = sub.add_parser("bitstream", help="build an FPGA bitstream with YoWASP yosys/nextpnr")
    p.add_argument("--board", choices=["ulx3s", "icebreaker"], required=True)
    p.add_argument("--cpu", choices=sorted(CPUS), default="picorv32")
    p.add_argument("--program", choices=firmware.programs(), default="hello", help="firmware in the RAM image")
    p.add_argument("--engines", nargs="*", type=_engine_list, action=_Flatten, default=[], metavar="ENGINE",
                   help=f"accelerator engines to attach (space or comma separated; available: {', '.join(ENGINES)})")
    p.add_argument("--report-only", action="store_true",
                   help="do not build: rewrite result.json from the reports of an existing build")
    p.set_defaults(func=cmd_bitstream)

    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)[1:]
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
