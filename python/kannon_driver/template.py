"""Smooth weighted round-robin and step templates (ports of scenario/weighted.ts and
scenario/template.ts): the same pick sequence and the same rendering as the TypeScript driver,
held to proto/testdata/scenarios.json by python/tests/test_scenario_vectors.py."""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable, List, Mapping, Optional, Sequence, Set, Tuple, Union


class SmoothWeighted:
    """nginx's smooth weighted round-robin: per pick add each weight to its score, take the highest
    (the first on a tie; weight 0 never), subtract the total from it."""

    def __init__(self, weights: Sequence[int]) -> None:
        for i, w in enumerate(weights):
            if not isinstance(w, int) or w < 0:
                raise ValueError(f"weight {i} must be a non-negative integer, got {w}")
        self.total = sum(weights)
        if self.total == 0:
            raise ValueError("at least one weight must be above 0")
        self.weights = list(weights)
        self.current = [0] * len(weights)

    def next(self) -> int:
        best = -1
        for i, w in enumerate(self.weights):
            if w == 0:
                continue
            self.current[i] += w
            if best < 0 or self.current[i] > self.current[best]:
                best = i
        self.current[best] -= self.total
        return best


BUILT_IN_NAMES = frozenset(["uuid", "randInt", "driverId", "iteration", "nowMs", "row"])
VAR_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_INT = re.compile(r"-?(0|[1-9][0-9]*)\Z")
_SAFE = 2**53 - 1

# A slot: ("row", column) ("var", name) ("uuid",) ("randInt", min, max) ("driverId",) ("iteration",) ("nowMs",)
Slot = Tuple


@dataclass
class Template:
    literals: List[str]
    slots: List[Slot]

    @property
    def constant(self) -> bool:
        return not self.slots


@dataclass
class TemplateScope:
    columns: Optional[Set[str]]
    vars: Set[str]


def compile_template(text: str, field: str, scope: TemplateScope) -> Union[Template, List[Tuple[str, str]]]:
    """The template, or every problem as (field, problem) with its character position."""
    literals: List[str] = []
    slots: List[Slot] = []
    problems: List[Tuple[str, str]] = []
    start = 0
    while True:
        open_at = text.find("{{", start)
        if open_at < 0:
            break
        close = text.find("}}", open_at + 2)
        if close < 0:
            problems.append((field, f'"{{{{" at character {open_at} is never closed by "}}}}"'))
            break
        literals.append(text[start:open_at])
        inner = text[open_at + 2 : close].strip()
        slot = _slot_of(inner, scope)
        if isinstance(slot, str):
            problems.append((field, f"{{{{{inner}}}}} at character {open_at}: {slot}"))
        else:
            slots.append(slot)
        start = close + 2
    literals.append(text[start:])
    return problems if problems else Template(literals, slots)


def _slot_of(inner: str, scope: TemplateScope) -> Union[Slot, str]:
    words = re.split(r"\s+", inner)
    head = words[0]
    if head == "randInt":
        if len(words) != 3 or not _INT.match(words[1]) or not _INT.match(words[2]):
            return "randInt takes two integers: {{randInt 1 100}}"
        lo, hi = int(words[1]), int(words[2])
        if abs(lo) > _SAFE or abs(hi) > _SAFE:
            return "randInt bounds must be safe integers (at most 2^53 - 1)"
        if lo > hi:
            return f"randInt's first bound must not exceed its second ({lo} > {hi})"
        return ("randInt", lo, hi)
    if len(words) != 1 or head == "":
        return "a slot holds one name (or randInt A B)"
    if head in ("uuid", "driverId", "iteration", "nowMs"):
        return (head,)
    if head.startswith("row."):
        column = head[4:]
        if scope.columns is None:
            return "the scenario has no data_file, so there is no row"
        if column not in scope.columns:
            return f'the data file has no column "{column}"'
        return ("row", column)
    if not VAR_NAME.match(head):
        return f'"{head}" is not a name'
    if head not in scope.vars:
        return f'unknown name "{head}": not a built-in (uuid, randInt, driverId, iteration, nowMs), row.COLUMN, or a capture of an earlier step'
    return ("var", head)


@dataclass
class RenderContext:
    row: Optional[Mapping[str, str]]
    vars: Mapping[str, str]
    driver_id: str
    iteration: int
    now_ms: Callable[[], int]
    uuid: Callable[[], str]
    rand_int: Callable[[int, int], int]


def render_template(t: Template, ctx: RenderContext) -> str:
    """The template's text for one request (a missing capture renders as the empty string)."""
    out = [t.literals[0]]
    for i, s in enumerate(t.slots):
        out.append(_slot_value(s, ctx))
        out.append(t.literals[i + 1])
    return "".join(out)


def _slot_value(s: Slot, ctx: RenderContext) -> str:
    kind = s[0]
    if kind == "row":
        return (ctx.row or {}).get(s[1], "")
    if kind == "var":
        return ctx.vars.get(s[1], "")
    if kind == "uuid":
        return ctx.uuid()
    if kind == "randInt":
        return str(ctx.rand_int(s[1], s[2]))
    if kind == "driverId":
        return ctx.driver_id
    if kind == "iteration":
        return str(ctx.iteration)
    return str(ctx.now_ms())
