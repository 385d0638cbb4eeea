from kannon.v1 import protocol_pb2 as _protocol_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaptureMissing(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    CAPTURE_MISSING_UNSPECIFIED: _ClassVar[CaptureMissing]
    CAPTURE_MISSING_CONTINUE: _ClassVar[CaptureMissing]
    CAPTURE_MISSING_ABORT_ITERATION: _ClassVar[CaptureMissing]

class JsonPathOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    JSON_PATH_OP_UNSPECIFIED: _ClassVar[JsonPathOp]
    JSON_PATH_OP_EXISTS: _ClassVar[JsonPathOp]
    JSON_PATH_OP_EQUALS: _ClassVar[JsonPathOp]
    JSON_PATH_OP_NOT_EQUALS: _ClassVar[JsonPathOp]
    JSON_PATH_OP_LESS: _ClassVar[JsonPathOp]
    JSON_PATH_OP_GREATER: _ClassVar[JsonPathOp]
    JSON_PATH_OP_MATCHES: _ClassVar[JsonPathOp]

class HeaderOp(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HEADER_OP_UNSPECIFIED: _ClassVar[HeaderOp]
    HEADER_OP_EQUALS: _ClassVar[HeaderOp]
    HEADER_OP_MATCHES: _ClassVar[HeaderOp]

class DataFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_FORMAT_UNSPECIFIED: _ClassVar[DataFormat]
    DATA_FORMAT_CSV: _ClassVar[DataFormat]
    DATA_FORMAT_JSON_LINES: _ClassVar[DataFormat]

class DataOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_ORDER_UNSPECIFIED: _ClassVar[DataOrder]
    DATA_ORDER_SEQUENTIAL: _ClassVar[DataOrder]
    DATA_ORDER_RANDOM: _ClassVar[DataOrder]
    DATA_ORDER_SHUFFLE: _ClassVar[DataOrder]

class DataSplit(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DATA_SPLIT_UNSPECIFIED: _ClassVar[DataSplit]
    DATA_SPLIT_EXCLUSIVE: _ClassVar[DataSplit]
    DATA_SPLIT_WHOLE: _ClassVar[DataSplit]

class OnExhausted(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ON_EXHAUSTED_UNSPECIFIED: _ClassVar[OnExhausted]
    ON_EXHAUSTED_WRAP: _ClassVar[OnExhausted]
    ON_EXHAUSTED_STOP: _ClassVar[OnExhausted]
CAPTURE_MISSING_UNSPECIFIED: CaptureMissing
CAPTURE_MISSING_CONTINUE: CaptureMissing
CAPTURE_MISSING_ABORT_ITERATION: CaptureMissing
JSON_PATH_OP_UNSPECIFIED: JsonPathOp
JSON_PATH_OP_EXISTS: JsonPathOp
JSON_PATH_OP_EQUALS: JsonPathOp
JSON_PATH_OP_NOT_EQUALS: JsonPathOp
JSON_PATH_OP_LESS: JsonPathOp
JSON_PATH_OP_GREATER: JsonPathOp
JSON_PATH_OP_MATCHES: JsonPathOp
HEADER_OP_UNSPECIFIED: HeaderOp
HEADER_OP_EQUALS: HeaderOp
HEADER_OP_MATCHES: HeaderOp
DATA_FORMAT_UNSPECIFIED: DataFormat
DATA_FORMAT_CSV: DataFormat
DATA_FORMAT_JSON_LINES: DataFormat
DATA_ORDER_UNSPECIFIED: DataOrder
DATA_ORDER_SEQUENTIAL: DataOrder
DATA_ORDER_RANDOM: DataOrder
DATA_ORDER_SHUFFLE: DataOrder
DATA_SPLIT_UNSPECIFIED: DataSplit
DATA_SPLIT_EXCLUSIVE: DataSplit
DATA_SPLIT_WHOLE: DataSplit
ON_EXHAUSTED_UNSPECIFIED: OnExhausted
ON_EXHAUSTED_WRAP: OnExhausted
ON_EXHAUSTED_STOP: OnExhausted

class CheckCounts(_message.Message):
    __slots__ = ("name", "passed", "failed")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PASSED_FIELD_NUMBER: _ClassVar[int]
    FAILED_FIELD_NUMBER: _ClassVar[int]
    name: str
    passed: int
    failed: int
    def __init__(self, name: _Optional[str] = ..., passed: _Optional[int] = ..., failed: _Optional[int] = ...) -> None: ...

class Scenario(_message.Message):
    __slots__ = ("name", "weight", "steps", "data_file")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEIGHT_FIELD_NUMBER: _ClassVar[int]
    STEPS_FIELD_NUMBER: _ClassVar[int]
    DATA_FILE_FIELD_NUMBER: _ClassVar[int]
    name: str
    weight: int
    steps: _containers.RepeatedCompositeFieldContainer[Step]
    data_file: str
    def __init__(self, name: _Optional[str] = ..., weight: _Optional[int] = ..., steps: _Optional[_Iterable[_Union[Step, _Mapping]]] = ..., data_file: _Optional[str] = ...) -> None: ...

class Step(_message.Message):
    __slots__ = ("name", "method", "url", "headers", "body", "captures", "checks", "think_time", "abort_iteration_on_fail", "on_capture_missing", "rpc")
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    CAPTURES_FIELD_NUMBER: _ClassVar[int]
    CHECKS_FIELD_NUMBER: _ClassVar[int]
    THINK_TIME_FIELD_NUMBER: _ClassVar[int]
    ABORT_ITERATION_ON_FAIL_FIELD_NUMBER: _ClassVar[int]
    ON_CAPTURE_MISSING_FIELD_NUMBER: _ClassVar[int]
    RPC_FIELD_NUMBER: _ClassVar[int]
    name: str
    method: str
    url: str
    headers: _containers.ScalarMap[str, str]
    body: str
    captures: _containers.RepeatedCompositeFieldContainer[Capture]
    checks: _containers.RepeatedCompositeFieldContainer[Check]
    think_time: ThinkTime
    abort_iteration_on_fail: bool
    on_capture_missing: CaptureMissing
    rpc: _protocol_pb2.Rpc
    def __init__(self, name: _Optional[str] = ..., method: _Optional[str] = ..., url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., body: _Optional[str] = ..., captures: _Optional[_Iterable[_Union[Capture, _Mapping]]] = ..., checks: _Optional[_Iterable[_Union[Check, _Mapping]]] = ..., think_time: _Optional[_Union[ThinkTime, _Mapping]] = ..., abort_iteration_on_fail: _Optional[bool] = ..., on_capture_missing: _Optional[_Union[CaptureMissing, str]] = ..., rpc: _Optional[_Union[_protocol_pb2.Rpc, _Mapping]] = ...) -> None: ...

class Capture(_message.Message):
    __slots__ = ("name", "json_path", "header", "regex")
    NAME_FIELD_NUMBER: _ClassVar[int]
    JSON_PATH_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    REGEX_FIELD_NUMBER: _ClassVar[int]
    name: str
    json_path: str
    header: str
    regex: RegexCapture
    def __init__(self, name: _Optional[str] = ..., json_path: _Optional[str] = ..., header: _Optional[str] = ..., regex: _Optional[_Union[RegexCapture, _Mapping]] = ...) -> None: ...

class RegexCapture(_message.Message):
    __slots__ = ("pattern", "group")
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    pattern: str
    group: int
    def __init__(self, pattern: _Optional[str] = ..., group: _Optional[int] = ...) -> None: ...

class Check(_message.Message):
    __slots__ = ("name", "status", "body_contains", "json_path", "header", "latency_below_ms")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    BODY_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    JSON_PATH_FIELD_NUMBER: _ClassVar[int]
    HEADER_FIELD_NUMBER: _ClassVar[int]
    LATENCY_BELOW_MS_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: StatusCheck
    body_contains: str
    json_path: JsonPathCheck
    header: HeaderCheck
    latency_below_ms: int
    def __init__(self, name: _Optional[str] = ..., status: _Optional[_Union[StatusCheck, _Mapping]] = ..., body_contains: _Optional[str] = ..., json_path: _Optional[_Union[JsonPathCheck, _Mapping]] = ..., header: _Optional[_Union[HeaderCheck, _Mapping]] = ..., latency_below_ms: _Optional[int] = ...) -> None: ...

class StatusCheck(_message.Message):
    __slots__ = ("codes", "ranges")
    CODES_FIELD_NUMBER: _ClassVar[int]
    RANGES_FIELD_NUMBER: _ClassVar[int]
    codes: _containers.RepeatedScalarFieldContainer[int]
    ranges: _containers.RepeatedCompositeFieldContainer[StatusRange]
    def __init__(self, codes: _Optional[_Iterable[int]] = ..., ranges: _Optional[_Iterable[_Union[StatusRange, _Mapping]]] = ...) -> None: ...

class StatusRange(_message.Message):
    __slots__ = ("first", "last")
    FIRST_FIELD_NUMBER: _ClassVar[int]
    LAST_FIELD_NUMBER: _ClassVar[int]
    first: int
    last: int
    def __init__(self, first: _Optional[int] = ..., last: _Optional[int] = ...) -> None: ...

class JsonPathCheck(_message.Message):
    __slots__ = ("path", "op", "value")
    PATH_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    path: str
    op: JsonPathOp
    value: str
    def __init__(self, path: _Optional[str] = ..., op: _Optional[_Union[JsonPathOp, str]] = ..., value: _Optional[str] = ...) -> None: ...

class HeaderCheck(_message.Message):
    __slots__ = ("name", "op", "value")
    NAME_FIELD_NUMBER: _ClassVar[int]
    OP_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    name: str
    op: HeaderOp
    value: str
    def __init__(self, name: _Optional[str] = ..., op: _Optional[_Union[HeaderOp, str]] = ..., value: _Optional[str] = ...) -> None: ...

class ThinkTime(_message.Message):
    __slots__ = ("constant_ms", "uniform")
    CONSTANT_MS_FIELD_NUMBER: _ClassVar[int]
    UNIFORM_FIELD_NUMBER: _ClassVar[int]
    constant_ms: int
    uniform: UniformThinkTime
    def __init__(self, constant_ms: _Optional[int] = ..., uniform: _Optional[_Union[UniformThinkTime, _Mapping]] = ...) -> None: ...

class UniformThinkTime(_message.Message):
    __slots__ = ("min_ms", "max_ms")
    MIN_MS_FIELD_NUMBER: _ClassVar[int]
    MAX_MS_FIELD_NUMBER: _ClassVar[int]
    min_ms: int
    max_ms: int
    def __init__(self, min_ms: _Optional[int] = ..., max_ms: _Optional[int] = ...) -> None: ...

class DataFile(_message.Message):
    __slots__ = ("name", "format", "content", "order", "split", "on_exhausted", "source", "content_bytes", "rows")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    ORDER_FIELD_NUMBER: _ClassVar[int]
    SPLIT_FIELD_NUMBER: _ClassVar[int]
    ON_EXHAUSTED_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    CONTENT_BYTES_FIELD_NUMBER: _ClassVar[int]
    ROWS_FIELD_NUMBER: _ClassVar[int]
    name: str
    format: DataFormat
    content: str
    order: DataOrder
    split: DataSplit
    on_exhausted: OnExhausted
    source: str
    content_bytes: int
    rows: int
    def __init__(self, name: _Optional[str] = ..., format: _Optional[_Union[DataFormat, str]] = ..., content: _Optional[str] = ..., order: _Optional[_Union[DataOrder, str]] = ..., split: _Optional[_Union[DataSplit, str]] = ..., on_exhausted: _Optional[_Union[OnExhausted, str]] = ..., source: _Optional[str] = ..., content_bytes: _Optional[int] = ..., rows: _Optional[int] = ...) -> None: ...
