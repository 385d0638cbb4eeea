"""The executors (ports of driver/load/avalanche.ts, driver/load/tsunami.ts and
driver/load/arrival-rate.ts) and what they share with the run: the constants of
workload/defaults.ts, a driver's share of the fleet, and the context an executor runs in."""
from __future__ import annotations

import asyncio
import math
from dataclasses import dataclass
from typing import Awaitable, Callable

from google.protobuf.timestamp_pb2 import Timestamp

from .clock import now_ms, sleep_until
from .http import HttpFirer
from .recorder import IntervalRecorder
from .schedule import due_offsets_ms, first_index_from, rate_phases


# workload/defaults.ts
DEFAULT_REPORT_INTERVAL_MS = 1000
DEFAULT_REQUEST_TIMEOUT_MS = 10_000
LATE_START_MS = 50
HEARTBEAT_INTERVAL_MS = 1000
MISSED_HEARTBEATS_LIMIT = 3
# driver/load/executor.ts, driver/agent/run.ts, driver/load/arrival-rate.ts
LATE_AFTER_MS = 10
METRICS_RETRY_MS = 120_000
MAX_BUFFERED_METRICS = 10_000
CANCEL_DRAIN_MS = 1000
STALLED_AFTER_MS = HEARTBEAT_INTERVAL_MS * MISSED_HEARTBEATS_LIMIT
DEFAULT_ARRIVAL_MAX_IN_FLIGHT = 1000

INF = float("inf")


def timestamp_at(ms: float) -> Timestamp:
    """A Timestamp from fractional epoch ms, kept to the microsecond (metrics/stats.ts timestampAt)."""
    us = math.floor(ms * 1000 + 0.5)
    seconds = us // 1_000_000
    return Timestamp(seconds=seconds, nanos=(us - seconds * 1_000_000) * 1000)


def ms_of(t: Timestamp) -> float:
    return t.seconds * 1000 + math.floor(t.nanos / 1e3 + 0.5) / 1e3


@dataclass
class Share:
    """This driver's part of a fleet-wide schedule: request indexes = index (mod count) from since_ms."""

    index: int
    count: int
    since_ms: float
    version: int


@dataclass
class RunContext:
    firer: HttpFirer
    recorder: IntervalRecorder
    start_ms: float
    stop_at_ms: float
    aborted: asyncio.Event
    share: Share
    halt: Callable[[str], None]


Executor = Callable[[RunContext], Awaitable[None]]


def avalanche(spec) -> Executor:
    """Closed model: `concurrency` loops, each sending its next request as soon as the last ends."""

    async def run(ctx: RunContext) -> None:
        limit = spec.requests_per_driver if spec.WhichOneof("limit") == "requests_per_driver" else INF
        stop_at = min(ctx.start_ms + spec.duration_ms, ctx.stop_at_ms) if spec.WhichOneof("limit") == "duration_ms" else ctx.stop_at_ms
        issued = 0

        async def loop() -> None:
            nonlocal issued
            while issued < limit and not ctx.aborted.is_set() and now_ms() < stop_at and not ctx.firer.closed:
                issued += 1
                await ctx.firer.fire()

        loops = [asyncio.create_task(loop()) for _ in range(spec.concurrency)]
        # Return at the stop instant (or when cancelled) even while requests are still out: the
        # run drains them and aborts what a slow target still holds.
        await asyncio.wait(loops, timeout=None if stop_at == INF else max(0.0, stop_at - now_ms()) / 1000)

    return run


def tsunami(spec) -> Executor:
    """Fixed schedule: request k due at start + k*delay_ms; latency from the due time; a request
    the in-flight cap holds back is late; past the end, what the cap still holds is dropped."""

    async def run(ctx: RunContext) -> None:
        limit = spec.requests_per_driver if spec.WhichOneof("limit") == "requests_per_driver" else INF
        end_at = min(ctx.start_ms + spec.duration_ms, ctx.stop_at_ms) if spec.WhichOneof("limit") == "duration_ms" else ctx.stop_at_ms
        cap = spec.max_in_flight if spec.max_in_flight > 0 else INF
        k = 0
        while k < limit:
            due = ctx.start_ms + k * spec.delay_ms
            if due >= end_at:
                break
            await sleep_until(due)
            if ctx.aborted.is_set():
                break
            if ctx.firer.in_flight >= cap and not await ctx.firer.wait_for_slot(cap, end_at):
                if not ctx.aborted.is_set():
                    ctx.recorder.drop(int(min(limit, math.ceil((end_at - ctx.start_ms) / spec.delay_ms)) - k))
                break
            if ctx.aborted.is_set():
                break
            if now_ms() - due >= LATE_AFTER_MS:
                ctx.recorder.late_start()
            ctx.firer.fire(due)
            k += 1

    return run


def arrival_rate(spec) -> Executor:
    """Open model: this driver's share of the fleet's arrival schedule; a request due while
    max_in_flight are out is dropped. On a re-split the old share holds until its instant."""

    async def run(ctx: RunContext) -> None:
        cap = spec.max_in_flight if spec.max_in_flight > 0 else DEFAULT_ARRIVAL_MAX_IN_FLIGHT
        phases = rate_phases(spec)
        version = ctx.share.version
        offsets = due_offsets_ms(phases, ctx.share.index, ctx.share.count)
        while True:
            nxt = next(offsets, None)
            if ctx.share.version != version:
                share = ctx.share
                from_offset = share.since_ms - ctx.start_ms
                if share.index < 0 and (nxt is None or nxt >= from_offset):
                    break
                if share.index >= 0 and (nxt is None or nxt >= from_offset):
                    version = share.version
                    offsets = due_offsets_ms(phases, first_index_from(phases, from_offset, share.index, share.count), share.count)
                    nxt = next(offsets, None)
            if nxt is None:
                break
            due = ctx.start_ms + nxt
            if due >= ctx.stop_at_ms:
                break
            await sleep_until(due)
            if ctx.aborted.is_set():
                break
            behind = now_ms() - due
            if behind > STALLED_AFTER_MS:
                ctx.halt(
                    f"driver fell {round(behind)} ms behind its schedule (paused or starved), longer than the miss "
                    "window: it stopped its share, which the fleet may have re-split"
                )
                break
            if ctx.firer.in_flight >= cap:
                ctx.recorder.drop()
                continue
            if behind >= LATE_AFTER_MS:
                ctx.recorder.late_start()
            ctx.firer.fire(due)

    return run


def executor_for(spec) -> Executor:
    which = spec.WhichOneof("workload")
    if which == "avalanche":
        return avalanche(spec.avalanche)
    if which == "tsunami":
        return tsunami(spec.tsunami)
    if which == "arrival_rate":
        return arrival_rate(spec.arrival_rate)
    raise ValueError("test spec has no workload")

