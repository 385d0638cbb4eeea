"""One test on one driver (port of driver/agent/run.ts; the executors are in executors.py): waits
for the common start, runs the workload, and publishes an interval of metrics at every boundary
start_at + k*interval (seq = k) and a final message when it ends or is cancelled."""
from __future__ import annotations

import asyncio
import math
from typing import Awaitable, Callable, Dict, List, Optional

import kannon_gen  # noqa: F401  (puts the generated code on sys.path)
from kannon.v1 import bus_pb2, protocol_pb2, scenario_pb2

from .clock import now_ms, sleep_until, wait_for_instant
from .executors import (  # noqa: F401  (HEARTBEAT_INTERVAL_MS, ms_of, timestamp_at: driver.py imports them from here)
    CANCEL_DRAIN_MS,
    DEFAULT_REPORT_INTERVAL_MS,
    DEFAULT_REQUEST_TIMEOUT_MS,
    HEARTBEAT_INTERVAL_MS,
    INF,
    LATE_START_MS,
    MAX_BUFFERED_METRICS,
    METRICS_RETRY_MS,
    RunContext,
    Share,
    executor_for,
    ms_of,
    timestamp_at,
)
from .http import HttpFirer
from .recorder import IntervalRecorder, SampleTap, Snapshot
from .scenario import DataTable, ScenarioRecorder, compile_scenarios, parts_of
from .scenario_firer import ScenarioFirer

def protocol_problems(spec) -> List[str]:
    """What of issue 23 this driver does not do, by field: RPCs (Connect, gRPC, gRPC-Web), HTTP/2 and
    TLS options. It speaks HTTP/1.1 with aiohttp, and https:// with the system's CAs only."""
    problems: List[str] = []
    ts_only = "run this test on TypeScript drivers"
    if spec.HasField("rpc"):
        problems.append(f"spec.rpc: the Python driver does not send RPCs (Connect, gRPC, gRPC-Web); {ts_only}")
    for i, sc in enumerate(spec.scenarios):
        for j, step in enumerate(sc.steps):
            if step.HasField("rpc"):
                problems.append(f"spec.scenarios[{i}].steps[{j}].rpc: the Python driver does not send RPCs (Connect, gRPC, gRPC-Web); {ts_only}")
    if spec.HasField("http"):
        if spec.http.version == protocol_pb2.HTTP_VERSION_2:
            problems.append(f"spec.http.version: the Python driver speaks HTTP/1.1 only, not HTTP_VERSION_2; {ts_only}")
        if spec.http.HasField("tls") and spec.http.tls.ListFields():
            problems.append(
                "spec.http.tls: the Python driver has no TLS options (CA, client certificate, servername, insecure, "
                f"handshake per request; it verifies https:// targets with the system's CAs); {ts_only}"
            )
    return problems


class TestRun:
    """One test on this driver. `publish` sends one MetricsMessage (awaited, in order)."""

    def __init__(
        self,
        test_id: str,
        driver_id: str,
        spec,
        driver_index: int,
        driver_count: int,
        publish: Callable[[bus_pb2.MetricsMessage], Awaitable[None]],
        log: Callable[[str], None],
        tap: Optional[SampleTap] = None,
        flush_samples: Optional[Callable[[], None]] = None,
        data: Optional[Dict[str, DataTable]] = None,
    ) -> None:
        self.test_id = test_id
        self.driver_id = driver_id
        self.spec = spec
        self.publish = publish
        self.log = log
        self.flush_samples = flush_samples
        self.interval_ms = spec.report_interval_ms or DEFAULT_REPORT_INTERVAL_MS
        self.timeout_ms = spec.request_timeout_ms or DEFAULT_REQUEST_TIMEOUT_MS
        unsupported = protocol_problems(spec)
        if unsupported:
            raise ValueError("the Python driver cannot run this test: " + "; ".join(unsupported))
        self.executor = executor_for(spec)
        scheduled = spec.WhichOneof("workload") != "avalanche"
        self.scenarios = []
        if len(spec.scenarios) > 0:
            # Compiled here, at arming: what this driver cannot run is refused before the start, by field.
            self.cursors = parts_of(spec, data)
            self.scenarios, problems = compile_scenarios(
                spec, lambda name: set(self.cursors[name].table.columns) if name in self.cursors else None
            )
            if problems:
                raise ValueError("the Python driver cannot run the test's scenarios: " + "; ".join(f"{f}: {p}" for f, p in problems))
            shape = [[c.name for c in step.checks] for sc in spec.scenarios for step in sc.steps]
            self.recorder = ScenarioRecorder(scheduled, shape, len(spec.scenarios), tap)
        elif len(spec.data_files) > 0:
            raise ValueError("spec.data_files is set but spec.scenarios is empty: nothing reads the data files")
        else:
            self.recorder = IntervalRecorder(scheduled, tap)
        if spec.WhichOneof("workload") == "avalanche" and getattr(spec.avalanche, "pipelining", 0) > 1:
            # aiohttp has no HTTP/1.1 pipelining: the same requests, over `concurrency` connections.
            log(f"driver {driver_id}: test {test_id}: pipelining {spec.avalanche.pipelining} is not supported by the Python driver; using {spec.avalanche.concurrency} connections")
        self.share = Share(driver_index, driver_count, 0.0, 0)
        self.seq = 0
        # The run's firer once made (the final message reads what a scenario firer saw run out).
        self._firer: Optional[HttpFirer] = None
        self.skew_us = 0
        self.stop_reason = ""
        self.started = False
        self.abandoned = False
        self.aborted = asyncio.Event()
        self.undelivered = 0
        self._queue: "asyncio.Queue[Optional[bus_pb2.MetricsMessage]]" = asyncio.Queue()
        self._buffered = 0
        self._waiting: Optional[asyncio.Task] = None
        self._executor_task: Optional[asyncio.Task] = None

    def reshare(self, driver_ids: List[str], since_ms: float) -> bool:
        """Takes a new share from since_ms on; False when this driver is not among driver_ids."""
        if self.driver_id not in driver_ids:
            self.share = Share(-1, 0, since_ms, self.share.version + 1)
            self.stop_reason = self.stop_reason or (
                f"driver {self.driver_id} was re-split out of the schedule (declared lost) and stopped its share"
            )
            return False
        self.share = Share(driver_ids.index(self.driver_id), len(driver_ids), since_ms, self.share.version + 1)
        return True

    def cancel(self, reason: str = "") -> None:
        """Stops as soon as possible; the final message carries `reason` as its error when set."""
        self.stop_reason = self.stop_reason or reason
        self.aborted.set()
        for t in (self._waiting, self._executor_task):
            if t is not None and not t.done():
                t.cancel()

    def abandon(self) -> None:
        self.abandoned = True

    async def run(self, start_at_ms: float) -> None:
        """Runs from start_at_ms to the end; never raises."""
        spec = self.spec
        firer: Optional[HttpFirer] = None
        boundary: Optional[asyncio.Task] = None
        worker = asyncio.create_task(self._deliver_all())
        try:
            connections = spec.avalanche.concurrency if spec.WhichOneof("workload") == "avalanche" else None
            firer = ScenarioFirer(
                self.scenarios, self.cursors, spec.target_url, self.driver_id, self.timeout_ms, self.recorder, connections, self._data_ended
            ) if self.scenarios else HttpFirer(
                spec.target_url,
                (spec.method or "GET").upper(),
                spec.headers,
                bytes(spec.body) if spec.body else None,
                self.timeout_ms,
                self.recorder,
                connections,
            )
            self._firer = firer
            self._waiting = asyncio.create_task(wait_for_instant(start_at_ms))
            await asyncio.wait([self._waiting])
            started_ms = now_ms()
            self.skew_us = int(math.floor((started_ms - start_at_ms) * 1000 + 0.5))
            if self.aborted.is_set():
                self._publish_final(start_at_ms, self.stop_reason)
                return
            self.started = True
            share = self.share
            share.since_ms = start_at_ms
            boundary = asyncio.create_task(self._boundaries(start_at_ms))
            stop_at = start_at_ms + spec.max_duration_ms if spec.max_duration_ms > 0 else INF
            ctx = RunContext(
                firer=firer,
                recorder=self.recorder,
                # A late driver runs its whole schedule from its own start rather than bursting.
                start_ms=started_ms if started_ms - start_at_ms > LATE_START_MS else start_at_ms,
                stop_at_ms=stop_at,
                aborted=self.aborted,
                share=share,
                halt=self._halt,
            )
            # ctx.share must follow reshare(): give the executor a view that reads self.share.
            run_ctx = _LiveShareContext(ctx, self)
            self._executor_task = asyncio.create_task(self.executor(run_ctx))
            await asyncio.wait([self._executor_task])
            t = self._executor_task
            if not t.cancelled() and t.exception() is not None:
                raise t.exception()
            drain_for = CANCEL_DRAIN_MS if self.aborted.is_set() else self.timeout_ms + 1000
            if not await firer.drain(now_ms() + drain_for):
                # Still in flight: abort now so they are counted (as `aborted`) in the final message.
                await firer.abort_all()
                await firer.drain(now_ms() + 100)
            boundary.cancel()
            self._publish_final(start_at_ms, self.stop_reason)
        except Exception as err:  # noqa: BLE001
            if boundary is not None:
                boundary.cancel()
            self.log(f"driver {self.driver_id}: test {self.test_id} failed: {err!r}")
            self._publish_final(start_at_ms, f"driver {self.driver_id} failed: {err}")
        finally:
            self.recorder.closed = True
            if firer is not None:
                try:
                    await firer.close()
                except Exception:  # noqa: BLE001
                    pass
            self._queue.put_nowait(None)
            await worker

    def _data_ended(self) -> None:
        """No scenario can start an iteration any more (its rows ran out with ON_EXHAUSTED_STOP):
        the workload ends as asked, without an error."""
        t = self._executor_task
        if t is not None and not t.done():
            t.cancel()

    def _halt(self, reason: str) -> None:
        self.stop_reason = self.stop_reason or f"driver {self.driver_id}: {reason}"

    async def _boundaries(self, start_at_ms: float) -> None:
        while True:
            await sleep_until(start_at_ms + (self.seq + 1) * self.interval_ms)
            self._publish_snapshot(self.recorder.take(), start_at_ms, False, "")
            # If the loop fell behind by whole intervals, skip to the interval we are in.
            self.seq = max(self.seq + 1, math.floor((now_ms() - start_at_ms) / self.interval_ms))

    def _publish_final(self, start_at_ms: float, error: str) -> None:
        self._publish_snapshot(self.recorder.take(), start_at_ms, True, error)

    def _publish_snapshot(self, s: Snapshot, start_at_ms: float, final: bool, error: str) -> None:
        if self.flush_samples is not None:
            self.flush_samples()
        if not final and self._buffered >= MAX_BUFFERED_METRICS:
            self.undelivered += 1
            self.log(f"driver {self.driver_id}: {self._buffered} metrics messages wait for the data plane; interval {self.seq} of test {self.test_id} is dropped")
            return
        if final and self.undelivered > 0:
            error = "; ".join(x for x in [error, f"driver {self.driver_id} could not deliver {self.undelivered} interval(s) of metrics (data plane unreachable)"] if x)
        seq = self.seq
        start_ms = start_at_ms + seq * self.interval_ms
        end_ms = max(start_ms, now_ms()) if final else start_ms + self.interval_ms
        m = bus_pb2.MetricsMessage(
            test_id=self.test_id,
            driver_id=self.driver_id,
            seq=seq,
            interval_start=timestamp_at(start_ms),
            interval_end=timestamp_at(end_ms),
            **_request_fields(s),
            dropped=s.dropped,
            late=s.late,
            # Every response (each has a status) came over HTTP/1.1, as the TypeScript drivers count it.
            protocol_counts=_http11(s),
            final=final,
            start_skew_us=self.skew_us,
            error=error,
            data_exhausted=sorted(self._firer.exhausted) if final and isinstance(self._firer, ScenarioFirer) else [],
        )
        for st in s.steps or []:
            m.steps.add(
                step_index=st.step_index,
                **_request_fields(st.counts),
                checks=[scenario_pb2.CheckCounts(name=n, passed=a, failed=b) for n, a, b in st.checks],
                capture_missing=st.capture_missing,
                aborted_iterations=st.aborted_iterations,
            )
        for sc in s.scenarios or []:
            m.scenarios.add(scenario_index=sc.scenario_index, iterations=sc.iterations, aborted=sc.aborted, iteration_histogram=sc.iteration_histogram)
        self._buffered += 1
        self._queue.put_nowait(m)

    async def _deliver_all(self) -> None:
        while True:
            m = await self._queue.get()
            if m is None:
                return
            try:
                await self._deliver(m)
            finally:
                self._buffered -= 1

    async def _deliver(self, m: bus_pb2.MetricsMessage) -> None:
        """Publishes one message, retrying with backoff for up to METRICS_RETRY_MS (the
        orchestrator applies each (driver_id, seq) at most once, so a retry is safe)."""
        give_up_at = now_ms() + METRICS_RETRY_MS
        backoff = 500
        while True:
            try:
                await self.publish(m)
                return
            except Exception as err:  # noqa: BLE001
                last = now_ms() + backoff > give_up_at
                self.log(
                    f"driver {self.driver_id}: could not publish metrics seq {m.seq} of test {self.test_id}: {err!r}"
                    + ("; giving up: this interval is lost" if last else f"; trying again in {backoff} ms")
                )
                if last:
                    self.undelivered += 1
                if last or self.abandoned:
                    return
                await asyncio.sleep(backoff / 1000)
                backoff = min(backoff * 2, 10_000)


def _http11(s: Snapshot) -> Dict[str, int]:
    responses = sum(s.status_counts.values())
    return {"http/1.1": responses} if responses > 0 else {}


def _request_fields(s: Snapshot) -> dict:
    """The request counters and histograms of a snapshot, as a metrics message (or one of its steps) holds them."""
    return dict(
        requests=s.requests,
        status_counts=s.status_counts,
        error_counts=s.error_counts,
        bytes_received=s.bytes_received,
        latency_histogram=s.latency_histogram,
        service_time_histogram=s.service_time_histogram,
        failed_latency_histogram=s.failed_latency_histogram,
    )


class _LiveShareContext:
    """The RunContext an executor sees, whose `share` is always the run's current one."""

    def __init__(self, ctx: RunContext, run: TestRun) -> None:
        self._ctx = ctx
        self._run = run

    def __getattr__(self, name):
        return getattr(self._ctx, name)

    @property
    def share(self) -> Share:
        return self._run.share
