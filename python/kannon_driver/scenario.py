"""A scenario test's scenarios compiled once per run (port of scenario/compile.ts), the rows of
its data files handed out one per iteration (scenario/data-cursor.ts), and its recorder
(driver/scenario/scenario-recorder.ts): the totals, every step's own numbers and every scenario's
iterations, as the TypeScript driver fills MetricsMessage.steps and .scenarios."""
from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Set, Tuple

import kannon_gen  # noqa: F401
from kannon.v1 import scenario_pb2

from .recorder import IntervalRecorder, Snapshot, clamp_us, encode_histogram, new_histogram
from .response import Capture, Check, compile_capture, compile_check
from .template import BUILT_IN_NAMES, VAR_NAME, Template, TemplateScope, compile_template

_URL_START = re.compile(r"(https?://|/|\{\{)")
_EMPTY = Template([""], [])


@dataclass
class CompiledStep:
    index: int
    scenario_index: int
    name: str
    method: str
    url: Template
    headers: List[Tuple[str, Template]]
    body: Optional[Template]
    checks: List[Tuple[str, Check]]
    captures: List[Tuple[str, Capture]]
    think: Optional[Tuple[int, int]]
    abort_on_fail: bool
    abort_on_capture_missing: bool


@dataclass
class CompiledScenario:
    index: int
    name: str
    weight: int
    data_file: Optional[str]
    steps: List[CompiledStep]


def compile_scenarios(spec, columns_of: Callable[[str], Optional[Set[str]]]) -> Tuple[List[CompiledScenario], List[Tuple[str, str]]]:
    """The spec's scenarios, and every problem as (field, problem)."""
    problems: List[Tuple[str, str]] = []
    scenarios: List[CompiledScenario] = []
    if all(s.weight == 0 for s in spec.scenarios):
        problems.append(("spec.scenarios", "every weight is 0: at least one scenario must have a weight above 0"))
    first = 0
    for i, s in enumerate(spec.scenarios):
        at = f"spec.scenarios[{i}]"
        columns: Optional[Set[str]] = None
        if s.data_file:
            columns = columns_of(s.data_file)
            if columns is None:
                problems.append((f"{at}.data_file", f'names no data file this driver holds: "{s.data_file}"'))
                columns = set()
        if not s.steps:
            problems.append((f"{at}.steps", "needs at least one step"))
        variables: Set[str] = set()
        steps = [_compile_step(step, first + j, i, f"{at}.steps[{j}]", columns, variables, problems) for j, step in enumerate(s.steps)]
        first += len(steps)
        scenarios.append(CompiledScenario(i, s.name, s.weight, s.data_file or None, steps))
    return scenarios, problems


def _compile_step(step, index: int, scenario_index: int, st: str, columns, variables: Set[str], problems) -> CompiledStep:
    scope = TemplateScope(columns, set(variables))

    def template(text: str, f: str) -> Template:
        r = compile_template(text, f, scope)
        if isinstance(r, list):
            problems.extend(r)
            return _EMPTY
        return r

    if not _URL_START.match(step.url):
        problems.append((f"{st}.url", f'must be an absolute http(s) URL or a path starting with "/", got "{step.url[:80]}"'))
    url = template(step.url, f"{st}.url")
    headers = [(name, template(value, f'{st}.headers["{name}"]')) for name, value in step.headers.items()]
    body = template(step.body, f"{st}.body") if step.body else None
    checks = []
    for k, c in enumerate(step.checks):
        test = compile_check(c, f"{st}.checks[{k}]", problems)
        if test is not None:
            checks.append((c.name, test))
    captures = []
    for k, c in enumerate(step.captures):
        if not VAR_NAME.match(c.name) or c.name in BUILT_IN_NAMES:
            problems.append((f"{st}.captures[{k}].name", f'"{c.name}" is not a capture name'))
        take = compile_capture(c, f"{st}.captures[{k}]", problems)
        if take is not None:
            captures.append((c.name, take))
        variables.add(c.name)
    kind = step.think_time.WhichOneof("kind") if step.HasField("think_time") else None
    think = (
        (step.think_time.constant_ms, step.think_time.constant_ms)
        if kind == "constant_ms"
        else (step.think_time.uniform.min_ms, step.think_time.uniform.max_ms) if kind == "uniform" else None
    )
    return CompiledStep(
        index,
        scenario_index,
        step.name,
        step.method.upper() or "GET",
        url,
        headers,
        body,
        checks,
        captures,
        think,
        step.abort_iteration_on_fail,
        step.on_capture_missing == scenario_pb2.CAPTURE_MISSING_ABORT_ITERATION,
    )


@dataclass
class DataTable:
    """One driver's part of a data file: its columns, and its rows (one value per column)."""

    columns: List[str]
    rows: List[List[str]]


class DataCursor:
    """The rows of one part in the file's order: SEQUENTIAL, SHUFFLE (a new permutation per pass),
    RANDOM (never runs out); with ON_EXHAUSTED_STOP a single pass."""

    def __init__(self, table: DataTable, order: int, on_exhausted: int, rnd: Callable[[], float] = random.random) -> None:
        self.table = table
        self.order = scenario_pb2.DATA_ORDER_SEQUENTIAL if order == scenario_pb2.DATA_ORDER_UNSPECIFIED else order
        self.stop = on_exhausted == scenario_pb2.ON_EXHAUSTED_STOP and self.order != scenario_pb2.DATA_ORDER_RANDOM
        self.random = rnd
        self.position = 0
        self.permutation: List[int] = []
        self.taken = 0

    @property
    def exhausted(self) -> bool:
        n = len(self.table.rows)
        return n == 0 or (self.stop and self.position >= n)

    def next(self) -> Optional[List[str]]:
        rows = self.table.rows
        n = len(rows)
        if self.exhausted:
            return None
        self.taken += 1
        if self.order == scenario_pb2.DATA_ORDER_RANDOM:
            return rows[int(self.random() * n)]
        if self.position >= n:
            self.position = 0
        at = self.position
        self.position += 1
        if self.order == scenario_pb2.DATA_ORDER_SEQUENTIAL:
            return rows[at]
        if at == 0:
            p = list(range(n))
            for i in range(n - 1, 0, -1):
                j = int(self.random() * (i + 1))
                p[i], p[j] = p[j], p[i]
            self.permutation = p
        return rows[self.permutation[at]]


# -- the recorder ----------------------------------------------------------------------------------


@dataclass
class StepSnapshot:
    step_index: int
    counts: Snapshot
    checks: List[Tuple[str, int, int]]
    capture_missing: int
    aborted_iterations: int


@dataclass
class ScenarioSnapshot:
    scenario_index: int
    iterations: int
    aborted: int
    iteration_histogram: bytes


@dataclass
class _StepCounts:
    recorder: IntervalRecorder
    names: List[str]
    passed: List[int] = field(default_factory=list)
    failed: List[int] = field(default_factory=list)
    capture_missing: int = 0
    aborted: int = 0

    def __post_init__(self) -> None:
        self.passed = [0] * len(self.names)
        self.failed = [0] * len(self.names)

    def take(self, index: int) -> Optional[StepSnapshot]:
        counts = self.recorder.take()
        if counts.requests == 0 and self.capture_missing == 0 and self.aborted == 0:
            return None
        s = StepSnapshot(index, counts, list(zip(self.names, self.passed, self.failed)), self.capture_missing, self.aborted)
        self.passed = [0] * len(self.names)
        self.failed = [0] * len(self.names)
        self.capture_missing = self.aborted = 0
        return s


class ScenarioRecorder:
    """The totals (an IntervalRecorder, where the executors count dropped and late iterations),
    every step's numbers and every scenario's iterations with their duration histogram."""

    def __init__(self, scheduled: bool, steps: Sequence[Sequence[str]], scenarios: int, tap=None) -> None:
        self.total = IntervalRecorder(scheduled, tap)
        self.steps = [_StepCounts(IntervalRecorder(scheduled), list(names)) for names in steps]
        self.iterations = [0] * scenarios
        self.aborted_iterations = [0] * scenarios
        self.durations = [new_histogram() for _ in range(scenarios)]
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    @closed.setter
    def closed(self, value: bool) -> None:
        self._closed = value
        self.total.closed = value
        for s in self.steps:
            s.recorder.closed = value

    def drop(self, count: int = 1) -> None:
        self.total.drop(count)

    def late_start(self) -> None:
        self.total.late_start()

    def response(self, step: int, status: int, nbytes: int, scheduled_ms: float, sent_ms: float, end_ms: float) -> None:
        self.total.response(status, nbytes, scheduled_ms, sent_ms, end_ms)
        self.steps[step].recorder.response(status, nbytes, scheduled_ms, sent_ms, end_ms)

    def error(self, step: int, kind: str, scheduled_ms: float, sent_ms: float, end_ms: float) -> None:
        self.total.error(kind, scheduled_ms, sent_ms, end_ms)
        self.steps[step].recorder.error(kind, scheduled_ms, sent_ms, end_ms)

    def check(self, step: int, check: int, passed: bool) -> None:
        if not self._closed:
            (self.steps[step].passed if passed else self.steps[step].failed)[check] += 1

    def capture_missing(self, step: int) -> None:
        if not self._closed:
            self.steps[step].capture_missing += 1

    def iteration(self, scenario: int, duration_ms: float, aborted_at: Optional[int]) -> None:
        if self._closed:
            return
        self.iterations[scenario] += 1
        self.durations[scenario].record_value(clamp_us(duration_ms * 1000))
        if aborted_at is not None:
            self.aborted_iterations[scenario] += 1
            self.steps[aborted_at].aborted += 1

    def take(self) -> Snapshot:
        s = self.total.take()
        s.steps = [x for x in (c.take(i) for i, c in enumerate(self.steps)) if x is not None]
        s.scenarios = []
        for i, n in enumerate(self.iterations):
            if n == 0:
                continue
            s.scenarios.append(ScenarioSnapshot(i, n, self.aborted_iterations[i], encode_histogram(self.durations[i])))
            self.iterations[i] = self.aborted_iterations[i] = 0
            self.durations[i] = new_histogram()
        return s


def row_record(columns: Sequence[str], values: Sequence[str]) -> Dict[str, str]:
    return dict(zip(columns, values))


def parts_of(spec, delivered: Optional[Mapping[str, DataTable]]) -> Dict[str, DataCursor]:
    """A cursor over this driver's part of each data file; raises naming a file it does not hold."""
    cursors: Dict[str, DataCursor] = {}
    for i, f in enumerate(spec.data_files):
        part = (delivered or {}).get(f.name)
        if part is None:
            raise ValueError(f'spec.data_files[{i}] ("{f.name}"): this driver did not receive its part of the file over the bus topic `data`')
        cursors[f.name] = DataCursor(part, f.order, f.on_exhausted)
    return cursors
