"""Sends requests to the target and records each outcome (port of driver/transport/http.ts, over aiohttp).

Every request is a task of its own (so that a cancel can abort what is still in flight after the
drain, counted as `aborted`); the whole exchange is bounded by the request timeout."""
from __future__ import annotations

import asyncio
import errno
import socket
from typing import List, Mapping, Optional, Set

import aiohttp

from .clock import now_ms
from .recorder import IntervalRecorder


def error_kind(err: BaseException) -> str:
    """The same error kinds as driver/transport/error-kind.ts."""
    if isinstance(err, asyncio.CancelledError):
        return "aborted"
    if isinstance(err, (asyncio.TimeoutError, TimeoutError, aiohttp.ServerTimeoutError)):
        return "timeout"
    dns_error = getattr(aiohttp, "ClientConnectorDNSError", None)
    if dns_error is not None and isinstance(err, dns_error):
        return "dns"
    if isinstance(err, aiohttp.ClientConnectorError):
        os_error = err.os_error
        if isinstance(os_error, socket.gaierror):
            return "dns"
        if isinstance(os_error, ConnectionRefusedError) or os_error.errno == errno.ECONNREFUSED:
            return "connect_refused"
        if isinstance(os_error, TimeoutError) or os_error.errno == errno.ETIMEDOUT:
            return "timeout"
        if isinstance(os_error, (ConnectionResetError, BrokenPipeError)):
            return "reset"
        return "other"
    if isinstance(err, (aiohttp.ServerDisconnectedError, aiohttp.ClientPayloadError, ConnectionResetError, BrokenPipeError)):
        return "reset"
    if isinstance(err, (aiohttp.ClientOSError, OSError)):
        code = getattr(err, "errno", None)
        if code in (errno.ECONNRESET, errno.EPIPE):
            return "reset"
        if code == errno.ECONNREFUSED:
            return "connect_refused"
        if code == errno.ETIMEDOUT:
            return "timeout"
    return "other"


class HttpFirer:
    """A connection pool to the target: `connections` connections (avalanche's concurrency), or
    unbounded (None: as many as requests in flight, like undici's Pool without a limit)."""

    def __init__(
        self,
        url: str,
        method: str,
        headers: Mapping[str, str],
        body: Optional[bytes],
        timeout_ms: int,
        recorder: IntervalRecorder,
        connections: Optional[int],
    ) -> None:
        self.url = url
        self.method = method
        self.headers = dict(headers)
        self.body = body
        self.recorder = recorder
        self.in_flight = 0
        self.closed = False
        self._exchanges: Set[asyncio.Task] = set()
        self._slot_waiters: List[asyncio.Future] = []
        self._idle = asyncio.Event()
        self._idle.set()
        connector = aiohttp.TCPConnector(limit=connections or 0, keepalive_timeout=30, ttl_dns_cache=60)
        self.session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=timeout_ms / 1000),
            # Bytes as they come over the wire, like the TypeScript driver.
            auto_decompress=False,
        )

    def fire(self, scheduled_ms: Optional[float] = None) -> "asyncio.Task[None]":
        """Starts one request (scheduled_ms: its scheduled start, epoch ms; else its send time);
        the returned task ends when the outcome is recorded and never raises."""
        self.in_flight += 1
        self._idle.clear()
        sent = now_ms()
        task = asyncio.create_task(self._exchange(scheduled_ms if scheduled_ms is not None else sent, sent))
        self._exchanges.add(task)
        task.add_done_callback(self._exchanges.discard)
        return task

    async def _exchange(self, scheduled: float, sent: float) -> None:
        try:
            async with self.session.request(self.method, self.url, headers=self.headers, data=self.body, allow_redirects=False) as resp:
                n = 0
                async for chunk in resp.content.iter_any():
                    n += len(chunk)
                status = resp.status
            self.recorder.response(status, n, scheduled, sent, now_ms())
        except asyncio.CancelledError:
            self.recorder.error("aborted", scheduled, sent, now_ms())
        except Exception as err:  # noqa: BLE001 - every failure is recorded by kind
            self.recorder.error(error_kind(err), scheduled, sent, now_ms())
        finally:
            self._settled()

    def _settled(self) -> None:
        self.in_flight -= 1
        while self._slot_waiters:
            w = self._slot_waiters.pop(0)
            if not w.done():
                w.set_result(True)
                break
        if self.in_flight == 0:
            self._idle.set()

    async def wait_for_slot(self, cap: int, deadline_ms: float) -> bool:
        """True once fewer than `cap` requests are in flight; False at deadline_ms (epoch)."""
        while self.in_flight >= cap:
            left = deadline_ms - now_ms()
            if left <= 0:
                return False
            fut = asyncio.get_running_loop().create_future()
            self._slot_waiters.append(fut)
            try:
                await asyncio.wait_for(fut, None if left == float("inf") else left / 1000)
            except asyncio.TimeoutError:
                return False
            finally:
                if fut in self._slot_waiters:
                    self._slot_waiters.remove(fut)
        return True

    async def drain(self, deadline_ms: float) -> bool:
        """True once nothing is in flight; False at deadline_ms (epoch)."""
        if self.in_flight == 0:
            return True
        try:
            await asyncio.wait_for(self._idle.wait(), max(0.0, deadline_ms - now_ms()) / 1000)
            return True
        except asyncio.TimeoutError:
            return self.in_flight == 0

    async def abort_all(self) -> None:
        """Aborts every request in flight (each is recorded as `aborted`)."""
        tasks = list(self._exchanges)
        for t in tasks:
            t.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=1)

    async def close(self) -> None:
        self.closed = True
        await self.abort_all()
        await self.session.close()
