"""``callctl demo``: classify and rate a shipped sample month for every product and option."""

from __future__ import annotations

from importlib import resources
from typing import TextIO
from zoneinfo import ZoneInfo

from callctl.cli import render
from callctl.cli.calls_csv import read_calls
from callctl.cli.rate_report import rate_file
from callctl.core.classify import Classifier
from callctl.core.tariff import Tariff

SAMPLE = "sample-month.csv"


def run_demo(tariff: Tariff, out: TextIO) -> None:
    sample = resources.files("callctl.data").joinpath(SAMPLE)
    with resources.as_file(sample) as path:
        rows = read_calls(path, ZoneInfo(tariff.timezone))
        classifier = Classifier(tariff.numbering)
        dialled = list(dict.fromkeys(r.dialled for r in rows))
        out.write(f"callctl demo - tariff {tariff.id}, sample of {len(rows)} calls\n\n")
        out.write("Numbers dialled (R1, R2):\n")
        out.write(render.classification_table([classifier(d) for d in dialled]) + "\n")
        plans: list[tuple[str, tuple[str, ...]]] = [(key, ()) for key in tariff.products]
        plans += [
            (key, (opt,))
            for key, prod in tariff.products.items()
            for opt in prod.options
            if opt != tariff.fraud.barring.option  # lifts a barring, changes no price
        ]
        for i, (product, options) in enumerate(plans):
            title = product + "".join(f" + {o}" for o in options)
            out.write(f"\n{'=' * 78}\n{title}\n{'=' * 78}\n")
            rate_file(path, tariff, product, options, as_json=False, out=out, show_calls=i == 0)
