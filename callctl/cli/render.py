"""Turning core results into JSON objects and aligned text for the terminal."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from callctl.cli.calls_csv import CallRow
from callctl.core.classify import Classification
from callctl.core.money import money_text
from callctl.core.rating import RatedCall
from callctl.core.statement import Statement, summary_dict

CLASSIFY_COLUMNS = ("input", "group", "e164", "country", "valid", "clir", "premium", "reason")


money4 = money_text


def table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    """Left-aligned columns separated by two spaces."""
    widths = [len(h) for h in header]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row, strict=True)]
    lines = [header, ["-" * w for w in widths], *rows]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in lines
    )


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def classification_json(c: Classification) -> dict[str, Any]:
    return c.as_dict()


def classification_table(results: Sequence[Classification]) -> str:
    rows = [[_cell(getattr(c, col)) for col in CLASSIFY_COLUMNS] for c in results]
    return table(rows, CLASSIFY_COLUMNS)


def rated_json(row: CallRow, c: Classification, r: RatedCall) -> dict[str, Any]:
    return {
        "row": row.row,
        "dialled": row.dialled,
        "answered_at": row.answered_at.isoformat(),
        "billsec": row.billsec,
        "group": r.group,
        "e164": c.e164,
        "country": c.country,
        "clir": c.clir,
        "premium": c.premium,
        "period": r.period,
        "peak_seconds": r.peak_seconds,
        "offpeak_seconds": r.offpeak_seconds,
        "bundle_seconds": r.bundle_seconds,
        "fair_use_seconds": r.fair_use_seconds,
        "charged_seconds": r.charged_seconds,
        "setup_fee": money4(r.setup_fee),
        "per_call_fee": money4(r.per_call_fee),
        "amount": money4(r.amount),
        "tariff": r.tariff_id,
        "refused": r.refused,
        "cut_off": r.cut_off,
        "over_fair_use": r.over_fair_use,
    }


def statement_json(s: Statement, currency: str) -> dict[str, Any]:
    """The ``"summary": true`` object of ``callctl rate --json`` (R8)."""
    return {"summary": True, **summary_dict(s, currency)}


def _minutes(seconds: int) -> str:
    return f"{seconds // 60}:{seconds % 60:02d}"


def calls_table(items: Sequence[tuple[CallRow, Classification, RatedCall]]) -> str:
    header = (
        "row",
        "answered",
        "dialled",
        "group",
        "sec",
        "peak",
        "offpk",
        "bundle",
        "fair-use",
        "charged",
        "amount",
        "note",
    )
    rows = []
    for row, _c, r in items:
        note = r.refused or ("cut at premium limit" if r.cut_off else "")
        if r.over_fair_use:
            note = (note + "; " if note else "") + "over fair use"
        rows.append(
            [
                str(row.row),
                row.answered_at.strftime("%Y-%m-%d %H:%M:%S"),
                row.dialled,
                r.group,
                str(row.billsec),
                str(r.peak_seconds),
                str(r.offpeak_seconds),
                str(r.bundle_seconds),
                str(r.fair_use_seconds),
                str(r.charged_seconds),
                money4(r.amount),
                note,
            ]
        )
    return table(rows, header)


def statement_text(s: Statement, currency: str) -> str:
    opts = f" + {', '.join(s.options)}" if s.options else ""
    lines = [
        f"Statement {s.period} - {s.product}{opts} (tariff {s.tariff_id})",
        f"  calls: {s.calls} ({s.answered_calls} answered)",
    ]
    for g in s.groups:
        lines.append(
            f"    {g.group:<14} {g.calls:>5} calls  {_minutes(g.billed_seconds):>9} min"
            f"  charged {_minutes(g.charged_seconds):>9}  {money4(g.amount):>12} {currency}"
        )
    if s.bundle_size:
        lines.append(
            f"  zone bundle: {_minutes(s.bundle_used)} used, {_minutes(s.bundle_left)} left"
            f" of {_minutes(s.bundle_size)} min"
        )
    lines.append(f"  fair use: {_minutes(s.fair_use_seconds)} of {_minutes(s.fair_use_cap)} min")
    lines.append(f"  {'calls total':<36}{money4(s.calls_total):>14} {currency}")
    for f in s.fees:
        lines.append(f"  {f.name:<36}{f.amount!s:>14} {currency}")
    lines += [
        f"  {'total excl. VAT':<36}{s.total_excl_vat!s:>14} {currency}",
        f"  {'VAT ' + str(s.vat_rate * 100).rstrip('0').rstrip('.') + ' %':<36}"
        f"{s.vat!s:>14} {currency}",
        f"  {'total incl. VAT':<36}{s.total_incl_vat!s:>14} {currency}",
    ]
    return "\n".join(lines)
