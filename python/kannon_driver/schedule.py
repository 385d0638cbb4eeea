"""Arrival-rate schedule: a line-by-line port of workload/schedule.ts (same floats, same indexes)."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterator, List


@dataclass
class RatePhase:
    from_per_s: float
    to_per_s: float
    duration_ms: float


def rate_phases(spec) -> List[RatePhase]:
    """The phases of an ArrivalRate spec: the constant first phase, then each stage's ramp."""
    phases: List[RatePhase] = []
    if spec.duration_ms > 0:
        phases.append(RatePhase(spec.rate_per_s, spec.rate_per_s, spec.duration_ms))
    rate = spec.rate_per_s
    for stage in spec.stages:
        phases.append(RatePhase(rate, stage.target_rate_per_s, stage.duration_ms))
        rate = stage.target_rate_per_s
    return phases


def phases_duration_ms(phases: List[RatePhase]) -> float:
    return sum(p.duration_ms for p in phases)


def due_offsets_ms(phases: List[RatePhase], first: int, step: int) -> Iterator[float]:
    """Due offsets (ms from the start) of fleet-wide requests j = first, first+step, ...; request j
    is due when the integral of the rate reaches j. Driver i of n takes j = i (mod n)."""
    phase_start_ms = 0.0
    phase_start_count = 0.0
    j = first
    for p in phases:
        seconds = p.duration_ms / 1000
        count = ((p.from_per_s + p.to_per_s) / 2) * seconds
        accel = (p.to_per_s - p.from_per_s) / (2 * seconds) if seconds > 0 else 0.0
        while j < phase_start_count + count - 1e-9:
            n = j - phase_start_count
            t = 0.0 if n == 0 else (2 * n) / (p.from_per_s + math.sqrt(p.from_per_s * p.from_per_s + 4 * accel * n))
            yield phase_start_ms + t * 1000
            j += step
        phase_start_ms += p.duration_ms
        phase_start_count += count


def count_before(phases: List[RatePhase], offset_ms: float) -> float:
    """How many requests of the fleet's schedule are due before offset_ms (a real number)."""
    count = 0.0
    start_ms = 0.0
    for p in phases:
        seconds = p.duration_ms / 1000
        t = min(max(offset_ms - start_ms, 0.0), p.duration_ms) / 1000
        accel = (p.to_per_s - p.from_per_s) / (2 * seconds) if seconds > 0 else 0.0
        count += p.from_per_s * t + accel * t * t
        start_ms += p.duration_ms
        if offset_ms <= start_ms:
            break
    return count


def first_index_from(phases: List[RatePhase], offset_ms: float, index: int, count: int) -> int:
    """The first fleet-wide request index at or after offset_ms that belongs to share index of count."""
    j0 = math.ceil(count_before(phases, offset_ms) - 1e-9)
    return j0 + (((index - j0) % count) + count) % count
