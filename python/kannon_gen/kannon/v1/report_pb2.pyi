import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from kannon.v1 import driver_pb2 as _driver_pb2
from kannon.v1 import scenario_pb2 as _scenario_pb2
from kannon.v1 import test_pb2 as _test_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class LatencyStats(_message.Message):
    __slots__ = ("count", "min_us", "mean_us", "stdev_us", "p50_us", "p90_us", "p95_us", "p99_us", "p999_us", "max_us", "histogram")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    MIN_US_FIELD_NUMBER: _ClassVar[int]
    MEAN_US_FIELD_NUMBER: _ClassVar[int]
    STDEV_US_FIELD_NUMBER: _ClassVar[int]
    P50_US_FIELD_NUMBER: _ClassVar[int]
    P90_US_FIELD_NUMBER: _ClassVar[int]
    P95_US_FIELD_NUMBER: _ClassVar[int]
    P99_US_FIELD_NUMBER: _ClassVar[int]
    P999_US_FIELD_NUMBER: _ClassVar[int]
    MAX_US_FIELD_NUMBER: _ClassVar[int]
    HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    count: int
    min_us: int
    mean_us: float
    stdev_us: float
    p50_us: int
    p90_us: int
    p95_us: int
    p99_us: int
    p999_us: int
    max_us: int
    histogram: bytes
    def __init__(self, count: _Optional[int] = ..., min_us: _Optional[int] = ..., mean_us: _Optional[float] = ..., stdev_us: _Optional[float] = ..., p50_us: _Optional[int] = ..., p90_us: _Optional[int] = ..., p95_us: _Optional[int] = ..., p99_us: _Optional[int] = ..., p999_us: _Optional[int] = ..., max_us: _Optional[int] = ..., histogram: _Optional[bytes] = ...) -> None: ...

class Stats(_message.Message):
    __slots__ = ("start", "end", "requests", "requests_per_s", "errors", "status_counts", "error_counts", "bytes_received", "dropped", "late", "latency", "service_time", "interval", "failed_latency", "steps", "scenarios", "code_counts", "protocol_counts", "handshake", "first_message", "messages_received", "messages_per_s")
    class StatusCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: int
        value: int
        def __init__(self, key: _Optional[int] = ..., value: _Optional[int] = ...) -> None: ...
    class ErrorCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class CodeCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    class ProtocolCountsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    START_FIELD_NUMBER: _ClassVar[int]
    END_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    STATUS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    FAILED_LATENCY_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKE_FIELD_NUMBER: _ClassVar[int]
    FIRST_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_PER_S_FIELD_NUMBER: _ClassVar[int]
    start: _timestamp_pb2.Timestamp
    end: _timestamp_pb2.Timestamp
    requests: int
    requests_per_s: float
    errors: int
    status_counts: _containers.ScalarMap[int, int]
    error_counts: _containers.ScalarMap[str, int]
    bytes_received: int
    dropped: int
    late: int
    latency: LatencyStats
    service_time: LatencyStats
    interval: int
    failed_latency: LatencyStats
    steps: _containers.RepeatedCompositeFieldContainer[StepStats]
    scenarios: _containers.RepeatedCompositeFieldContainer[ScenarioStats]
    code_counts: _containers.ScalarMap[str, int]
    protocol_counts: _containers.ScalarMap[str, int]
    handshake: LatencyStats
    first_message: LatencyStats
    messages_received: int
    messages_per_s: float
    def __init__(self, start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[int] = ..., requests_per_s: _Optional[float] = ..., errors: _Optional[int] = ..., status_counts: _Optional[_Mapping[int, int]] = ..., error_counts: _Optional[_Mapping[str, int]] = ..., bytes_received: _Optional[int] = ..., dropped: _Optional[int] = ..., late: _Optional[int] = ..., latency: _Optional[_Union[LatencyStats, _Mapping]] = ..., service_time: _Optional[_Union[LatencyStats, _Mapping]] = ..., interval: _Optional[int] = ..., failed_latency: _Optional[_Union[LatencyStats, _Mapping]] = ..., steps: _Optional[_Iterable[_Union[StepStats, _Mapping]]] = ..., scenarios: _Optional[_Iterable[_Union[ScenarioStats, _Mapping]]] = ..., code_counts: _Optional[_Mapping[str, int]] = ..., protocol_counts: _Optional[_Mapping[str, int]] = ..., handshake: _Optional[_Union[LatencyStats, _Mapping]] = ..., first_message: _Optional[_Union[LatencyStats, _Mapping]] = ..., messages_received: _Optional[int] = ..., messages_per_s: _Optional[float] = ...) -> None: ...

class StepStats(_message.Message):
    __slots__ = ("step_index", "scenario", "step", "stats", "checks", "capture_missing", "aborted_iterations")
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    STEP_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_MISSING_FIELD_NUMBER: _ClassVar[int]
    ABORTED_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    step_index: int
    scenario: str
    step: str
    stats: Stats
    checks: _containers.RepeatedCompositeFieldContainer[_scenario_pb2.CheckCounts]
    capture_missing: int
    aborted_iterations: int
    def __init__(self, step_index: _Optional[int] = ..., scenario: _Optional[str] = ..., step: _Optional[str] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., checks: _Optional[_Iterable[_Union[_scenario_pb2.CheckCounts, _Mapping]]] = ..., capture_missing: _Optional[int] = ..., aborted_iterations: _Optional[int] = ...) -> None: ...

class ScenarioStats(_message.Message):
    __slots__ = ("scenario_index", "scenario", "iterations", "aborted", "iterations_per_s", "iteration_duration")
    SCENARIO_INDEX_FIELD_NUMBER: _ClassVar[int]
    SCENARIO_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    ABORTED_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_PER_S_FIELD_NUMBER: _ClassVar[int]
    ITERATION_DURATION_FIELD_NUMBER: _ClassVar[int]
    scenario_index: int
    scenario: str
    iterations: int
    aborted: int
    iterations_per_s: float
    iteration_duration: LatencyStats
    def __init__(self, scenario_index: _Optional[int] = ..., scenario: _Optional[str] = ..., iterations: _Optional[int] = ..., aborted: _Optional[int] = ..., iterations_per_s: _Optional[float] = ..., iteration_duration: _Optional[_Union[LatencyStats, _Mapping]] = ...) -> None: ...

class IntervalRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class DriverReport(_message.Message):
    __slots__ = ("driver_id", "stats", "start_skew_us", "late_start", "finished", "message", "covered_intervals", "clock", "data_exhausted")
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    START_SKEW_US_FIELD_NUMBER: _ClassVar[int]
    LATE_START_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    COVERED_INTERVALS_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    DATA_EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    driver_id: str
    stats: Stats
    start_skew_us: int
    late_start: bool
    finished: bool
    message: str
    covered_intervals: _containers.RepeatedCompositeFieldContainer[IntervalRange]
    clock: _driver_pb2.ClockOffset
    data_exhausted: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, driver_id: _Optional[str] = ..., stats: _Optional[_Union[Stats, _Mapping]] = ..., start_skew_us: _Optional[int] = ..., late_start: _Optional[bool] = ..., finished: _Optional[bool] = ..., message: _Optional[str] = ..., covered_intervals: _Optional[_Iterable[_Union[IntervalRange, _Mapping]]] = ..., clock: _Optional[_Union[_driver_pb2.ClockOffset, _Mapping]] = ..., data_exhausted: _Optional[_Iterable[str]] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("test_id", "state", "partial", "message", "start_at", "ended_at", "total", "drivers", "intervals", "fleet_start_skew_us", "spec", "interval_step", "interval_count", "outcome")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    FLEET_START_SKEW_US_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_STEP_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    state: _test_pb2.TestState
    partial: bool
    message: str
    start_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    total: Stats
    drivers: _containers.RepeatedCompositeFieldContainer[DriverReport]
    intervals: _containers.RepeatedCompositeFieldContainer[Stats]
    fleet_start_skew_us: int
    spec: _test_pb2.TestSpec
    interval_step: int
    interval_count: int
    outcome: _test_pb2.Outcome
    def __init__(self, test_id: _Optional[str] = ..., state: _Optional[_Union[_test_pb2.TestState, str]] = ..., partial: _Optional[bool] = ..., message: _Optional[str] = ..., start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., total: _Optional[_Union[Stats, _Mapping]] = ..., drivers: _Optional[_Iterable[_Union[DriverReport, _Mapping]]] = ..., intervals: _Optional[_Iterable[_Union[Stats, _Mapping]]] = ..., fleet_start_skew_us: _Optional[int] = ..., spec: _Optional[_Union[_test_pb2.TestSpec, _Mapping]] = ..., interval_step: _Optional[int] = ..., interval_count: _Optional[int] = ..., outcome: _Optional[_Union[_test_pb2.Outcome, _Mapping]] = ...) -> None: ...
