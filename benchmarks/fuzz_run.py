"""Fuzz callctl's parsers with a million inputs each, outside pytest (docs/fuzzing.md).

Run from the repository root, always niced (the machine is shared)::

    nice -n 19 .venv/bin/python benchmarks/fuzz_run.py                   # every target, 10**6 each
    nice -n 19 .venv/bin/python benchmarks/fuzz_run.py sip pidf -n 20000  # some targets, fewer
    nice -n 19 .venv/bin/python benchmarks/fuzz_run.py --engine atheris pidf -n 100000

The default engine (``mutate``) draws each input from ``tests.fuzz.engine.Source``: 40 % built
fresh by the target's structure-aware generator (``tests/fuzz/generators.py``), 60 % byte-level
mutants (bit flips, inserted tokens, duplicated spans, splices …) of a pool seeded with the
real inputs (the captured INVITEs, their PIDF-LO documents, the sample CSV, the example
lines files …). It is deterministic for a given ``--seed``. Each input goes through
``tests.fuzz.engine.check``: only the target's documented error may escape, within 100 ms of
CPU time, with a 2 s hang guard.

``--engine atheris`` runs the same oracle under atheris (libFuzzer, coverage-guided, byte
level; ``pip install atheris``) for one target, its corpus seeded with the same seeds and
structured inputs; libFuzzer prints its own summary and ends the process.

Failures are written to ``--out`` (default ``fuzz-failures/``) as ``<target>/<kind>-<sha1>``
with a ``.txt`` beside each holding the traceback; the summary prints per target the inputs,
wall time, inputs per second and distinct failures. Exit status 1 if anything failed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import json
import random
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.fuzz.engine import Failure, Source, Target, check

TARGET_NAMES = ("agi", "dialstring", "sip", "pidf", "eprofile", "csv", "yaml")
"""``tests.fuzz.targets.TARGETS``, named before importing it (atheris instruments the import)."""

MAX_SAVED_PER_SIGNATURE = 3


@dataclass
class Outcome:
    """What one target's run found."""

    target: str
    inputs: int = 0
    seconds: float = 0.0
    failures: int = 0
    signatures: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Inputs per second of wall time."""
        return self.inputs / self.seconds if self.seconds else 0.0


def _save(failure: Failure, out: Path, outcome: Outcome) -> None:
    outcome.failures += 1
    seen = outcome.signatures.get(failure.signature, 0)
    outcome.signatures[failure.signature] = seen + 1
    if seen >= MAX_SAVED_PER_SIGNATURE:
        return
    folder = out / failure.target
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{failure.kind}-{hashlib.sha1(failure.data).hexdigest()[:12]}"
    (folder / name).write_bytes(failure.data)
    (folder / f"{name}.txt").write_text(f"{failure.detail}\n{failure.where}\n\n{failure.trace}")
    print(f"  {failure.target}: {failure.kind} {failure.detail} at {failure.where} -> {name}",
          flush=True)  # fmt: skip


def run_mutate(target: Target, inputs: int, seed: int, out: Path, every: int) -> Outcome:
    """The default engine: structured inputs and byte mutants, no coverage feedback."""
    outcome = Outcome(target.name)
    source = Source(target, random.Random(f"{seed}:{target.name}"))
    for warm in source.seeds:  # load the data behind the parser (tariff, phonenumbers …)
        check(target, warm, time_bound=60.0)
    gc.collect()
    gc.freeze()  # what is loaded now is never garbage: no full collection walks it again
    started = time.perf_counter()
    for count in range(1, inputs + 1):
        failure = check(target, source.next())
        if failure is not None:
            _save(failure, out, outcome)
        if count % every == 0:
            spent = time.perf_counter() - started
            print(f"  {target.name}: {count} inputs, {spent:.0f} s, {count / spent:.0f}/s, "
                  f"{outcome.failures} failures", flush=True)  # fmt: skip
    outcome.inputs = inputs
    outcome.seconds = time.perf_counter() - started
    return outcome


def load_targets(engine: str) -> dict[str, Target]:
    """The targets; with atheris, callctl's modules instrumented for coverage as they load."""
    if engine != "atheris":
        from tests.fuzz.targets import TARGETS  # noqa: PLC0415 (see TARGET_NAMES)

        return TARGETS
    import atheris  # noqa: PLC0415 (optional dependency)

    with atheris.instrument_imports(include=["callctl"]):
        from tests.fuzz.targets import TARGETS  # noqa: PLC0415

    return TARGETS


def run_atheris(target: Target, inputs: int, seed: int, out: Path) -> Outcome:
    """libFuzzer through atheris, for one target.

    libFuzzer stops at the first failure, and at the end it exits the process itself after
    its own summary (``Done N runs in S second(s)``): the table below is not printed.
    """
    import atheris  # noqa: PLC0415 (optional dependency)

    corpus = out / "atheris-corpus" / target.name
    corpus.mkdir(parents=True, exist_ok=True)
    source = Source(target, random.Random(f"{seed}:{target.name}"))
    for index, data in enumerate([*source.seeds, *(source.next() for _ in range(200))]):
        (corpus / f"seed-{index}").write_bytes(data)
    outcome = Outcome(target.name)

    def one_input(data: bytes) -> None:
        outcome.inputs += 1
        failure = check(target, data)
        if failure is not None:
            _save(failure, out, outcome)
            outcome.seconds = time.perf_counter() - started
            print(json.dumps(_row(outcome)), flush=True)
            raise RuntimeError(f"{failure.kind}: {failure.detail}")

    argv = [sys.argv[0], f"-runs={inputs}", f"-seed={seed or 1}", f"-max_len={target.max_len}",
            f"-artifact_prefix={out}/{target.name}-", str(corpus)]  # fmt: skip
    atheris.Setup(argv, one_input)
    started = time.perf_counter()
    with contextlib.suppress(SystemExit):
        atheris.Fuzz()
    outcome.seconds = time.perf_counter() - started
    return outcome


def _row(outcome: Outcome) -> dict[str, object]:
    return {
        "target": outcome.target,
        "inputs": outcome.inputs,
        "seconds": round(outcome.seconds, 1),
        "per_second": round(outcome.rate),
        "failures": outcome.failures,
        "distinct": sorted(outcome.signatures),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", choices=[[], *TARGET_NAMES], metavar="TARGET",
                        help=f"default: all ({', '.join(TARGET_NAMES)})")  # fmt: skip
    parser.add_argument("-n", "--inputs", type=int, default=1_000_000, help="inputs per target")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--engine", choices=("mutate", "atheris"), default="mutate")
    parser.add_argument("--out", type=Path, default=Path("fuzz-failures"))
    parser.add_argument("--progress", type=int, default=100_000, help="print every N inputs")
    parser.add_argument("--json", action="store_true", help="one JSON object per target")
    args = parser.parse_args(argv)
    names = args.targets or list(TARGET_NAMES)
    targets = load_targets(args.engine)
    assert tuple(targets) == TARGET_NAMES, "update TARGET_NAMES"
    outcomes = []
    for name in names:
        target = targets[name]
        print(f"{name}: {args.inputs} inputs, engine {args.engine}, seed {args.seed}", flush=True)
        if args.engine == "atheris":
            outcome = run_atheris(target, args.inputs, args.seed, args.out)
        else:
            outcome = run_mutate(target, args.inputs, args.seed, args.out, args.progress)
        outcomes.append(outcome)
        print(json.dumps(_row(outcome)) if args.json else
              f"{name}: {outcome.inputs} inputs in {outcome.seconds:.0f} s "
              f"({outcome.rate:.0f}/s), {outcome.failures} failures "
              f"({len(outcome.signatures)} distinct)", flush=True)  # fmt: skip
    print("\n| target | inputs | wall time (s) | inputs/s | failures (distinct) |")
    print("|---|---:|---:|---:|---:|")
    for o in outcomes:
        print(f"| {o.target} | {o.inputs:,} | {o.seconds:.0f} | {o.rate:,.0f} | "
              f"{o.failures} ({len(o.signatures)}) |")  # fmt: skip
    return 1 if any(o.failures for o in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
