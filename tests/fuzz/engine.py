"""The fuzzing oracle and input sources shared by the pytest harness and ``benchmarks/fuzz_run.py``.

A :class:`Target` names one parser, the only exception types it may raise on bad input (its
documented errors), a structure-aware generator of near-valid inputs and a few seeds. One
input is *handled* when the parser returns or raises one of those types within
``TIME_BOUND_S`` seconds of CPU time; anything else is a :class:`Failure`:

- ``exception``: any other exception escaped (``KeyError``, ``RecursionError``,
  ``OverflowError`` …), or an assertion about the result failed;
- ``slow``: the input took more than ``TIME_BOUND_S`` of CPU time (every parser here is
  linear in a bounded input, so a slow input points at a quadratic path or worse);
- ``hang``: the input was still running after ``HANG_S`` of CPU time and was interrupted.

CPU time, not wall time, is measured, so that a busy, shared machine (the fuzz runs are
``nice -n 19``) does not produce false ``slow`` failures. The hang guard is ``SIGPROF``
from ``setitimer(ITIMER_PROF)``; it raises :class:`Hang`, a ``BaseException``, so that the
parsers' own ``except Exception`` cannot swallow it.
"""

from __future__ import annotations

import random
import signal
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import FrameType

TIME_BOUND_S = 0.1
"""Most CPU time one input may take (a generous bound: inputs are at most a few kB)."""

HANG_S = 2.0
"""CPU time after which an input is interrupted as a hang."""

STRUCTURED_SHARE = 0.4
"""Share of inputs built fresh by the structure-aware generator; the rest are mutated."""

POOL_SIZE = 512
"""Inputs kept for further mutation (the seeds stay; the others are replaced at random)."""


class Hang(BaseException):
    """Raised by the hang guard's signal handler inside a parser that runs too long."""


@dataclass(frozen=True, slots=True)
class Target:
    """One fuzzed parser."""

    name: str
    run: Callable[[bytes], float | None]
    """Feeds one input to the parser (and its readers); may raise only ``allowed``. It may
    return extra CPU seconds the input is allowed beyond ``TIME_BOUND_S`` (work the input
    legitimately asks for, such as rating a call of ten years)."""

    allowed: tuple[type[BaseException], ...]
    generate: Callable[[random.Random], bytes]
    """A structure-aware input: near-valid, with the parser's odd corners."""

    seeds: Callable[[], list[bytes]]
    tokens: tuple[bytes, ...] = ()
    """Byte strings the mutator likes to insert (the format's delimiters and keywords)."""

    max_len: int = 8192
    """Inputs are cut to this many bytes (a bounded input makes a bounded time)."""


@dataclass(frozen=True, slots=True)
class Failure:
    """An input the target did not handle."""

    target: str
    kind: str  # "exception", "slow" or "hang"
    detail: str  # the exception type and message, or the time taken
    where: str  # the innermost frame of the product's traceback, for grouping
    data: bytes
    trace: str = field(default="", repr=False)

    @property
    def signature(self) -> str:
        """Groups failures that are the same bug."""
        return f"{self.kind}:{self.detail.split(':', 1)[0]}:{self.where}"


def _on_sigprof(signum: int, frame: FrameType | None) -> None:
    del signum, frame
    raise Hang(f"more than {HANG_S} s of CPU time")


def _innermost(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in frames if "/callctl/" in f.filename] or frames
    if not inside:
        return "?"
    last = inside[-1]
    return f"{last.filename.rsplit('/callctl/', 1)[-1]}:{last.lineno}"


def check(target: Target, data: bytes, *, time_bound: float = TIME_BOUND_S) -> Failure | None:
    """Run one input under the oracle; the failure, or None when it was handled.

    A slow input is run a second time and is a failure only if that run is slow too: a
    garbage collection of the whole heap or a busy sibling core can take 100 ms of one run.
    """
    failure = _check_once(target, data, time_bound)
    if failure is not None and failure.kind == "slow":
        return _check_once(target, data, time_bound)
    return failure


def _check_once(target: Target, data: bytes, time_bound: float) -> Failure | None:
    previous = signal.signal(signal.SIGPROF, _on_sigprof)
    started = time.process_time()
    signal.setitimer(signal.ITIMER_PROF, HANG_S)
    allowance = 0.0
    try:
        allowance = target.run(data) or 0.0
    except target.allowed:
        pass
    except Hang as exc:
        return Failure(target.name, "hang", str(exc), _innermost(exc), data, _trace(exc))
    except Exception as exc:
        detail = f"{type(exc).__name__}: {str(exc)[:200]}"
        return Failure(target.name, "exception", detail, _innermost(exc), data, _trace(exc))
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)
    spent = time.process_time() - started
    if spent > time_bound + allowance:
        return Failure(target.name, "slow", f"{spent * 1000:.0f} ms of CPU time", "-", data)
    return None


def _trace(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc))


# ---------------------------------------------------------------------------------------------
# Byte-level mutation


_INTERESTING = (b"\x00", b"\xff", b"\x7f", b"\r", b"\n", b"\r\n", b" ", b"\t", b'"', b"\\",
                b"0", b"-1", b"4294967296", b"99999999999", b"\xc3\xa9", b"\xed\xa0\x80",
                b"\xef\xbb\xbf", b"\xe2\x80\x8b", b"%", b"%00", b"&", b"<", b">")  # fmt: skip


def _span(rnd: random.Random, size: int) -> tuple[int, int]:
    start = rnd.randrange(size + 1)
    return start, min(size, start + rnd.choice((1, 1, 2, 4, 8, 32, 256)))


def mutate(rnd: random.Random, data: bytes, others: Sequence[bytes], target: Target) -> bytes:
    """One to six stacked byte-level edits of ``data`` (libFuzzer-like), cut to ``max_len``."""
    buf = bytearray(data)
    for _ in range(rnd.choice((1, 1, 2, 3, 6))):
        size = len(buf)
        op = rnd.randrange(9)
        start, end = _span(rnd, size)
        if op == 0 and size:  # flip a bit
            at = rnd.randrange(size)
            buf[at] ^= 1 << rnd.randrange(8)
        elif op == 1 and size:  # set a byte
            buf[rnd.randrange(size)] = rnd.randrange(256)
        elif op == 2:  # insert random bytes
            buf[start:start] = rnd.randbytes(rnd.choice((1, 2, 4, 16)))
        elif op == 3:  # delete a span
            del buf[start:end]
        elif op == 4:  # duplicate a span, sometimes many times
            buf[end:end] = buf[start:end] * rnd.choice((1, 2, 16, 200))
        elif op == 5:  # insert a token of the format or an interesting value
            pool = target.tokens + _INTERESTING if target.tokens else _INTERESTING
            buf[start:start] = rnd.choice(pool)
        elif op == 6 and others:  # splice with another input
            other = rnd.choice(others)
            cut = rnd.randrange(len(other) + 1)
            buf = buf[:start] + other[cut:] if rnd.random() < 0.5 else buf[:start] + other[:cut]
        elif op == 7:  # truncate
            del buf[start:]
        else:  # overwrite a span with a copy of another place
            src, _ = _span(rnd, size)
            piece = bytes(buf[src : src + (end - start)])
            buf[start : start + len(piece)] = piece
    return bytes(buf[: target.max_len])


def one_input(target: Target, rnd: random.Random, seeds: Sequence[bytes]) -> bytes:
    """A structured input, or a mutant of one of ``seeds`` (half and half)."""
    if rnd.random() < 0.5 or not seeds:
        return target.generate(rnd)[: target.max_len]
    return mutate(rnd, rnd.choice(seeds), seeds, target)


class Source:
    """The inputs of one fuzzing campaign: structure-aware ones and mutants of a pool."""

    def __init__(self, target: Target, rnd: random.Random) -> None:
        self.target = target
        self.rnd = rnd
        self.seeds = [seed[: target.max_len] for seed in target.seeds()]
        self.pool = list(self.seeds)

    def next(self) -> bytes:
        """The next input; structured inputs and mutants join the pool."""
        rnd = self.rnd
        if rnd.random() < STRUCTURED_SHARE or not self.pool:
            data = self.target.generate(rnd)[: self.target.max_len]
        else:
            data = mutate(rnd, rnd.choice(self.pool), self.pool, self.target)
        if len(self.pool) < POOL_SIZE:
            self.pool.append(data)
        elif rnd.random() < 0.1:
            self.pool[rnd.randrange(len(self.seeds), POOL_SIZE)] = data
        return data
