"""One interval of a run's measurements (port of driver/load/recorder.ts + metrics/histogram.ts):
HDR histograms in microseconds (1 .. 3_600_000_000, 3 significant digits) and counters. A failed
request (a transport error, or an HTTP status outside 100..399: metrics/outcome.ts isFailedStatus)
has its latency in a histogram of its own, out of the response-time ones."""
from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field
from typing import Callable, Dict, Optional

from hdrh.histogram import HdrHistogram

HIGHEST_TRACKABLE_US = 3_600_000_000
SIGNIFICANT_DIGITS = 3


def is_failed_status(status: int) -> bool:
    """The rule for a failed response, as metrics/outcome.ts isFailedStatus: outside 100..399."""
    return status < 100 or status >= 400


def new_histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_TRACKABLE_US, SIGNIFICANT_DIGITS)


def clamp_us(us: float) -> int:
    """What is recorded for a time in microseconds: clamped, rounded half up (JS Math.round)."""
    if us < 1:
        return 1
    if us > HIGHEST_TRACKABLE_US:
        return HIGHEST_TRACKABLE_US
    return int(math.floor(us + 0.5))


def encode_histogram(h: HdrHistogram) -> bytes:
    """The standard compressed (V2) HdrHistogram encoding as bytes; empty histogram: empty bytes."""
    if h.get_total_count() == 0:
        return b""
    return base64.b64decode(h.encode())


def decode_histogram(data: bytes) -> HdrHistogram:
    if not data:
        return new_histogram()
    return HdrHistogram.decode(base64.b64encode(data))


@dataclass
class Snapshot:
    requests: int
    status_counts: Dict[int, int]
    error_counts: Dict[str, int]
    bytes_received: int
    dropped: int
    late: int
    latency_histogram: bytes
    service_time_histogram: bytes
    failed_latency_histogram: bytes = b""
    # Scenario tests only (scenario.py ScenarioRecorder): the interval's StepSnapshot and ScenarioSnapshot lists.
    steps: Optional[list] = None
    scenarios: Optional[list] = None


SampleTap = Callable[[int, int], None]


@dataclass
class IntervalRecorder:
    """`scheduled` workloads (tsunami, arrival rate) measure latency from each request's scheduled
    start and keep the service time (from the actual send) apart; avalanche measures from the send."""

    scheduled: bool
    tap: Optional[SampleTap] = None
    closed: bool = False
    latency: HdrHistogram = field(default_factory=new_histogram)
    service: HdrHistogram = field(default_factory=new_histogram)
    failed: HdrHistogram = field(default_factory=new_histogram)
    requests: int = 0
    bytes: int = 0
    dropped: int = 0
    late: int = 0
    status_counts: Dict[int, int] = field(default_factory=dict)
    error_counts: Dict[str, int] = field(default_factory=dict)

    def response(self, status: int, nbytes: int, scheduled_ms: float, sent_ms: float, end_ms: float) -> None:
        if self.closed:
            return
        self.requests += 1
        self.bytes += nbytes
        self.status_counts[status] = self.status_counts.get(status, 0) + 1
        self._time(is_failed_status(status), scheduled_ms, sent_ms, end_ms)

    def error(self, kind: str, scheduled_ms: float, sent_ms: float, end_ms: float) -> None:
        if self.closed:
            return
        self.requests += 1
        self.error_counts[kind] = self.error_counts.get(kind, 0) + 1
        self._time(True, scheduled_ms, sent_ms, end_ms)

    def drop(self, count: int = 1) -> None:
        if not self.closed:
            self.dropped += count

    def late_start(self) -> None:
        if not self.closed:
            self.late += 1

    def _time(self, failed: bool, scheduled_ms: float, sent_ms: float, end_ms: float) -> None:
        service_us = clamp_us((end_ms - sent_ms) * 1000)
        latency_us = clamp_us((end_ms - scheduled_ms) * 1000) if self.scheduled else service_us
        if failed:
            self.failed.record_value(latency_us)
        else:
            self.latency.record_value(latency_us)
            if self.scheduled:
                self.service.record_value(service_us)
        if self.tap is not None:
            self.tap(latency_us, service_us)

    def take(self) -> Snapshot:
        s = Snapshot(
            requests=self.requests,
            status_counts=self.status_counts,
            error_counts=self.error_counts,
            bytes_received=self.bytes,
            dropped=self.dropped,
            late=self.late,
            latency_histogram=encode_histogram(self.latency),
            service_time_histogram=encode_histogram(self.service) if self.scheduled else b"",
            failed_latency_histogram=encode_histogram(self.failed),
        )
        self.latency = new_histogram()
        self.service = new_histogram()
        self.failed = new_histogram()
        self.requests = self.bytes = self.dropped = self.late = 0
        self.status_counts = {}
        self.error_counts = {}
        return s
