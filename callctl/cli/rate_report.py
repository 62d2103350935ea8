"""``callctl rate``: rate a CSV of one line's calls and print calls and statements."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from callctl.cli import render
from callctl.cli.calls_csv import CallRow, read_calls
from callctl.core.classify import Classifier
from callctl.core.rating import Call, Rater
from callctl.core.statement import build_statements
from callctl.core.tariff import Plan, Tariff


def add_option_argument(parser: argparse.ArgumentParser, help_text: str) -> None:
    """``--option NAME`` (repeatable): a product's options, for ``rate`` and ``replay``."""
    parser.add_argument("--option", action="append", default=[], metavar="NAME", help=help_text)


def emit_json(out: TextIO, obj: dict[str, Any]) -> None:
    out.write(json.dumps(obj, ensure_ascii=False) + "\n")


def rate_file(
    path: str | Path,
    tariff: Tariff,
    product: str,
    options: Sequence[str],
    *,
    as_json: bool,
    out: TextIO,
    show_calls: bool = True,
) -> None:
    """Rate a calls CSV for one line and write the calls and statements (R3–R8)."""
    plan = tariff.plan(product, list(options))
    rows = read_calls(path, ZoneInfo(tariff.timezone))
    rate_rows(rows, tariff, plan, as_json=as_json, out=out, show_calls=show_calls)


def rate_rows(
    rows: Sequence[CallRow],
    tariff: Tariff,
    plan: Plan,
    *,
    as_json: bool,
    out: TextIO,
    show_calls: bool = True,
) -> None:
    """Rate rows read from a calls CSV with ``plan`` and write the calls and statements."""
    classifier = Classifier(tariff.numbering)
    classes = [classifier(r.dialled) for r in rows]
    calls = [Call(r.answered_at, r.billsec, c) for r, c in zip(rows, classes, strict=True)]
    rated, usage = Rater(tariff).rate_calls(calls, plan)
    statements = build_statements(rated, usage, plan, tariff)
    items = list(zip(rows, classes, rated, strict=True))
    if as_json:
        for row, c, r in items:
            emit_json(out, render.rated_json(row, c, r))
        for s in statements:
            emit_json(out, render.statement_json(s, tariff.currency))
        return
    if items and show_calls:
        out.write(render.calls_table(items) + "\n\n")
    out.write("\n\n".join(render.statement_text(s, tariff.currency) for s in statements))
    out.write("\n" if statements else "no calls\n")
