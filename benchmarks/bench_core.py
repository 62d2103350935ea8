"""Single-core throughput and memory benchmark of callctl's core (classification and rating).

Run from the repository root, pinned to one core::

    taskset -c 0 .venv/bin/python benchmarks/bench_core.py          # full run (about 75 s)
    taskset -c 0 .venv/bin/python benchmarks/bench_core.py --quick  # smoke run (seconds)
    taskset -c 0 .venv/bin/python benchmarks/bench_core.py --json   # machine-readable results

Figures, each the best and the median of ``--repeats`` timed runs after a warm-up:

(a) ``repeated``: a set of about 200 dial strings covering every group, cycled to 500 000
    calls through the cached ``Classifier.__call__`` (a fresh classifier per run, so each
    run also pays the ~200 first-seen misses). Target 50 000 numbers/s.
(b) ``distinct``: 100 000 distinct generated dial strings (Belgian fixed and mobile, zone
    countries, Morocco and Turkey, other international, special numbers, invalid strings)
    through ``Classifier.__call__`` of a fresh classifier, so every string is a cache miss.
    Target 10 000 numbers/s. The uncached ``Classifier.classify`` is also timed, for reference.
(c) ``rating``: ``Rater.rate_calls`` on a 100 000-call batch of one line (answered over three
    months, every group, 0-3600 s); classification is done before the timed section.
    Target 20 000 calls/s. Then, in a separate run under ``tracemalloc``, the peak memory of
    building and rating that batch, and the process's max RSS (``resource.getrusage``).

Inputs are deterministic (``random.Random(seed)``). Timings use ``time.perf_counter`` with
the garbage collector enabled (it is part of the real cost), after a ``gc.collect()``.
``--profile repeated|distinct|distinct_uncached|rating`` prints a cProfile of one run of
that figure instead.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import json
import os
import platform
import pstats
import random
import resource
import statistics
import sys
import time
import tracemalloc
from collections import Counter, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo

import phonenumbers
from phonenumbers import PhoneNumberType

from callctl.core.classify import Classification, Classifier
from callctl.core.rating import Call, Rater
from callctl.core.tariff import GROUPS, Numbering, Plan, Tariff
from callctl.data import default_tariff

# ----------------------------------------------------------------------------- settings

TARGETS = {"repeated": 50_000.0, "distinct": 10_000.0, "rating": 20_000.0}
UNITS = {"repeated": "numbers/s", "distinct": "numbers/s", "rating": "calls/s"}
TITLES = {
    "repeated": "(a) classify, repeated numbers (cached __call__)",
    "distinct": "(b) classify, distinct numbers (fresh classifier)",
    "distinct_uncached": "    classify, distinct numbers (.classify, info)",
    "rating": "(c) Rater.rate_calls, one line, 3 months",
}


@dataclass(frozen=True)
class Sizes:
    repeated_pool_per_group: int  # pool strings per group: 11 groups x 18 = 198
    repeated_calls: int
    distinct_numbers: int
    rating_calls: int
    rating_pool: int  # distinct numbers the batch's calls are drawn from (besides the pool)
    repeats: int


FULL = Sizes(18, 500_000, 100_000, 100_000, 5_000, 5)
QUICK = Sizes(18, 20_000, 2_000, 2_000, 500, 3)

CPU_SHARE_WARNING = 0.9  # below this share of the core, warn that the machine was busy
PRODUCT = "classic"  # the bundle (zone, off-peak) and unlimited (Belgium, off-peak) both apply
OPTIONS: tuple[str, ...] = ()
PERIOD_START = date(2026, 9, 1)  # three months: September to November 2026 (DST ends 25 Oct)
PERIOD_DAYS = 91
MAX_BILLSEC = 3600

# ----------------------------------------------------------------------------- dial strings

# Regions for foreign numbers. Lists, not sets, so that choices do not depend on hashing.
INTERNATIONAL_REGIONS = [
    "CN", "IN", "BR", "JP", "AU", "ZA", "NG", "RU", "EG", "MX", "AR", "CD", "SN", "DZ",
    "TN", "CM", "CI", "IL", "AE", "SA", "TH", "VN", "PH", "ID", "KR", "NZ", "UA", "RS",
    "AL", "CO", "PE", "CL", "KE", "PK", "BD", "LB", "RW", "BI", "CG", "GA",
]  # fmt: skip
ALIAS_REGIONS = ["GG", "JE", "IM", "AX", "PR", "VI", "GU"]
PREMIUM_REGIONS = ["GB", "FR", "DE", "IT", "ES", "NL", "AT", "CH", "US", "AU"]
NON_GEO_CODES = [800, 808, 870, 882, 883]
FIXED_OR_MOBILE = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE)
PREMIUM_TYPES = (PhoneNumberType.PREMIUM_RATE, PhoneNumberType.SHARED_COST)
# Belgian national prefixes that no range uses (R2): "no Belgian number starts with …".
UNUSED_BE_PREFIXES = ["062", "066", "072", "073", "074", "075", "076", "079", "088"]
LETTERS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def _spaced(rng: random.Random, digits: str) -> str:
    """Digits with separators in random places, as people type them."""
    if rng.random() < 0.4:
        return digits
    sep = rng.choice([" ", " ", ".", "/", "-"])
    out: list[str] = []
    for i, ch in enumerate(digits):
        if i and rng.random() < 0.3:
            out.append(sep)
        out.append(ch)
    return "".join(out)


def _wrap(rng: random.Random, text: str) -> str:
    """Occasionally: caller ID withheld, a tel: or sip: URI, surrounding blanks."""
    r = rng.random()
    if r < 0.04:
        text = rng.choice(["#31#", "*31#"]) + text
    elif r < 0.07:
        text = "tel:" + text.replace(" ", "")
    elif r < 0.10:
        user = text.replace(" ", "").replace("+", "%2B" if rng.random() < 0.5 else "+")
        text = f"sip:{user}@pbx.example.be"
    elif r < 0.12:
        text = f"  {text} "
    return text


def _belgian(rng: random.Random, national: str) -> str:
    """A Belgian national dial string (with its 0) in a national or international form."""
    r = rng.random()
    if r < 0.6:
        text = _spaced(rng, national)
    elif r < 0.85:
        text = "+32 " + _spaced(rng, national[1:])
    else:
        text = "0032" + _spaced(rng, national[1:])
    return _wrap(rng, text)


def _foreign_text(rng: random.Random, cc: int, nsn: str) -> str:
    prefix = f"+{cc} " if rng.random() < 0.65 else f"00{cc}"
    return _wrap(rng, prefix + _spaced(rng, nsn))


def _template(region: str, kind: int) -> tuple[int, str] | None:
    """Country code and national number of the library's example number, if any."""
    number = phonenumbers.example_number_for_type(region, kind)
    if number is None:
        return None
    return int(number.country_code or 0), phonenumbers.national_significant_number(number)


def _randomised(rng: random.Random, nsn: str) -> str:
    """The example number with its last digits drawn at random (same length and prefix)."""
    keep = max(2, len(nsn) - 6)
    return nsn[:keep] + _digits(rng, len(nsn) - keep)


class NumberMaker:
    """Generates dial strings aiming at each group, from the tariff's numbering data."""

    def __init__(self, numbering: Numbering) -> None:
        self.n = numbering
        ranges = {r.group: r for r in numbering.national}
        fixed = [r for r in numbering.national if r.group == "be_fixed"]
        self.fixed_prefixes = sorted(p for r in fixed for p in r.prefixes)
        self.mobile_prefixes = sorted(ranges["be_mobile"].prefixes)
        self.premium_prefixes = sorted(ranges["premium"].prefixes)
        self.zone_regions = sorted(numbering.zone_countries)
        self.emergency = sorted(numbering.emergency)
        self.helpline = sorted(numbering.helpline)
        self.templates: dict[tuple[str, int], tuple[int, str]] = {}
        regions = [*self.zone_regions, *ALIAS_REGIONS, *INTERNATIONAL_REGIONS, "MA", "TR"]
        for region in regions:
            for kind in FIXED_OR_MOBILE:
                self._add_template(region, kind)
        for region in PREMIUM_REGIONS:
            for kind in PREMIUM_TYPES:
                self._add_template(region, kind)
        self.non_geo: list[tuple[int, str]] = []
        for code in NON_GEO_CODES:
            example = phonenumbers.example_number_for_non_geo_entity(code)
            if example is not None:
                nsn = phonenumbers.national_significant_number(example)
                self.non_geo.append((code, nsn))
        self.makers: dict[str, Callable[[random.Random], str]] = {
            "emergency": self.emergency_number,
            "helpline": self.helpline_number,
            "freephone": self.freephone,
            "premium": self.premium,
            "special": self.special,
            "be_fixed": self.be_fixed,
            "be_mobile": self.be_mobile,
            "zone": self.zone,
            "ma_tr": self.ma_tr,
            "international": self.international,
            "invalid": self.invalid,
        }

    def _add_template(self, region: str, kind: int) -> None:
        found = _template(region, kind)
        if found is not None:
            self.templates[(region, kind)] = found

    def foreign(self, rng: random.Random, region: str, kinds: Sequence[int]) -> str:
        """A number of ``region`` of one of ``kinds`` (its example number, last digits random)."""
        choices = [self.templates[(region, k)] for k in kinds if (region, k) in self.templates]
        cc, nsn = rng.choice(choices)
        return _foreign_text(rng, cc, _randomised(rng, nsn))

    # Belgium -----------------------------------------------------------------------------

    def be_fixed(self, rng: random.Random) -> str:
        prefix = rng.choice(self.fixed_prefixes)
        return _belgian(rng, prefix + _digits(rng, 9 - len(prefix)))

    def be_mobile(self, rng: random.Random) -> str:
        return _belgian(rng, rng.choice(self.mobile_prefixes) + _digits(rng, 7))

    def freephone(self, rng: random.Random) -> str:
        return _belgian(rng, "0800" + _digits(rng, 5))

    def premium(self, rng: random.Random) -> str:
        return _belgian(rng, rng.choice(self.premium_prefixes) + _digits(rng, 5))

    def special(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.3:
            return _belgian(rng, "070" + _digits(rng, 6))
        if r < 0.5:
            return _belgian(rng, "078" + _digits(rng, 6))
        if r < 0.6:
            return _belgian(rng, "077" + _digits(rng, rng.randint(6, 10)))
        short = "1" + _digits(rng, rng.randint(3, 5))  # 4-6 digit short numbers
        return _wrap(rng, short if rng.random() < 0.8 else "+32 " + short)

    def emergency_number(self, rng: random.Random) -> str:
        digits = rng.choice(self.emergency)
        form = rng.choice(["{}", "{}", "+32{}", "+32 {}", "0032{}", "0{}", "#31#{}", "*31#{}"])
        text = form.format(_spaced(rng, digits))
        return text if rng.random() < 0.9 else f"tel:{text.replace(' ', '')}"

    def helpline_number(self, rng: random.Random) -> str:
        number = rng.choice(self.helpline)
        if number.startswith("0"):
            return _belgian(rng, number)
        return _wrap(rng, _spaced(rng, number))

    # Abroad ------------------------------------------------------------------------------

    def zone(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.08:
            return self.foreign(rng, rng.choice(ALIAS_REGIONS), FIXED_OR_MOBILE)
        if r < 0.13:  # Maroc Telecom fixed
            nsn = rng.choice(self.n.morocco_zone_prefixes) + _digits(rng, 6)
            return _foreign_text(rng, 212, nsn)
        if r < 0.18:
            return self.foreign(rng, "TR", (PhoneNumberType.FIXED_LINE,))
        return self.foreign(rng, rng.choice(self.zone_regions), FIXED_OR_MOBILE)

    def ma_tr(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.35:  # Moroccan mobile
            return _foreign_text(rng, 212, rng.choice("67") + _digits(rng, 8))
        if r < 0.5:  # Moroccan fixed outside the Maroc Telecom zone prefixes
            return _foreign_text(rng, 212, rng.choice(["525", "526", "529"]) + _digits(rng, 6))
        return self.foreign(rng, "TR", (PhoneNumberType.MOBILE,))

    def international(self, rng: random.Random) -> str:
        r = rng.random()
        if r < 0.08:
            return self.foreign(rng, rng.choice(PREMIUM_REGIONS), PREMIUM_TYPES)
        if r < 0.12:
            cc, nsn = rng.choice(self.non_geo)
            return _foreign_text(rng, cc, _randomised(rng, nsn))
        return self.foreign(rng, rng.choice(INTERNATIONAL_REGIONS), FIXED_OR_MOBILE)

    def invalid(self, rng: random.Random) -> str:
        kind = rng.randrange(12)
        if kind == 0:  # letters
            word = "".join(rng.choice(LETTERS) for _ in range(rng.randint(3, 8)))
            return rng.choice(["0800-", "+32 2 ", "", "call "]) + word + _digits(rng, 2)
        if kind == 1:  # too short Belgian
            return "0" + rng.choice(["2", "3", "47", "9"]) + _digits(rng, rng.randint(1, 5))
        if kind == 2:  # too long Belgian
            return _belgian(rng, rng.choice(self.mobile_prefixes) + _digits(rng, 9))
        if kind == 3:  # unused Belgian prefix
            return _belgian(rng, rng.choice(UNUSED_BE_PREFIXES) + _digits(rng, 6))
        if kind == 4:  # no national 0
            return rng.choice(["4", "2", "9"]) + _digits(rng, 8)
        if kind == 5:  # unknown country code
            return rng.choice(["+999 ", "00969", "+28 ", "+80 "]) + _digits(rng, 8)
        if kind == 6:  # too short or too long abroad
            cc = rng.choice([33, 49, 31, 1, 44, 86])
            return f"+{cc} " + _digits(rng, rng.choice([2, 3, 17, 18]))
        if kind == 7:  # short number too short
            return "1" + _digits(rng, 1)
        if kind == 8:  # characters that cannot be dialled
            bad = rng.choice(["*", "#", "_", ",", "+"])
            return "+32 " + _digits(rng, 3) + bad + _digits(rng, 5)
        if kind == 9:  # over the input limit
            return _digits(rng, self.n.max_input_length + rng.randint(1, 40))
        if kind == 10:  # a SIP URI without a user part, or a bare prefix
            return rng.choice(["sip:", "sips:"]) + f"pbx{rng.randrange(10_000)}.example.be"
        return rng.choice(["0", "00", "+", "", " ", "+32", "0032"]) + " " * rng.randrange(3)

    # Sets --------------------------------------------------------------------------------

    def pool(self, rng: random.Random, per_group: int) -> list[str]:
        """``per_group`` distinct strings aimed at each group (the repeated set)."""
        seen: dict[str, None] = {}
        for group in GROUPS:
            maker = self.makers[group]
            count = 0
            for _ in range(per_group * 50):
                text = maker(rng)
                if text not in seen:
                    seen[text] = None
                    count += 1
                    if count == per_group:
                        break
        return list(seen)

    def distinct(self, rng: random.Random, count: int) -> list[str]:
        """``count`` distinct strings, in a realistic mix of the groups."""
        weights = {
            "be_fixed": 20,
            "be_mobile": 22,
            "zone": 18,
            "ma_tr": 6,
            "international": 12,
            "freephone": 2,
            "premium": 2,
            "special": 5,
            "emergency": 0.2,
            "helpline": 0.8,
            "invalid": 12,
        }
        groups = list(weights)
        cum = list(weights.values())
        seen: dict[str, None] = {}
        while len(seen) < count:
            group = rng.choices(groups, cum)[0]
            seen.setdefault(self.makers[group](rng), None)
        return list(seen)


# ----------------------------------------------------------------------------- calls


def _answer_time(rng: random.Random, tz: ZoneInfo) -> datetime:
    """An answer time in the three months, mostly in office hours on working days."""
    day = PERIOD_START + timedelta(days=rng.randrange(PERIOD_DAYS))
    if day.weekday() < 5 and rng.random() < 0.75:
        second = rng.randrange(7 * 3600, 19 * 3600)  # no DST gap between 07:00 and 19:00
        local = datetime(day.year, day.month, day.day, tzinfo=tz) + timedelta(seconds=second)
        return local
    start = datetime(day.year, day.month, day.day, tzinfo=tz).timestamp()
    return datetime.fromtimestamp(start + rng.randrange(86_400), tz)


def _billsec(rng: random.Random) -> int:
    """Billed seconds: some unanswered, most a few minutes, a long tail up to an hour."""
    if rng.random() < 0.12:
        return 0
    return max(1, min(MAX_BILLSEC, round(rng.lognormvariate(4.4, 1.1))))


def build_batch(seed: int, count: int, pool: Sequence[Classification], tz: ZoneInfo) -> list[Call]:
    """``count`` calls of one line; classifications are drawn from the classified pool."""
    rng = random.Random(seed)
    return [Call(_answer_time(rng, tz), _billsec(rng), rng.choice(pool)) for _ in range(count)]


# ----------------------------------------------------------------------------- timing


@dataclass
class Figure:
    name: str
    items: int
    seconds: list[float] = field(default_factory=list)
    cpu_seconds: list[float] = field(default_factory=list)
    target: float | None = None
    unit: str = "numbers/s"
    groups: dict[str, int] = field(default_factory=dict)

    @property
    def best(self) -> float:
        return self.items / min(self.seconds)

    @property
    def median(self) -> float:
        return self.items / statistics.median(self.seconds)

    @property
    def cpu_share(self) -> float:
        """Process CPU time over wall time: well below 1 means another process shared the core."""
        return sum(self.cpu_seconds) / sum(self.seconds)

    @property
    def status(self) -> str:
        if self.target is None:
            return "info"
        return "PASS" if self.best >= self.target else "BELOW"

    def as_dict(self) -> dict[str, Any]:
        return {
            "items": self.items,
            "unit": self.unit,
            "rate_best": self.best,
            "rate_median": self.median,
            "seconds_best": min(self.seconds),
            "seconds_median": statistics.median(self.seconds),
            "seconds_all": self.seconds,
            "cpu_seconds_all": self.cpu_seconds,
            "cpu_share": self.cpu_share,
            "target": self.target,
            "status": self.status,
            "median_meets_target": None if self.target is None else self.median >= self.target,
            "groups": self.groups,
        }


def timed(
    prepare: Callable[[], Callable[[], object]], repeats: int
) -> tuple[list[float], list[float], object]:
    """Time ``repeats`` runs; each run is made by ``prepare``, outside the timed section.

    Returns the wall seconds and the process CPU seconds of each run, and the last result.
    """
    seconds: list[float] = []
    cpu: list[float] = []
    result: object = None
    for _ in range(repeats):
        result = None
        run = prepare()
        gc.collect()
        cpu_start = time.process_time()
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    return seconds, cpu, result


def consume(classify: Callable[[str], Classification], numbers: Sequence[str]) -> None:
    """Classify every string, keeping nothing (no loop or list overhead in the timing)."""
    deque(map(classify, numbers), maxlen=0)


def classify_all(classify: Callable[[str], Classification], numbers: Sequence[str]) -> object:
    return list(map(classify, numbers))


class Bench:
    """Builds the inputs once and times each figure."""

    def __init__(self, sizes: Sizes, seed: int, log: Callable[[str], None]) -> None:
        self.sizes = sizes
        self.seed = seed
        self.log = log
        self.tariff: Tariff = default_tariff()
        self.numbering = self.tariff.numbering
        self.tz = ZoneInfo(self.tariff.timezone)
        self.plan: Plan = self.tariff.plan(PRODUCT, OPTIONS)
        maker = NumberMaker(self.numbering)
        self.pool = maker.pool(random.Random(seed), sizes.repeated_pool_per_group)
        reps = -(-sizes.repeated_calls // len(self.pool))
        self.repeated = (self.pool * reps)[: sizes.repeated_calls]
        self.distinct = maker.distinct(random.Random(seed + 1), sizes.distinct_numbers)
        # Warm-up strings: same generator, another seed, so the library's lazily loaded
        # region metadata is in memory before anything is timed.
        self.warm = maker.distinct(random.Random(seed + 2), min(5_000, sizes.distinct_numbers))
        self.warm += [maker.makers[g](random.Random(seed + 3)) for g in GROUPS]
        for region, kind in maker.templates:
            self.warm.append(maker.foreign(random.Random(seed + 4), region, (kind,)))
        # The rating batch: every group, classified here, before any timed section.
        classifier = Classifier(self.numbering)
        rating_numbers = self.pool + maker.distinct(random.Random(seed + 5), sizes.rating_pool)
        self.rating_pool = [classifier(n) for n in rating_numbers]
        self.pool_groups = Counter(classifier(n).group for n in self.pool)
        missing = set(GROUPS) - set(self.pool_groups)
        if missing:
            raise SystemExit(f"the repeated set misses groups {sorted(missing)}")
        self.batch = build_batch(seed + 6, sizes.rating_calls, self.rating_pool, self.tz)

    def warm_up(self) -> None:
        classifier = Classifier(self.numbering)
        consume(classifier, self.warm)
        consume(classifier, self.repeated[:50_000])
        consume(Classifier(self.numbering), self.distinct[:1_000])
        Rater(self.tariff).rate_calls(self.batch[:5_000], self.plan)

    # Each prepare_* makes one run: a fresh classifier or rater, built outside the timing.

    def prepare_repeated(self) -> Callable[[], object]:
        return partial(consume, Classifier(self.numbering), self.repeated)

    def prepare_distinct(self) -> Callable[[], object]:
        return partial(classify_all, Classifier(self.numbering), self.distinct)

    def prepare_distinct_uncached(self) -> Callable[[], object]:
        return partial(consume, Classifier(self.numbering).classify, self.distinct)

    def prepare_rating(self) -> Callable[[], object]:
        # A fresh rater (and band calendar, with its holiday cache) per batch.
        return partial(Rater(self.tariff).rate_calls, self.batch, self.plan)

    def repeated_figure(self) -> Figure:
        self.log(f"(a) {len(self.repeated):,} calls over {len(self.pool)} numbers ...")
        seconds, cpu, _ = timed(self.prepare_repeated, self.sizes.repeats)
        return Figure(
            "repeated",
            len(self.repeated),
            seconds,
            cpu,
            TARGETS["repeated"],
            groups=dict(sorted(self.pool_groups.items())),
        )

    def distinct_figures(self) -> tuple[Figure, Figure]:
        self.log(f"(b) {len(self.distinct):,} distinct numbers ...")
        seconds, cpu, result = timed(self.prepare_distinct, self.sizes.repeats)
        assert isinstance(result, list)
        groups = Counter(c.group for c in result)
        del result
        cached = Figure(
            "distinct",
            len(self.distinct),
            seconds,
            cpu,
            TARGETS["distinct"],
            groups=dict(sorted(groups.items())),
        )
        self.log("    the same through .classify (no cache) ...")
        seconds, cpu, _ = timed(self.prepare_distinct_uncached, self.sizes.repeats)
        return cached, Figure("distinct_uncached", len(self.distinct), seconds, cpu)

    def rating_figure(self) -> Figure:
        self.log(f"(c) rate_calls on {len(self.batch):,} calls ...")
        seconds, cpu, result = timed(self.prepare_rating, self.sizes.repeats)
        assert isinstance(result, tuple)
        assert len(result[0]) == len(self.batch)
        del result
        groups = Counter(c.classification.group for c in self.batch)
        return Figure(
            "rating",
            len(self.batch),
            seconds,
            cpu,
            TARGETS["rating"],
            unit="calls/s",
            groups=dict(sorted(groups.items())),
        )

    def memory(self) -> dict[str, Any]:
        """tracemalloc peak of building and rating the batch, in a run of its own."""
        self.log("    memory of building and rating the batch (tracemalloc) ...")
        rater = Rater(self.tariff)
        gc.collect()
        tracemalloc.start()
        batch = build_batch(self.seed + 6, self.sizes.rating_calls, self.rating_pool, self.tz)
        built, _ = tracemalloc.get_traced_memory()
        rated, usage = rater.rate_calls(batch, self.plan)
        retained, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert len(rated) == len(batch)
        del batch, rated, usage
        return {
            "calls": self.sizes.rating_calls,
            "tracemalloc_built_bytes": built,
            "tracemalloc_retained_bytes": retained,
            "tracemalloc_peak_bytes": peak,
            "tracemalloc_peak_bytes_per_call": peak / self.sizes.rating_calls,
        }


# ----------------------------------------------------------------------------- report


def max_rss_bytes() -> int:
    """The process's max resident set size (ru_maxrss is KiB on Linux, bytes on macOS)."""
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(rss if sys.platform == "darwin" else rss * 1024)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict[str, Any]:
    affinity = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    return {
        "cpu_model": cpu_model(),
        "cpus_online": os.cpu_count(),
        "cpu_affinity": affinity,
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "phonenumbers": phonenumbers.__version__,
        "platform": platform.platform(),
        "load_average_start": load_average(),
    }


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages: other work on the machine skews timings."""
    return [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else []


def mib(n: float) -> str:
    return f"{n / 2**20:,.1f} MiB"


def table(result: dict[str, Any]) -> str:
    m = result["machine"]
    lines = [
        f"callctl core benchmark  ({result['mode']}, seed {result['seed']}, "
        f"best and median of {result['repeats']} runs)",
        f"CPU {m['cpu_model']}, affinity {m['cpu_affinity']}, Python {m['python']}, "
        f"load average {m['load_average_start']} at start, {m['load_average_end']} at end",
        "",
        f"{'figure':<52}{'items':>9}{'best':>12}{'median':>12}{'target':>10}  status",
    ]
    shared = [n for n, f in result["figures"].items() if f["cpu_share"] < CPU_SHARE_WARNING]
    for name, fig in result["figures"].items():
        target = "-" if fig["target"] is None else f"{fig['target']:,.0f}"
        lines.append(
            f"{TITLES[name]:<52}{fig['items']:>9,}{fig['rate_best']:>12,.0f}"
            f"{fig['rate_median']:>12,.0f}{target:>10}  {fig['status']}"
            + ("" if fig["median_meets_target"] in (None, True) else " (median below)")
        )
    lines.append("(rates in numbers/s for classification, calls/s for rating)")
    if shared:
        lines.append(
            f"warning: {', '.join(shared)} got less than {CPU_SHARE_WARNING:.0%} of the core "
            "(CPU time / wall time): another process was running on it; the figures are low"
        )
    mem = result["memory"]
    lines += [
        "",
        f"rating batch memory ({mem['calls']:,} calls, tracemalloc): "
        f"built {mib(mem['tracemalloc_built_bytes'])}, "
        f"peak {mib(mem['tracemalloc_peak_bytes'])} "
        f"({mem['tracemalloc_peak_bytes_per_call']:,.0f} B/call), "
        f"retained {mib(mem['tracemalloc_retained_bytes'])}",
        f"process max RSS: {mib(mem['max_rss_after_rating_bytes'])} after the timed rating, "
        f"{mib(mem['max_rss_end_bytes'])} at the end (start {mib(mem['max_rss_start_bytes'])})",
        "",
        "groups of (b): "
        + ", ".join(f"{g} {c}" for g, c in result["figures"]["distinct"]["groups"].items()),
    ]
    return "\n".join(lines)


def profile(bench: Bench, which: str, top: int) -> None:
    """Print a cProfile of one run of a figure (after the warm-up)."""
    prepare: dict[str, Callable[[], Callable[[], object]]] = {
        "repeated": bench.prepare_repeated,
        "distinct": bench.prepare_distinct,
        "distinct_uncached": bench.prepare_distinct_uncached,
        "rating": bench.prepare_rating,
    }
    run = prepare[which]()
    profiler = cProfile.Profile()
    profiler.runcall(run)
    stats = pstats.Stats(profiler, stream=sys.stdout)
    stats.strip_dirs().sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="small inputs, a smoke run")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--seed", type=int, default=20261101, help="input seed")
    parser.add_argument("--repeats", type=int, help="timed runs per figure (default 5, quick 3)")
    parser.add_argument(
        "--profile",
        choices=["repeated", "distinct", "distinct_uncached", "rating"],
        help="print a cProfile of one run of this figure instead of benchmarking",
    )
    parser.add_argument("--top", type=int, default=30, help="rows of the profile")
    args = parser.parse_args(argv)

    sizes = QUICK if args.quick else FULL
    if args.repeats is not None:
        if args.repeats < 1:
            parser.error("--repeats must be at least 1")
        sizes = Sizes(**{**sizes.__dict__, "repeats": args.repeats})

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    rss_start = max_rss_bytes()
    info = machine()
    if len(info["cpu_affinity"]) > 1:
        log(f"note: running on CPUs {info['cpu_affinity']}; pin to one with taskset -c 0")
    log("building inputs ...")
    bench = Bench(sizes, args.seed, log)
    log("warm-up ...")
    bench.warm_up()
    if args.profile:
        profile(bench, args.profile, args.top)
        return 0

    repeated = bench.repeated_figure()
    distinct, uncached = bench.distinct_figures()
    rating = bench.rating_figure()
    rss_after_rating = max_rss_bytes()
    info["load_average_end"] = load_average()
    memory = bench.memory()
    memory.update(
        max_rss_start_bytes=rss_start,
        max_rss_after_rating_bytes=rss_after_rating,
        max_rss_end_bytes=max_rss_bytes(),
    )
    result: dict[str, Any] = {
        "mode": "quick" if args.quick else "full",
        "seed": args.seed,
        "repeats": sizes.repeats,
        "command": " ".join([os.path.basename(sys.executable), *sys.argv]),
        "machine": info,
        "plan": {"product": PRODUCT, "options": list(OPTIONS)},
        "figures": {f.name: f.as_dict() for f in (repeated, distinct, uncached, rating)},
        "memory": memory,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
