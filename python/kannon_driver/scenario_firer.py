"""Runs a scenario test's iterations where the executors fire requests (port of
driver/scenario/scenario-transport.ts and iteration.ts): a "request" of the executors is an
iteration. Each picks a scenario by smooth weighted round-robin, takes a row of its data file, and
runs its steps in order over aiohttp: templates rendered, checks and captures on each response,
think time between steps (and, in the closed model, before the loop's next iteration) counted in
no latency. `in_flight` counts iterations, so max_in_flight caps iterations and `dropped` counts
iterations. The first step of an open-model iteration counts from its scheduled start, later steps
from their own send."""
from __future__ import annotations

import asyncio
import math
import random
import uuid
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union
from urllib.parse import urlsplit

import aiohttp
from yarl import URL

from .clock import now_ms
from .http import HttpFirer, error_kind
from .response import ResponseView
from .scenario import CompiledScenario, CompiledStep, DataCursor, ScenarioRecorder, row_record
from .template import RenderContext, SmoothWeighted, render_template

# The error kind of a step whose rendered URL is not an http(s) URL (nothing was sent).
INVALID_URL = "invalid_url"

# (ok, status or error kind, headers, body, bytes, sent_ms, end_ms)
Outcome = Tuple[bool, Union[int, str], Mapping[str, Union[str, List[str]]], bytes, int, float, float]


class ScenarioFirer(HttpFirer):
    """HttpFirer's pool, slots and drain, firing iterations instead of one request."""

    def __init__(
        self,
        scenarios: Sequence[CompiledScenario],
        cursors: Mapping[str, DataCursor],
        target_url: str,
        driver_id: str,
        timeout_ms: int,
        recorder: ScenarioRecorder,
        connections: Optional[int],
        ended: Callable[[], None],
    ) -> None:
        super().__init__(target_url, "GET", {}, None, timeout_ms, recorder.total, connections)
        self.scenarios = scenarios
        self.cursors = cursors
        t = urlsplit(target_url)
        self.base = f"{t.scheme}://{t.netloc}"
        self.driver_id = driver_id
        self.srec = recorder
        self.ended = ended
        self.weights = [s.weight for s in scenarios]
        self.picker = SmoothWeighted(self.weights)
        self.next_iteration = 0
        self.over = False
        # Data files whose rows ran out here (on_exhausted STOP): the final message's data_exhausted.
        self.exhausted: set = set()
        self._wake = asyncio.Event()

    def fire(self, scheduled_ms: Optional[float] = None) -> "asyncio.Task[None]":
        it = None if self.closed or self.over else self._start()
        if it is None:
            return asyncio.create_task(asyncio.sleep(0))
        self.in_flight += 1
        self._idle.clear()
        task = asyncio.create_task(self._run(it, scheduled_ms))
        self._exchanges.add(task)
        task.add_done_callback(self._exchanges.discard)
        return task

    def _start(self) -> Optional[Tuple[CompiledScenario, Optional[Dict[str, str]], int]]:
        while not self.over:
            scenario = self.scenarios[self.picker.next()]
            row = None
            if scenario.data_file is not None:
                cursor = self.cursors[scenario.data_file]
                values = cursor.next()
                if values is None:
                    self._exhausted(scenario.data_file)
                    continue
                row = row_record(cursor.table.columns, values)
            n = self.next_iteration
            self.next_iteration += 1
            return scenario, row, n
        return None

    def _exhausted(self, file: str) -> None:
        self.exhausted.add(file)
        for s in self.scenarios:
            if s.data_file == file:
                self.weights[s.index] = 0
        if all(w == 0 for w in self.weights):
            self.over = True
            self.closed = True  # the closed model's loops stop starting iterations
            self.ended()
        else:
            self.picker = SmoothWeighted(self.weights)

    async def _sleep(self, ms: float) -> None:
        if self._wake.is_set():
            return
        try:
            await asyncio.wait_for(self._wake.wait(), ms / 1000)
        except asyncio.TimeoutError:
            pass

    async def _run(self, it, scheduled_ms: Optional[float]) -> None:
        pause = 0
        try:
            pause = await self._iteration(it, scheduled_ms)
        finally:
            self._settled()
        # The closed model takes the last step's pause before its loop's next iteration.
        if scheduled_ms is None and pause > 0 and not self._wake.is_set():
            await self._sleep(pause)

    async def _iteration(self, it, scheduled_ms: Optional[float]) -> int:
        scenario, row, iteration = it
        variables: Dict[str, str] = {}
        ctx = RenderContext(row, variables, self.driver_id, iteration, lambda: math.floor(now_ms()), lambda: str(uuid.uuid4()), random.randint)
        active_ms = 0.0
        aborted_at: Optional[int] = None
        pause = 0
        ran = 0
        for j, step in enumerate(scenario.steps):
            if pause > 0:
                await self._sleep(pause)
            if self._wake.is_set():
                break
            outcome = await self._send(step, ctx)
            ran += 1
            from_ms = scheduled_ms if j == 0 and scheduled_ms is not None else outcome[5]
            active_ms += outcome[6] - from_ms
            pause = _think_ms(step)
            if not self._record(step, outcome, from_ms, variables):
                aborted_at = step.index
                break
            if outcome[1] == "aborted":
                break
        if ran > 0:
            self.srec.iteration(scenario.index, active_ms, aborted_at)
        return 0 if self._wake.is_set() else pause

    async def _send(self, step: CompiledStep, ctx: RenderContext) -> Outcome:
        text = render_template(step.url, ctx)
        url = self._resolve(text)
        if url is None:
            t = now_ms()
            return (False, INVALID_URL, {}, b"", 0, t, t)
        headers = {name: render_template(t, ctx) for name, t in step.headers}
        body = render_template(step.body, ctx).encode("utf-8") if step.body is not None else None
        sent = now_ms()
        try:
            async with self.session.request(step.method, url, headers=headers, data=body, skip_auto_headers=("Content-Type",), allow_redirects=False) as resp:
                data = await resp.read()
                status = resp.status
                got: Dict[str, Union[str, List[str]]] = {}
                for k, v in resp.headers.items():
                    k = k.lower()
                    prev = got.get(k)
                    got[k] = v if prev is None else (prev + [v] if isinstance(prev, list) else [prev, v])
            return (True, status, got, data, len(data), sent, now_ms())
        except asyncio.CancelledError:
            return (False, "aborted", {}, b"", 0, sent, now_ms())
        except Exception as err:  # noqa: BLE001 - every failure is recorded by kind
            return (False, error_kind(err), {}, b"", 0, sent, now_ms())

    def _resolve(self, text: str) -> Optional[URL]:
        """A path (`/…`) is on the target's origin; otherwise an absolute http(s) URL, or None."""
        try:
            url = URL(self.base + text if text.startswith("/") else text)
        except (ValueError, TypeError):
            return None
        return url if url.scheme in ("http", "https") and url.host else None

    def _record(self, step: CompiledStep, o: Outcome, from_ms: float, variables: Dict[str, str]) -> bool:
        """Records one step, runs its checks and captures; False when the iteration ends here."""
        ok, what, headers, body, nbytes, sent, end = o
        rec = self.srec
        if not ok:
            rec.error(step.index, str(what), from_ms, sent, end)
            for name, _ in step.captures:
                variables.pop(name, None)
                rec.capture_missing(step.index)
            return not (step.abort_on_fail or (step.abort_on_capture_missing and len(step.captures) > 0))
        rec.response(step.index, int(what), nbytes, from_ms, sent, end)
        if not step.checks and not step.captures:
            return True
        view = ResponseView(int(what), headers, body, end - from_ms)
        failed = False
        for k, (_, test) in enumerate(step.checks):
            passed = bool(test(view))
            rec.check(step.index, k, passed)
            failed = failed or not passed
        missing = False
        for name, take in step.captures:
            value = take(view)
            if value is None:
                variables.pop(name, None)
                rec.capture_missing(step.index)
                missing = True
            else:
                variables[name] = value
        return not ((failed and step.abort_on_fail) or (missing and step.abort_on_capture_missing))

    async def abort_all(self) -> None:
        self._wake.set()
        await super().abort_all()


def _think_ms(step: CompiledStep) -> int:
    if step.think is None:
        return 0
    lo, hi = step.think
    return lo if lo == hi else random.randint(lo, hi)
