"""``python -m quant``: synthesize proxy data, train + quantize + export a net, search mixed precision.

Run ``python -m quant COMMAND --help`` for each command's options.
"""

import argparse
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

NETS = ("dscnn", "resnet8", "mobilenetv1", "fcae")  # checked against quant.models.NETS in tests (no TF import here)


def _net(value):
    if value not in NETS:
        raise argparse.ArgumentTypeError(f"unknown NET '{value}'; valid NETs are: {', '.join(NETS)}")
    return value


def _bits(value):
    try:
        bits = tuple(int(b) for b in value.split(","))
    except ValueError:
        bits = ()
    if not bits or any(b not in (4, 8, 16) for b in bits):
        raise argparse.ArgumentTypeError(f"--bits {value!r}: give a comma-separated subset of 4,8,16 (e.g. 8,4)")
    return bits


def _parser():
    parser = argparse.ArgumentParser(prog="python -m quant", description="stacc quantization flow: synthesize "
                                     "proxy data, train + quantize + export a net, search mixed precision.",
                                     formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    fmt = argparse.ArgumentDefaultsHelpFormatter

    p = commands.add_parser("proxy", formatter_class=fmt, help="synthesize a proxy data set (real data layout)",
                            description="Synthesize build/data/<NET>-proxy/ in the real data set's layout "
                                        "(see quant/proxy.py for what each proxy is).")
    p.add_argument("net", type=_net, metavar="NET", help=f"one of {', '.join(NETS)}")
    p.add_argument("--out", help="output directory (default build/data/<NET>-proxy)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--size", action="append", default=[], metavar="KEY=N",
                   help="override a size, e.g. --size per_class=10 (keys in quant.proxy.DEFAULT_SIZES)")

    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("net", type=_net, metavar="NET", help=f"one of {', '.join(NETS)}")
    common.add_argument("--data-dir", help="root of the real data set (layouts: quant/data.py); default: the "
                                           "proxy set in build/data/<NET>-proxy, synthesized on first use")
    common.add_argument("--seed", type=int, default=0, help="seed of data synthesis, initialization, shuffling")
    common.add_argument("--out", default="models", help="directory for the exported net / chosen config")
    common.add_argument("--quiet", action="store_true", help="no progress bars")

    p = commands.add_parser("train", parents=[common], formatter_class=fmt,
                            help="float training, quantization-aware fine-tuning, integer export",
                            description="Train NET in float, fine-tune its QKeras twin quantization-aware, export "
                                        "<out>/<NET>.{npz,json}; scores go to build/quant/<NET>.json.")
    p.add_argument("--epochs", type=int, help="float epochs (default: CPU-sized, or the reference with --full)")
    p.add_argument("--qat-epochs", type=int, help="quantization-aware fine-tuning epochs")
    p.add_argument("--full", action="store_true", help="the MLPerf Tiny reference recipe (epochs, lr schedule)")
    p.add_argument("--precision", default="8", help="16, 8 or 4 (uniform) or a precision JSON file")
    p.add_argument("--vectors", type=int, default=100, help="test samples exported as test vectors")

    p = commands.add_parser("search", parents=[common], formatter_class=fmt,
                            help="mixed-precision search: Pareto set and the chosen config",
                            description="Search per-layer weight/activation bits; writes build/quant/<NET>-pareto"
                                        ".json and <out>/<NET>-mixed.json (see quant/search.py, also for running "
                                        "the tuner strategy on several machines).")
    p.add_argument("--strategy", choices=("greedy", "tuner"), default="greedy")
    p.add_argument("--tolerance", type=float, default=0.01,
                   help="allowed drop from float (0.01 = 1 pp accuracy, 0.01 AUC)")
    p.add_argument("--candidates", type=int, default=8, help="greedy: fine-tuned candidates along the path")
    p.add_argument("--trials", type=int, default=16, help="tuner: keras-tuner trials")
    p.add_argument("--oracle", choices=("random", "bayesian"), default="random", help="tuner: keras-tuner oracle")
    p.add_argument("--granularity", choices=("layer", "type"), default="layer",
                   help="search each layer, or each layer type (conv, dw, pw, ...) together")
    p.add_argument("--weights-only", action="store_true", help="keep activations at their starting width")
    p.add_argument("--bits", type=_bits, default=(4, 8, 16), help="widths to consider, e.g. 8,4")
    p.add_argument("--qat-epochs", type=int, default=2, help="fine-tuning epochs of the uniform starting models")
    p.add_argument("--ft-epochs", type=int, default=1, help="fine-tuning epochs per candidate")
    p.add_argument("--float-epochs", type=int,
                   help="float epochs if `python -m quant train NET` has not saved float weights for this data")
    return parser


def _sizes(pairs):
    sizes = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        try:
            sizes[key] = float(value) if "." in value else int(value)
        except ValueError:
            raise SystemExit(f"--size {pair!r}: expected KEY=NUMBER, e.g. per_class=10") from None
    return sizes


def main(argv=None):
    """Entry point of ``python -m quant``."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "proxy":
            from quant import proxy
            root = proxy.generate(args.net, args.out, seed=args.seed, **_sizes(args.size))
            print(f"[{args.net}] proxy data set (synthesized, not MLPerf) written to {root}")
        elif args.command == "train":
            from quant import train
            train.run(args.net, args.data_dir, args.epochs, args.qat_epochs, args.full, args.precision, args.seed,
                      args.out, args.vectors, progress=not args.quiet)
        else:
            from quant import search
            search.run(args.net, args.data_dir, args.strategy, args.tolerance, args.candidates, args.trials,
                       args.oracle, args.granularity, not args.weights_only, args.bits, args.qat_epochs,
                       args.ft_epochs, args.seed, args.out, args.float_epochs, progress=not args.quiet)
    except (ValueError, FileNotFoundError) as error:
        raise SystemExit(f"error: {error}") from None
    return 0


if __name__ == "__main__":
    sys.exit(main())
