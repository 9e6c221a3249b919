"""``python -m hw`` (also installed as ``stacc``): list the generator tops and emit their Verilog.

Examples::

    python -m hw list
    python -m hw verilog st_multiplier --param lanes=1,2 --param pipeline=2 -o build/st.v
    python -m hw verilog --all --out build/verilog

A mistake on the command line (unknown top, unknown parameter, a value of the wrong type or one the generator refuses)
prints one ``error:`` line naming the valid choices and exits with status 2.
"""

import argparse
import sys
from pathlib import Path

from . import tops

PROG = "python -m hw"


class UsageError(Exception):
    """A command-line mistake: reported as one line, exit status 2."""


def _parser():
    parser = argparse.ArgumentParser(prog=PROG, description="stacc hardware generator: emit Verilog for its tops.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("list", help="list the tops, their parameters and defaults")
    emit = sub.add_parser("verilog", help="emit Verilog for one top (or --all)",
                          description="Emit Verilog; the module is named after the top.")
    emit.add_argument("top", nargs="?", metavar="TOP", help="top name (see `list`)")
    emit.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                      help="generator parameter, repeatable (ints: 8, bools: true/false, "
                           "int tuples: 1,2,4 or none)")
    emit.add_argument("-o", "--output", metavar="FILE", help="write to FILE instead of standard output")
    emit.add_argument("--all", action="store_true", help="emit every top with default parameters into --out")
    emit.add_argument("--out", metavar="DIR", default="build/verilog",
                      help="directory for --all (default: %(default)s)")
    return parser


def _list(out):
    for top in tops.TOPS.values():
        print(f"{top.name:<20} {top.help}", file=out)
        for p in top.params:
            print(f"    {p.name + '=' + p.format():<24} {p.type_name:<5} {p.help}", file=out)


def _write(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)                                    # atomic: a reader never sees half a file
    print(path)


def _emit(name, assignments):
    try:
        params = tops.parse_params(name, assignments)
        return tops.verilog(name, **params)
    except KeyError as e:
        raise UsageError(e.args[0]) from None
    except (ValueError, TypeError) as e:
        raise UsageError(f"top {name!r}: {e}") from None


def _verilog(args):
    if args.all:
        if args.top or args.param or args.output:
            raise UsageError("--all emits every top with default parameters into --out DIR; "
                             "drop TOP, --param and -o (or drop --all)")
        for name in tops.TOPS:
            _write(Path(args.out) / f"{name}.v", _emit(name, []))
        return
    if not args.top:
        raise UsageError(f"name a top or pass --all; valid tops: {', '.join(sorted(tops.TOPS))}")
    text = _emit(args.top, args.param)
    if args.output:
        _write(args.output, text)
    else:
        sys.stdout.write(text)


def main(argv=None):
    """Entry point of ``python -m hw`` and ``stacc``; returns the exit status."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            _list(sys.stdout)
        else:
            _verilog(args)
    except UsageError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"{PROG}: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
