"""The ``callctl`` command: argument parsing and dispatch to the subcommands.

Exit codes: 0 done, 1 the input data could not be used (named on stderr), 2 usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TextIO

from callctl import __version__
from callctl.cli import render
from callctl.cli.calls_csv import CallsFileError
from callctl.cli.demo import run_demo
from callctl.cli.lines_cmd import add_lines_commands
from callctl.cli.live_cmd import add_live_commands
from callctl.cli.rate_report import add_option_argument, emit_json, rate_file
from callctl.cli.replay_cmd import add_replay_command
from callctl.cli.route_cmd import add_route_command
from callctl.cli.tokens_cmd import add_tokens_commands
from callctl.core.classify import Classifier
from callctl.core.tariff import Tariff, TariffError
from callctl.data import default_tariff, read_tariff
from callctl.pbx.lab import LabError
from callctl.pbx.live_demo import run_live_demo

EXIT_DATA = 1
EXIT_USAGE = 2


def _tariff(args: argparse.Namespace) -> Tariff:
    return default_tariff() if args.tariff is None else read_tariff(args.tariff)


def cmd_classify(args: argparse.Namespace, out: TextIO) -> int:
    classifier = Classifier(_tariff(args).numbering)
    results = [classifier(n) for n in args.numbers]
    if args.json:
        for c in results:
            emit_json(out, render.classification_json(c))
    else:
        out.write(render.classification_table(results) + "\n")
    return 0


def cmd_rate(args: argparse.Namespace, out: TextIO) -> int:
    rate_file(args.calls, _tariff(args), args.product, args.option, as_json=args.json, out=out)
    return 0


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    if args.live:
        try:
            run_live_demo(_tariff(args), out)
        except LabError as exc:
            print(f"callctl: {exc}", file=sys.stderr)
            return EXIT_DATA
        return 0
    run_demo(_tariff(args), out)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="callctl", description="Classify, route and rate calls for Voice Pro lines."
    )
    parser.add_argument("--version", action="version", version=f"callctl {__version__}")
    parser.add_argument("--tariff", metavar="FILE", help="tariff TOML file (default: shipped)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("classify", help="destination group of dialled numbers (R1, R2)")
    p.add_argument("numbers", nargs="+", metavar="NUMBER")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_classify)

    p = sub.add_parser("rate", help="rate a CSV of one line's calls (R3-R8)")
    p.add_argument("calls", metavar="CALLS.csv")
    p.add_argument("--product", required=True, help="classic or klik")
    add_option_argument(p, "an option of the product (repeatable)")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    p.set_defaults(func=cmd_rate)

    add_lines_commands(sub)
    add_live_commands(sub)
    add_route_command(sub)
    add_tokens_commands(sub)
    add_replay_command(sub)

    p = sub.add_parser("demo", help="classify and rate a sample month for each product")
    p.add_argument("--live", action="store_true",
                   help="place real calls through the test PBX and show their records")  # fmt: skip
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args, out)
    except TariffError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except CallsFileError as exc:
        print(f"callctl: {exc}", file=sys.stderr)
        return EXIT_DATA
    except BrokenPipeError:  # e.g. `callctl demo | head`: the reader left, nothing to say
        sys.stderr.close()
        return 0
    return code


if __name__ == "__main__":
    sys.exit(main())
