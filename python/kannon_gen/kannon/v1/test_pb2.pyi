import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from kannon.v1 import protocol_pb2 as _protocol_pb2
from kannon.v1 import scenario_pb2 as _scenario_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TestState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TEST_STATE_UNSPECIFIED: _ClassVar[TestState]
    TEST_STATE_CREATED: _ClassVar[TestState]
    TEST_STATE_STARTING: _ClassVar[TestState]
    TEST_STATE_RUNNING: _ClassVar[TestState]
    TEST_STATE_COMPLETED: _ClassVar[TestState]
    TEST_STATE_CANCELLED: _ClassVar[TestState]
    TEST_STATE_FAILED: _ClassVar[TestState]

class Verdict(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERDICT_UNSPECIFIED: _ClassVar[Verdict]
    VERDICT_PASSING: _ClassVar[Verdict]
    VERDICT_FAILING: _ClassVar[Verdict]
TEST_STATE_UNSPECIFIED: TestState
TEST_STATE_CREATED: TestState
TEST_STATE_STARTING: TestState
TEST_STATE_RUNNING: TestState
TEST_STATE_COMPLETED: TestState
TEST_STATE_CANCELLED: TestState
TEST_STATE_FAILED: TestState
VERDICT_UNSPECIFIED: Verdict
VERDICT_PASSING: Verdict
VERDICT_FAILING: Verdict

class TestSpec(_message.Message):
    __slots__ = ("name", "target_url", "method", "headers", "body", "driver_count", "report_interval_ms", "request_timeout_ms", "max_duration_ms", "start_delay_ms", "max_error_rate", "scenarios", "data_files", "thresholds", "abort_on_fail", "http", "rpc", "rpc_schema", "avalanche", "tsunami", "arrival_rate")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_URL_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    DRIVER_COUNT_FIELD_NUMBER: _ClassVar[int]
    REPORT_INTERVAL_MS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    START_DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    DATA_FILES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    ABORT_ON_FAIL_FIELD_NUMBER: _ClassVar[int]
    HTTP_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    RPC_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    AVALANCHE_FIELD_NUMBER: _ClassVar[int]
    TSUNAMI_FIELD_NUMBER: _ClassVar[int]
    ARRIVAL_RATE_FIELD_NUMBER: _ClassVar[int]
    name: str
    target_url: str
    method: str
    headers: _containers.ScalarMap[str, str]
    body: bytes
    driver_count: int
    report_interval_ms: int
    request_timeout_ms: int
    max_duration_ms: int
    start_delay_ms: int
    max_error_rate: float
    scenarios: _containers.RepeatedCompositeFieldContainer[_scenario_pb2.Scenario]
    data_files: _containers.RepeatedCompositeFieldContainer[_scenario_pb2.DataFile]
    thresholds: _containers.RepeatedScalarFieldContainer[str]
    abort_on_fail: bool
    http: _protocol_pb2.HttpOptions
    rpc: _protocol_pb2.Rpc
    rpc_schema: _protocol_pb2.RpcSchema
    avalanche: Avalanche
    tsunami: Tsunami
    arrival_rate: ArrivalRate
    def __init__(self, name: _Optional[str] = ..., target_url: _Optional[str] = ..., method: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[bytes] = ..., driver_count: _Optional[int] = ..., report_interval_ms: _Optional[int] = ..., request_timeout_ms: _Optional[int] = ..., max_duration_ms: _Optional[int] = ..., start_delay_ms: _Optional[int] = ..., max_error_rate: _Optional[float] = ..., scenarios: _Optional[_Iterable[_Union[_scenario_pb2.Scenario, _Mapping]]] = ..., data_files: _Optional[_Iterable[_Union[_scenario_pb2.DataFile, _Mapping]]] = ..., thresholds: _Optional[_Iterable[str]] = ..., abort_on_fail: _Optional[bool] = ..., http: _Optional[_Union[_protocol_pb2.HttpOptions, _Mapping]] = ..., rpc: _Optional[_Union[_protocol_pb2.Rpc, _Mapping]] = ..., rpc_schema: _Optional[_Union[_protocol_pb2.RpcSchema, _Mapping]] = ..., avalanche: _Optional[_Union[Avalanche, _Mapping]] = ..., tsunami: _Optional[_Union[Tsunami, _Mapping]] = ..., arrival_rate: _Optional[_Union[ArrivalRate, _Mapping]] = ...) -> None: ...

class Avalanche(_message.Message):
    __slots__ = ("concurrency", "requests_per_driver", "duration_ms", "pipelining")
    CONCURRENCY_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DRIVER_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    PIPELINING_FIELD_NUMBER: _ClassVar[int]
    concurrency: int
    requests_per_driver: int
    duration_ms: int
    pipelining: int
    def __init__(self, concurrency: _Optional[int] = ..., requests_per_driver: _Optional[int] = ..., duration_ms: _Optional[int] = ..., pipelining: _Optional[int] = ...) -> None: ...

class Tsunami(_message.Message):
    __slots__ = ("delay_ms", "requests_per_driver", "duration_ms", "max_in_flight")
    DELAY_MS_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_PER_DRIVER_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    delay_ms: int
    requests_per_driver: int
    duration_ms: int
    max_in_flight: int
    def __init__(self, delay_ms: _Optional[int] = ..., requests_per_driver: _Optional[int] = ..., duration_ms: _Optional[int] = ..., max_in_flight: _Optional[int] = ...) -> None: ...

class ArrivalRate(_message.Message):
    __slots__ = ("rate_per_s", "duration_ms", "stages", "max_in_flight")
    RATE_PER_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    STAGES_FIELD_NUMBER: _ClassVar[int]
    MAX_IN_FLIGHT_FIELD_NUMBER: _ClassVar[int]
    rate_per_s: float
    duration_ms: int
    stages: _containers.RepeatedCompositeFieldContainer[Stage]
    max_in_flight: int
    def __init__(self, rate_per_s: _Optional[float] = ..., duration_ms: _Optional[int] = ..., stages: _Optional[_Iterable[_Union[Stage, _Mapping]]] = ..., max_in_flight: _Optional[int] = ...) -> None: ...

class Stage(_message.Message):
    __slots__ = ("target_rate_per_s", "duration_ms")
    TARGET_RATE_PER_S_FIELD_NUMBER: _ClassVar[int]
    DURATION_MS_FIELD_NUMBER: _ClassVar[int]
    target_rate_per_s: float
    duration_ms: int
    def __init__(self, target_rate_per_s: _Optional[float] = ..., duration_ms: _Optional[int] = ...) -> None: ...

class Test(_message.Message):
    __slots__ = ("id", "spec", "state", "created_at", "start_at", "ended_at", "driver_ids", "partial", "message", "cancel_requested", "start_attempt", "outcome")
    ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    ENDED_AT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_IDS_FIELD_NUMBER: _ClassVar[int]
    PARTIAL_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_REQUESTED_FIELD_NUMBER: _ClassVar[int]
    START_ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    id: str
    spec: TestSpec
    state: TestState
    created_at: _timestamp_pb2.Timestamp
    start_at: _timestamp_pb2.Timestamp
    ended_at: _timestamp_pb2.Timestamp
    driver_ids: _containers.RepeatedScalarFieldContainer[str]
    partial: bool
    message: str
    cancel_requested: bool
    start_attempt: int
    outcome: Outcome
    def __init__(self, id: _Optional[str] = ..., spec: _Optional[_Union[TestSpec, _Mapping]] = ..., state: _Optional[_Union[TestState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., ended_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., driver_ids: _Optional[_Iterable[str]] = ..., partial: _Optional[bool] = ..., message: _Optional[str] = ..., cancel_requested: _Optional[bool] = ..., start_attempt: _Optional[int] = ..., outcome: _Optional[_Union[Outcome, _Mapping]] = ...) -> None: ...

class Outcome(_message.Message):
    __slots__ = ("verdict", "reasons", "error_rate", "requests", "failed", "thresholds")
    VERDICT_FIELD_NUMBER: _ClassVar[int]
    REASONS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    THRESHOLDS_FIELD_NUMBER: _ClassVar[int]
    verdict: Verdict
    reasons: _containers.RepeatedScalarFieldContainer[str]
    error_rate: float
    requests: int
    failed: int
    thresholds: _containers.RepeatedCompositeFieldContainer[ThresholdResult]
    def __init__(self, verdict: _Optional[_Union[Verdict, str]] = ..., reasons: _Optional[_Iterable[str]] = ..., error_rate: _Optional[float] = ..., requests: _Optional[int] = ..., failed: _Optional[int] = ..., thresholds: _Optional[_Iterable[_Union[ThresholdResult, _Mapping]]] = ...) -> None: ...

class ThresholdResult(_message.Message):
    __slots__ = ("threshold", "passed", "measured", "unit", "limit", "breached_live", "window_ms", "window_from_ms", "window_to_ms")
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    MEASURED_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    BREACHED_LIVE_FIELD_NUMBER: _ClassVar[int]
    WINDOW_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_FROM_MS_FIELD_NUMBER: _ClassVar[int]
    WINDOW_TO_MS_FIELD_NUMBER: _ClassVar[int]
    threshold: str
    passed: bool
    measured: float
    unit: str
    limit: float
    breached_live: bool
    window_ms: int
    window_from_ms: int
    window_to_ms: int
    def __init__(self, threshold: _Optional[str] = ..., passed: _Optional[bool] = ..., measured: _Optional[float] = ..., unit: _Optional[str] = ..., limit: _Optional[float] = ..., breached_live: _Optional[bool] = ..., window_ms: _Optional[int] = ..., window_from_ms: _Optional[int] = ..., window_to_ms: _Optional[int] = ...) -> None: ...
