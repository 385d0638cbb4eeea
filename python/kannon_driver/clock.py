"""Wall-clock epoch milliseconds with sub-millisecond resolution, monotonic within the process
(like driver/clock.ts: an epoch anchor taken once plus a monotonic clock). Waits are cancelled by
cancelling the task that waits."""
from __future__ import annotations

import asyncio
import time

_ANCHOR_NS = time.time_ns() - time.monotonic_ns()


def now_ms() -> float:
    return (time.monotonic_ns() + _ANCHOR_NS) / 1e6


async def sleep_until(at_ms: float) -> None:
    """Returns at epoch time at_ms, never before it (at once if it has passed)."""
    while True:
        wait = at_ms - now_ms()
        if wait <= 0:
            return
        await asyncio.sleep(min(wait, 3_600_000) / 1000)


async def wait_for_instant(at_ms: float) -> None:
    """Waits precisely for at_ms: a timer until ~2 ms before, then a short spin (the fleet's common
    start is hit within a fraction of a millisecond when the event loop is free)."""
    await sleep_until(at_ms - 2)
    while now_ms() < at_ms:
        pass
