"""Fuzzing in the normal suite (issue 7): a few hundred inputs per parser, and the regressions.

The million-input runs are ``benchmarks/fuzz_run.py`` (docs/fuzzing.md); this module runs the
same oracle (``tests.fuzz.engine.check``) on inputs Hypothesis draws through the same
structure-aware generators and byte mutator, and replays every input kept in
``tests/fuzz/corpus/<target>/``: inputs that once crashed or hung a parser.
"""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.engine import TIME_BOUND_S, check, one_input
from tests.fuzz.targets import TARGETS

CORPUS = Path(__file__).parent / "corpus"

CI_TIME_BOUND_S = 5 * TIME_BOUND_S
"""Looser than the runner's bound: the suite may run beside other tests or under coverage."""

EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_seeds_are_handled(name: str) -> None:
    target = TARGETS[name]
    for seed in target.seeds():
        assert check(target, seed, time_bound=60.0) is None  # the first input loads the data


@pytest.mark.parametrize("name", sorted(TARGETS))
@EXAMPLES
@given(rnd=st.randoms(use_true_random=False))
def test_structured_and_mutated_inputs_are_handled(name: str, rnd: random.Random) -> None:
    target = TARGETS[name]
    data = one_input(target, rnd, target.seeds())
    failure = check(target, data, time_bound=CI_TIME_BOUND_S)
    assert failure is None, f"{failure.kind}: {failure.detail}\n{failure.trace}\n{data!r}"


REGRESSIONS = sorted(path for path in CORPUS.glob("*/*") if path.is_file())


def test_every_corpus_folder_is_a_target() -> None:
    assert {path.parent.name for path in REGRESSIONS} <= set(TARGETS)
    assert REGRESSIONS


def test_the_runner_runs(tmp_path: Path) -> None:
    runner = Path(__file__).parents[2] / "benchmarks" / "fuzz_run.py"
    command = [sys.executable, str(runner), "-n", "300", "--out", str(tmp_path)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "| yaml | 300 |" in done.stdout


@pytest.mark.parametrize("path", REGRESSIONS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_regression(path: Path) -> None:
    failure = check(TARGETS[path.parent.name], path.read_bytes(), time_bound=CI_TIME_BOUND_S)
    assert failure is None, f"{failure.kind}: {failure.detail}\n{failure.trace}"
