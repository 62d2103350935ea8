"""Prometheus metrics of one ``callctl serve``: an :class:`Observer` of the controller plus
collectors that read the FastAGI server's counters and the live state when scraped.

Every metric lives in the :class:`Metrics` object's own ``CollectorRegistry`` (never the
global one), so two servers in one process, or many tests, do not collide. Label values
come from fixed sets (outcomes, refusal codes, SIP codes, location trust, error kinds):
never free text, so the number of series stays bounded. Names and labels are listed in
docs/dashboard.md.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from callctl.agi.server import AgiCounters
from callctl.core.fraud import ALERT_KINDS, AUTH_BLOCK, AUTH_UNBLOCK, AuthAlert
from callctl.core.policy import REFUSALS
from callctl.core.records import CallRecord
from callctl.service.observer import ActiveCall, Observer, location_trust, outcome

OUTCOMES = ("route", "emergency", "refuse", "cancelled")
TRUST = ("trusted", "untrusted", "unknown")
RECORD_KINDS = ("settle", "batch")
SPOOL_KINDS = ("settle", "record")  # callctl.store.spool.KINDS
# Decisions take about a millisecond; the AGI deadline is 1.5 s.
DECISION_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 1.5, 2.5)
WRITE_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
# FastAGI trouble, by kind: the server's own counters (callctl.agi.server.AgiCounters) and
# the controller's unreadable requests.
AGI_ERRORS = {
    "deadline": "deadline_hits",
    "overload": "overload_hits",
    "protocol": "protocol_errors",
    "handler": "handler_errors",
    "reply_timeout": "reply_timeouts",
    "env_timeout": "env_timeouts",
    "refused": "refused",
    "evicted": "evicted",
    "shutdown_cut": "shutdown_cuts",
}


class _AgiCollector(Collector):
    """``callctl_agi_errors_total`` and ``callctl_agi_sessions_total``, read at scrape time."""

    def __init__(self, counters: Callable[[], AgiCounters], bad_requests: Callable[[], int]):
        self._counters = counters
        self._bad_requests = bad_requests

    def collect(self) -> Iterable[Metric]:
        counters = self._counters()
        errors = CounterMetricFamily(
            "callctl_agi_errors",
            "FastAGI requests that went wrong, by kind (bad_request: unreadable arguments)",
            labels=["kind"],
        )
        errors.add_metric(["bad_request"], self._bad_requests())
        for kind, name in AGI_ERRORS.items():
            errors.add_metric([kind], getattr(counters, name))
        yield errors
        yield CounterMetricFamily(
            "callctl_agi_sessions", "FastAGI connections accepted", value=counters.sessions_total
        )


class Metrics(Observer):
    """The controller's counters and histograms, and the gauges read when scraped."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        # process_resident_memory_bytes, process_open_fds, process_cpu_seconds_total…: what
        # a soak watches (docs/performance.md), for the operator to watch too.
        ProcessCollector(registry=r)
        self.decisions = Counter(
            "callctl_decisions", "Route requests answered, by outcome", ["outcome"], registry=r
        )
        self.decision_seconds = Histogram(
            "callctl_decision_seconds",
            "Time from a route request's arrival to its answer being sent",
            buckets=DECISION_BUCKETS,
            registry=r,
        )
        self.records = Counter(
            "callctl_records_written", "Call records committed, by write path", ["kind"],
            registry=r,
        )  # fmt: skip
        self.record_write_seconds = Histogram(
            "callctl_record_write_seconds",
            "Time of one record transaction (settle: one hangup; batch: refusals together)",
            ["kind"],
            buckets=WRITE_BUCKETS,
            registry=r,
        )
        self.refusals = Counter(
            "callctl_refusals",
            "Refused calls, by refusal code and SIP code",
            ["code", "sip_code"],
            registry=r,
        )
        self.emergency = Counter(
            "callctl_emergency_calls",
            "Emergency calls routed, by location trust (R9)",
            ["location"],
            registry=r,
        )
        self.fraud_alerts = Counter(
            "callctl_fraud_alerts",
            "Fraud guard alerts, by kind (docs/security.md)",
            ["kind"],
            registry=r,
        )
        self.forgotten_calls = Counter(
            "callctl_calls_forgotten",
            "Routed calls whose hangup request never came, dropped once they must have ended",
            registry=r,
        )
        self.blocked_addresses = Gauge(
            "callctl_blocked_addresses",
            "Addresses blocked after repeated failed authentications",
            registry=r,
        )
        self.degraded_decisions = Counter(
            "callctl_degraded_decisions",
            "Route requests decided without the database, from the last known line",
            registry=r,
        )
        self.spooled_writes = Counter(
            "callctl_spooled", "Writes put in the durable spool (database down), by kind",
            ["kind"], registry=r,
        )  # fmt: skip
        self.drained_writes = Counter(
            "callctl_spool_drained", "Spooled writes committed to the database, by kind",
            ["kind"], registry=r,
        )  # fmt: skip
        self.rejected_writes = Counter(
            "callctl_spool_rejected", "Spooled writes moved aside after repeated failures",
            ["kind"], registry=r,
        )  # fmt: skip
        for kind in SPOOL_KINDS:
            self.spooled_writes.labels(kind)
            self.drained_writes.labels(kind)
            self.rejected_writes.labels(kind)
        self.bad_requests = 0
        for name in ALERT_KINDS:
            self.fraud_alerts.labels(name)
        for name in OUTCOMES:
            self.decisions.labels(name)
        for name in TRUST:
            self.emergency.labels(name)
        for kind in RECORD_KINDS:
            self.records.labels(kind)
            self.record_write_seconds.labels(kind)

    def watch(
        self,
        active_calls: Callable[[], int],
        agi_counters: Callable[[], AgiCounters],
        stream_clients: Callable[[], int] | None = None,
        stream_dropped: Callable[[], int] | None = None,
        spool_depth: Callable[[], int] | None = None,
    ) -> None:
        """Register the values read at scrape time: calls in progress, the FastAGI
        server's counters, the live stream's clients and the spool's depth."""
        r = self.registry
        if spool_depth is not None:
            Gauge(
                "callctl_spool_depth", "Writes waiting in the durable spool", registry=r
            ).set_function(lambda: float(spool_depth()))
        Gauge("callctl_active_calls", "Routed calls in progress", registry=r).set_function(
            lambda: float(active_calls())
        )
        r.register(_AgiCollector(agi_counters, lambda: self.bad_requests))
        if stream_clients is not None:
            Gauge(
                "callctl_stream_clients", "Clients connected to the live stream", registry=r
            ).set_function(lambda: float(stream_clients()))
        if stream_dropped is not None:
            r.register(_Total("callctl_stream_dropped_clients", "Slow stream clients dropped",
                              stream_dropped))  # fmt: skip

    def exposition(self) -> bytes:
        """The registry in Prometheus' text format."""
        return generate_latest(self.registry)

    # ------------------------------------------------------------------ Observer

    def decided(self, call: ActiveCall, seconds: float) -> None:
        decision = call.decision
        kind = outcome(decision)
        self.decisions.labels(kind).inc()
        self.decision_seconds.observe(seconds)
        if kind == "refuse":
            code = decision.refusal if decision.refusal in REFUSALS else "other"
            self.refusals.labels(code, str(decision.sip_code or "")).inc()
            if decision.alert is not None:
                self.fraud_alerts.labels(decision.alert).inc()
        elif kind == "emergency":
            self.emergency.labels(location_trust(decision)).inc()

    def cancelled(self, call: ActiveCall) -> None:
        self.decisions.labels("cancelled").inc()

    def forgotten(self, call: ActiveCall) -> None:
        self.forgotten_calls.inc()

    def recorded(self, records: Sequence[CallRecord], seconds: float, kind: str) -> None:
        self.records.labels(kind).inc(len(records))
        self.record_write_seconds.labels(kind).observe(seconds)

    def bad_request(self, script: str) -> None:
        self.bad_requests += 1

    def degraded(self, call: ActiveCall) -> None:
        self.degraded_decisions.inc()

    def spooled(self, kind: str) -> None:
        self.spooled_writes.labels(kind).inc()

    def drained(self, kind: str) -> None:
        self.drained_writes.labels(kind).inc()

    def spool_rejected(self, kind: str) -> None:
        self.rejected_writes.labels(kind).inc()

    def auth_alert(self, alert: AuthAlert) -> None:
        self.fraud_alerts.labels(alert.kind).inc()
        if alert.kind == AUTH_BLOCK:
            self.blocked_addresses.inc()
        elif alert.kind == AUTH_UNBLOCK:
            self.blocked_addresses.dec()


class _Total(Collector):
    """A counter whose value another object keeps."""

    def __init__(self, name: str, documentation: str, value: Callable[[], int]) -> None:
        self._name = name
        self._doc = documentation
        self._value = value

    def collect(self) -> Iterable[Metric]:
        yield CounterMetricFamily(self._name, self._doc, value=self._value())
