"""The `callctl` command as a user runs it: classify, rate and demo, exit codes and errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

CALLCTL = [sys.executable, "-m", "callctl.cli.main"]


def run(*args: str, check_code: int | None = 0) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [*CALLCTL, *args], capture_output=True, text=True, timeout=60, check=False
    )
    if check_code is not None:
        assert proc.returncode == check_code, proc.stderr
    return proc


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def write_csv(tmp_path: Path, text: str, name: str = "calls.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# ------------------------------------------------------------------ classify (R1, R2)


def test_console_script_is_installed() -> None:
    exe = shutil.which("callctl", path=str(Path(sys.executable).parent))
    assert exe is not None
    proc = subprocess.run(
        [exe, "classify", "--json", "112"], capture_output=True, text=True, check=True
    )
    assert json_lines(proc.stdout)[0]["group"] == "emergency"


def test_classify_json_one_object_per_input_in_order() -> None:
    numbers = ["02 234 56 78", "+33 1 42 68 53 00", "abc", "#31#112", "0900 12 345"]
    out = json_lines(run("classify", "--json", *numbers).stdout)
    assert [o["input"] for o in out] == numbers
    assert [o["group"] for o in out] == ["be_fixed", "zone", "invalid", "emergency", "premium"]
    required = {"input", "group", "e164", "country", "valid", "clir", "premium", "reason"}
    assert all(required <= o.keys() for o in out)
    assert out[0]["e164"] == "+3222345678"
    assert out[1]["country"] == "FR"
    assert out[2]["reason"]
    assert out[2]["e164"] is None
    assert out[2]["valid"] is False
    assert out[3]["clir"] is True
    assert out[4]["premium"] is True
    assert all(o["reason"] is None for o in out if o["group"] != "invalid")


def test_classify_invalid_numbers_are_answers_exit_0() -> None:
    proc = run("classify", "--json", "", "0", "+999 123", "x" * 5000)
    groups = [o["group"] for o in json_lines(proc.stdout)]
    assert groups == ["invalid"] * 4


def test_classify_table_is_aligned() -> None:
    proc = run("classify", "0470 12 34 56", "+212 522 123456", "hello")
    lines = proc.stdout.splitlines()
    assert lines[0].split()[:3] == ["input", "group", "e164"]
    assert len(lines) == 2 + 3
    # every column starts at the same offset on every line
    col = lines[0].index("group")
    assert all(line[col - 2 : col] == "  " for line in lines[2:])
    assert "be_mobile" in lines[2]
    assert "zone" in lines[3]
    assert "letters" in lines[4]


def test_classify_usage_errors_exit_2() -> None:
    assert run("classify", check_code=2).returncode == 2
    assert run("frobnicate", check_code=2).returncode == 2


# ------------------------------------------------------------------ rate (R3-R8)

CALLS = """answered_at,billsec,dialled
2026-11-26T15:59:30,90,+33 1 42 68 53 00
2026-11-26T10:00:00,61,02 234 56 78
2026-11-26T10:00:00,0,+44 7911 123456
2026-11-30T23:50:00+01:00,900,0470 12 34 56
2026-12-01T09:00:00Z,120,+212 612 345678
"""


def test_rate_json_rows_then_summaries(tmp_path: Path) -> None:
    path = write_csv(tmp_path, CALLS)
    out = json_lines(run("rate", "--product", "classic", "--json", str(path)).stdout)
    rows = [o for o in out if not o.get("summary")]
    sums = [o for o in out if o.get("summary")]
    assert [r["row"] for r in rows] == [1, 2, 3, 4, 5]
    assert [s["period"] for s in sums] == ["2026-11", "2026-12"]
    fr, be, unanswered, mobile, ma = rows
    # R3/R5: 30 s peak charged at 0.58/min + 0.08 setup, 60 s off-peak from the bundle
    assert (fr["peak_seconds"], fr["offpeak_seconds"], fr["bundle_seconds"]) == (30, 60, 60)
    assert (fr["charged_seconds"], fr["setup_fee"], fr["amount"]) == (30, "0.0800", "0.3700")
    # Classic peak Belgian: 61 s x 0.17 / 60 = 0.172833 -> 0.1728 (R8), no setup fee
    assert (be["charged_seconds"], be["amount"], be["setup_fee"]) == (61, "0.1728", "0.0000")
    assert unanswered["amount"] == "0.0000"
    assert unanswered["charged_seconds"] == 0
    # R6: the call answered on 30 Nov belongs to November though it ends in December
    assert mobile["period"] == "2026-11"
    assert mobile["fair_use_seconds"] == 900
    assert ma["group"] == "ma_tr"
    assert ma["amount"] == "2.4000"
    nov = sums[0]
    assert nov["bundle_seconds_used"] == 60
    assert nov["bundle_seconds_left"] == 120000 - 60
    assert nov["fair_use_seconds"] == 900
    assert nov["calls_total"] == "0.5428"
    assert nov["monthly_fees"] == [{"name": "Voice Pro Classic", "amount": "22.29"}]
    assert nov["total_excl_vat"] == "22.83"  # 22.8328 -> 22.83
    assert nov["vat"] == "4.79"  # 22.83 x 0.21 = 4.7943
    assert nov["total_incl_vat"] == "27.62"
    assert Decimal(nov["total_excl_vat"]) + Decimal(nov["vat"]) == Decimal(nov["total_incl_vat"])
    for row in rows:
        assert len(row["amount"].split(".")[1]) == 4
        assert {"dialled", "group", "charged_seconds", "setup_fee"} <= row.keys()


def test_rate_with_options_and_klik(tmp_path: Path) -> None:
    path = write_csv(tmp_path, CALLS)
    anytime = json_lines(
        run("rate", "--product", "classic", "--option", "anytime", "--json", str(path)).stdout
    )
    assert anytime[0]["bundle_seconds"] == 90
    assert anytime[0]["amount"] == "0.0000"
    assert anytime[-2]["monthly_fees"][1] == {"name": "Option Anytime", "amount": "6.20"}
    klik = json_lines(run("rate", "--product", "klik", "--json", str(path)).stdout)
    assert klik[1]["amount"] == "0.0000"
    assert klik[1]["fair_use_seconds"] == 61
    assert klik[4]["amount"] == "1.7400"  # 0.08 + 2 x 0.83


def test_rate_text_statement(tmp_path: Path) -> None:
    path = write_csv(tmp_path, CALLS)
    text = run("rate", "--product", "classic", str(path)).stdout
    assert "Statement 2026-11" in text
    assert "Statement 2026-12" in text
    assert "total incl. VAT" in text
    assert "27.62" in text


def test_rate_option_not_offered_is_refused(tmp_path: Path) -> None:
    path = write_csv(tmp_path, CALLS)
    proc = run("rate", "--product", "klik", "--option", "anytime", str(path), check_code=2)
    assert "anytime" in proc.stderr
    assert "klik" in proc.stderr
    assert proc.stdout == ""
    proc = run("rate", "--product", "gold", str(path), check_code=2)
    assert "gold" in proc.stderr


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ("answered_at,billsec,dialled\nyesterday,10,0470123456\n", ["row 1", "answered_at"]),
        ("answered_at,billsec,dialled\n2026-11-02T10:00:00,-5,0470123456\n", ["row 1", "billsec"]),
        ("answered_at,billsec,dialled\n2026-11-02T10:00:00,1.5,0470123456\n", ["billsec"]),
        ("answered_at,billsec,dialled\n2026-11-02T10:00:00,,0470123456\n", ["billsec"]),
        ("answered_at,dialled\n2026-11-02T10:00:00,0470123456\n", ["billsec"]),
        ("answered_at,billsec,dialled\n2026-11-02T10:00:00,5\n", ["row 1", "dialled"]),
        (
            "answered_at,billsec,dialled\n2026-11-02T10:00:00,5,02\n2026-10-25T02:30:00,5,02\n",
            ["row 2", "twice"],
        ),
        ("answered_at,billsec,dialled\n2026-03-29T02:30:00,5,02\n", ["row 1", "does not exist"]),
    ],
    ids=[
        "bad-time", "negative", "fraction", "empty-billsec", "missing-column", "short-row",
        "ambiguous-dst", "nonexistent-dst",
    ],
)  # fmt: skip
def test_rate_malformed_rows_fail_whole(tmp_path: Path, body: str, words: list[str]) -> None:
    path = write_csv(tmp_path, body)
    proc = run("rate", "--product", "classic", "--json", str(path), check_code=1)
    assert proc.stdout == ""  # no partial output pretending to be complete
    for word in words:
        assert word in proc.stderr


def test_rate_unreadable_files(tmp_path: Path) -> None:
    proc = run("rate", "--product", "classic", str(tmp_path / "absent.csv"), check_code=1)
    assert "absent.csv" in proc.stderr
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x00")
    proc = run("rate", "--product", "classic", str(binary), check_code=1)
    assert "binary.csv" in proc.stderr
    assert proc.stdout == ""


def test_rate_uses_alternative_tariff_file(tmp_path: Path) -> None:
    shipped = Path(__file__).parents[1] / "callctl" / "data" / "tariff.toml"
    text = shipped.read_text(encoding="utf-8").replace('"1.16"', '"2.00"')
    text = text.replace('id = "voice-pro-2026-11"', 'id = "test-tariff"')
    tariff = tmp_path / "tariff.toml"
    tariff.write_text(text, encoding="utf-8")
    path = write_csv(tmp_path, "answered_at,billsec,dialled\n2026-11-02T10:00:00,60,+81312345678\n")
    out = json_lines(
        run("--tariff", str(tariff), "rate", "--product", "classic", "--json", str(path)).stdout
    )
    assert out[0]["tariff"] == "test-tariff"
    assert out[0]["amount"] == "2.0800"
    broken = tmp_path / "broken.toml"
    broken.write_text("[tariff\n", encoding="utf-8")
    proc = run("--tariff", str(broken), "classify", "112", check_code=2)
    assert "TOML" in proc.stderr


def test_demo_prints_a_statement_per_plan() -> None:
    text = run("demo").stdout
    titles = ("classic", "klik", "phone2go", "classic + anytime", "classic + 24_belgium",
              "klik + international_calling")  # fmt: skip
    for title in titles:
        assert f"\n{title}\n" in text
    assert text.count("total incl. VAT") == len(titles)
    assert "emergency" in text
    assert "invalid" in text
