import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from kannon.v1 import driver_pb2 as _driver_pb2
from kannon.v1 import scenario_pb2 as _scenario_pb2
from kannon.v1 import test_pb2 as _test_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TriggerAction(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TRIGGER_ACTION_UNSPECIFIED: _ClassVar[TriggerAction]
    TRIGGER_ACTION_START: _ClassVar[TriggerAction]
    TRIGGER_ACTION_CANCEL: _ClassVar[TriggerAction]
    TRIGGER_ACTION_RESHARE: _ClassVar[TriggerAction]
    TRIGGER_ACTION_REFUSE: _ClassVar[TriggerAction]
    TRIGGER_ACTION_CLOCK_PROBE: _ClassVar[TriggerAction]
TRIGGER_ACTION_UNSPECIFIED: TriggerAction
TRIGGER_ACTION_START: TriggerAction
TRIGGER_ACTION_CANCEL: TriggerAction
TRIGGER_ACTION_RESHARE: TriggerAction
TRIGGER_ACTION_REFUSE: TriggerAction
TRIGGER_ACTION_CLOCK_PROBE: TriggerAction

class RegisterMessage(_message.Message):
    __slots__ = ("driver_id", "host", "address", "version", "sent_at", "leaving", "instance_id")
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    LEAVING_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    driver_id: str
    host: str
    address: str
    version: str
    sent_at: _timestamp_pb2.Timestamp
    leaving: bool
    instance_id: str
    def __init__(self, driver_id: _Optional[str] = ..., host: _Optional[str] = ..., address: _Optional[str] = ..., version: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., leaving: _Optional[bool] = ..., instance_id: _Optional[str] = ...) -> None: ...

class HeartbeatMessage(_message.Message):
    __slots__ = ("driver_id", "sent_at", "state", "test_id", "instance_id", "probe_sent_at", "probe_received_at")
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    PROBE_SENT_AT_FIELD_NUMBER: _ClassVar[int]
    PROBE_RECEIVED_AT_FIELD_NUMBER: _ClassVar[int]
    driver_id: str
    sent_at: _timestamp_pb2.Timestamp
    state: _driver_pb2.DriverState
    test_id: str
    instance_id: str
    probe_sent_at: _timestamp_pb2.Timestamp
    probe_received_at: _timestamp_pb2.Timestamp
    def __init__(self, driver_id: _Optional[str] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[_driver_pb2.DriverState, str]] = ..., test_id: _Optional[str] = ..., instance_id: _Optional[str] = ..., probe_sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., probe_received_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class TestConfigMessage(_message.Message):
    __slots__ = ("test_id", "spec", "driver_ids", "attempt")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    SPEC_FIELD_NUMBER: _ClassVar[int]
    DRIVER_IDS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    spec: _test_pb2.TestSpec
    driver_ids: _containers.RepeatedScalarFieldContainer[str]
    attempt: int
    def __init__(self, test_id: _Optional[str] = ..., spec: _Optional[_Union[_test_pb2.TestSpec, _Mapping]] = ..., driver_ids: _Optional[_Iterable[str]] = ..., attempt: _Optional[int] = ...) -> None: ...

class TriggerMessage(_message.Message):
    __slots__ = ("test_id", "action", "start_at", "driver_ids", "instance_id", "reason", "attempt", "sent_at")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    START_AT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_IDS_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SENT_AT_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    action: TriggerAction
    start_at: _timestamp_pb2.Timestamp
    driver_ids: _containers.RepeatedScalarFieldContainer[str]
    instance_id: str
    reason: str
    attempt: int
    sent_at: _timestamp_pb2.Timestamp
    def __init__(self, test_id: _Optional[str] = ..., action: _Optional[_Union[TriggerAction, str]] = ..., start_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., driver_ids: _Optional[_Iterable[str]] = ..., instance_id: _Optional[str] = ..., reason: _Optional[str] = ..., attempt: _Optional[int] = ..., sent_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class MetricsMessage(_message.Message):
    __slots__ = ("test_id", "driver_id", "seq", "interval_start", "interval_end", "requests", "status_counts", "error_counts", "bytes_received", "latency_histogram", "service_time_histogram", "dropped", "late", "final", "start_skew_us", "error", "attempt", "failed_latency_histogram", "steps", "scenarios", "data_exhausted", "code_counts", "protocol_counts", "handshake_histogram", "first_message_histogram", "messages_received")
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
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_START_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_END_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIME_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    DROPPED_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    FINAL_FIELD_NUMBER: _ClassVar[int]
    START_SKEW_US_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    FAILED_LATENCY_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    SCENARIOS_FIELD_NUMBER: _ClassVar[int]
    DATA_EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_COUNTS_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKE_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    FIRST_MESSAGE_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    driver_id: str
    seq: int
    interval_start: _timestamp_pb2.Timestamp
    interval_end: _timestamp_pb2.Timestamp
    requests: int
    status_counts: _containers.ScalarMap[int, int]
    error_counts: _containers.ScalarMap[str, int]
    bytes_received: int
    latency_histogram: bytes
    service_time_histogram: bytes
    dropped: int
    late: int
    final: bool
    start_skew_us: int
    error: str
    attempt: int
    failed_latency_histogram: bytes
    steps: _containers.RepeatedCompositeFieldContainer[StepMetrics]
    scenarios: _containers.RepeatedCompositeFieldContainer[ScenarioMetrics]
    data_exhausted: _containers.RepeatedScalarFieldContainer[str]
    code_counts: _containers.ScalarMap[str, int]
    protocol_counts: _containers.ScalarMap[str, int]
    handshake_histogram: bytes
    first_message_histogram: bytes
    messages_received: int
    def __init__(self, test_id: _Optional[str] = ..., driver_id: _Optional[str] = ..., seq: _Optional[int] = ..., interval_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interval_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., requests: _Optional[int] = ..., status_counts: _Optional[_Mapping[int, int]] = ..., error_counts: _Optional[_Mapping[str, int]] = ..., bytes_received: _Optional[int] = ..., latency_histogram: _Optional[bytes] = ..., service_time_histogram: _Optional[bytes] = ..., dropped: _Optional[int] = ..., late: _Optional[int] = ..., final: _Optional[bool] = ..., start_skew_us: _Optional[int] = ..., error: _Optional[str] = ..., attempt: _Optional[int] = ..., failed_latency_histogram: _Optional[bytes] = ..., steps: _Optional[_Iterable[_Union[StepMetrics, _Mapping]]] = ..., scenarios: _Optional[_Iterable[_Union[ScenarioMetrics, _Mapping]]] = ..., data_exhausted: _Optional[_Iterable[str]] = ..., code_counts: _Optional[_Mapping[str, int]] = ..., protocol_counts: _Optional[_Mapping[str, int]] = ..., handshake_histogram: _Optional[bytes] = ..., first_message_histogram: _Optional[bytes] = ..., messages_received: _Optional[int] = ...) -> None: ...

class StepMetrics(_message.Message):
    __slots__ = ("step_index", "requests", "status_counts", "error_counts", "bytes_received", "latency_histogram", "failed_latency_histogram", "service_time_histogram", "checks", "capture_missing", "aborted_iterations", "code_counts", "first_message_histogram", "messages_received")
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
    STEP_INDEX_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    STATUS_COUNTS_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNTS_FIELD_NUMBER: _ClassVar[int]
    BYTES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    LATENCY_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    FAILED_LATENCY_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    SERVICE_TIME_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    CAPTURE_MISSING_FIELD_NUMBER: _ClassVar[int]
    ABORTED_ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    CODE_COUNTS_FIELD_NUMBER: _ClassVar[int]
    FIRST_MESSAGE_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    MESSAGES_RECEIVED_FIELD_NUMBER: _ClassVar[int]
    step_index: int
    requests: int
    status_counts: _containers.ScalarMap[int, int]
    error_counts: _containers.ScalarMap[str, int]
    bytes_received: int
    latency_histogram: bytes
    failed_latency_histogram: bytes
    service_time_histogram: bytes
    checks: _containers.RepeatedCompositeFieldContainer[_scenario_pb2.CheckCounts]
    capture_missing: int
    aborted_iterations: int
    code_counts: _containers.ScalarMap[str, int]
    first_message_histogram: bytes
    messages_received: int
    def __init__(self, step_index: _Optional[int] = ..., requests: _Optional[int] = ..., status_counts: _Optional[_Mapping[int, int]] = ..., error_counts: _Optional[_Mapping[str, int]] = ..., bytes_received: _Optional[int] = ..., latency_histogram: _Optional[bytes] = ..., failed_latency_histogram: _Optional[bytes] = ..., service_time_histogram: _Optional[bytes] = ..., checks: _Optional[_Iterable[_Union[_scenario_pb2.CheckCounts, _Mapping]]] = ..., capture_missing: _Optional[int] = ..., aborted_iterations: _Optional[int] = ..., code_counts: _Optional[_Mapping[str, int]] = ..., first_message_histogram: _Optional[bytes] = ..., messages_received: _Optional[int] = ...) -> None: ...

class ScenarioMetrics(_message.Message):
    __slots__ = ("scenario_index", "iterations", "aborted", "iteration_histogram")
    SCENARIO_INDEX_FIELD_NUMBER: _ClassVar[int]
    ITERATIONS_FIELD_NUMBER: _ClassVar[int]
    ABORTED_FIELD_NUMBER: _ClassVar[int]
    ITERATION_HISTOGRAM_FIELD_NUMBER: _ClassVar[int]
    scenario_index: int
    iterations: int
    aborted: int
    iteration_histogram: bytes
    def __init__(self, scenario_index: _Optional[int] = ..., iterations: _Optional[int] = ..., aborted: _Optional[int] = ..., iteration_histogram: _Optional[bytes] = ...) -> None: ...

class DataChunkMessage(_message.Message):
    __slots__ = ("test_id", "attempt", "driver_id", "file", "columns", "values", "rows", "seq", "total", "part_rows")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    FILE_FIELD_NUMBER: _ClassVar[int]
    COLUMNS_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    PART_ROWS_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    attempt: int
    driver_id: str
    file: str
    columns: _containers.RepeatedScalarFieldContainer[str]
    values: _containers.RepeatedScalarFieldContainer[str]
    rows: int
    seq: int
    total: int
    part_rows: int
    def __init__(self, test_id: _Optional[str] = ..., attempt: _Optional[int] = ..., driver_id: _Optional[str] = ..., file: _Optional[str] = ..., columns: _Optional[_Iterable[str]] = ..., values: _Optional[_Iterable[str]] = ..., rows: _Optional[int] = ..., seq: _Optional[int] = ..., total: _Optional[int] = ..., part_rows: _Optional[int] = ...) -> None: ...

class DataReadyMessage(_message.Message):
    __slots__ = ("test_id", "driver_id", "attempt", "rows", "error")
    class RowsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    driver_id: str
    attempt: int
    rows: _containers.ScalarMap[str, int]
    error: str
    def __init__(self, test_id: _Optional[str] = ..., driver_id: _Optional[str] = ..., attempt: _Optional[int] = ..., rows: _Optional[_Mapping[str, int]] = ..., error: _Optional[str] = ...) -> None: ...
