from kannon.v1 import driver_pb2 as _driver_pb2
from kannon.v1 import report_pb2 as _report_pb2
from kannon.v1 import test_pb2 as _test_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreateTestRequest(_message.Message):
    __slots__ = ("spec",)
    SPEC_FIELD_NUMBER: _ClassVar[int]
    spec: _test_pb2.TestSpec
    def __init__(self, spec: _Optional[_Union[_test_pb2.TestSpec, _Mapping]] = ...) -> None: ...

class CreateTestResponse(_message.Message):
    __slots__ = ("test",)
    TEST_FIELD_NUMBER: _ClassVar[int]
    test: _test_pb2.Test
    def __init__(self, test: _Optional[_Union[_test_pb2.Test, _Mapping]] = ...) -> None: ...

class StartTestRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class StartTestResponse(_message.Message):
    __slots__ = ("test",)
    TEST_FIELD_NUMBER: _ClassVar[int]
    test: _test_pb2.Test
    def __init__(self, test: _Optional[_Union[_test_pb2.Test, _Mapping]] = ...) -> None: ...

class CancelTestRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class CancelTestResponse(_message.Message):
    __slots__ = ("test",)
    TEST_FIELD_NUMBER: _ClassVar[int]
    test: _test_pb2.Test
    def __init__(self, test: _Optional[_Union[_test_pb2.Test, _Mapping]] = ...) -> None: ...

class GetTestRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class GetTestResponse(_message.Message):
    __slots__ = ("test",)
    TEST_FIELD_NUMBER: _ClassVar[int]
    test: _test_pb2.Test
    def __init__(self, test: _Optional[_Union[_test_pb2.Test, _Mapping]] = ...) -> None: ...

class ListTestsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "state")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    state: _test_pb2.TestState
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., state: _Optional[_Union[_test_pb2.TestState, str]] = ...) -> None: ...

class ListTestsResponse(_message.Message):
    __slots__ = ("tests", "next_page_token")
    TESTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    tests: _containers.RepeatedCompositeFieldContainer[_test_pb2.Test]
    next_page_token: str
    def __init__(self, tests: _Optional[_Iterable[_Union[_test_pb2.Test, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListDriversRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDriversResponse(_message.Message):
    __slots__ = ("drivers", "next_page_token", "default_target_url")
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_TARGET_URL_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[_driver_pb2.Driver]
    next_page_token: str
    default_target_url: str
    def __init__(self, drivers: _Optional[_Iterable[_Union[_driver_pb2.Driver, _Mapping]]] = ..., next_page_token: _Optional[str] = ..., default_target_url: _Optional[str] = ...) -> None: ...

class DeleteTestRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class DeleteTestResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListIntervalsRequest(_message.Message):
    __slots__ = ("test_id", "page_size", "page_token")
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    page_size: int
    page_token: str
    def __init__(self, test_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListIntervalsResponse(_message.Message):
    __slots__ = ("intervals", "next_page_token")
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    intervals: _containers.RepeatedCompositeFieldContainer[_report_pb2.Stats]
    next_page_token: str
    def __init__(self, intervals: _Optional[_Iterable[_Union[_report_pb2.Stats, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReportRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class GetReportResponse(_message.Message):
    __slots__ = ("report",)
    REPORT_FIELD_NUMBER: _ClassVar[int]
    report: _report_pb2.Report
    def __init__(self, report: _Optional[_Union[_report_pb2.Report, _Mapping]] = ...) -> None: ...

class WatchTestRequest(_message.Message):
    __slots__ = ("test_id",)
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    test_id: str
    def __init__(self, test_id: _Optional[str] = ...) -> None: ...

class DriverProgress(_message.Message):
    __slots__ = ("driver_id", "requests", "last_seq", "finished", "lost", "start_skew_us")
    DRIVER_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    LAST_SEQ_FIELD_NUMBER: _ClassVar[int]
    FINISHED_FIELD_NUMBER: _ClassVar[int]
    LOST_FIELD_NUMBER: _ClassVar[int]
    START_SKEW_US_FIELD_NUMBER: _ClassVar[int]
    driver_id: str
    requests: int
    last_seq: int
    finished: bool
    lost: bool
    start_skew_us: int
    def __init__(self, driver_id: _Optional[str] = ..., requests: _Optional[int] = ..., last_seq: _Optional[int] = ..., finished: _Optional[bool] = ..., lost: _Optional[bool] = ..., start_skew_us: _Optional[int] = ...) -> None: ...

class WatchTestResponse(_message.Message):
    __slots__ = ("test", "interval", "cumulative", "drivers", "report")
    TEST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    CUMULATIVE_FIELD_NUMBER: _ClassVar[int]
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    REPORT_FIELD_NUMBER: _ClassVar[int]
    test: _test_pb2.Test
    interval: _report_pb2.Stats
    cumulative: _report_pb2.Stats
    drivers: _containers.RepeatedCompositeFieldContainer[DriverProgress]
    report: _report_pb2.Report
    def __init__(self, test: _Optional[_Union[_test_pb2.Test, _Mapping]] = ..., interval: _Optional[_Union[_report_pb2.Stats, _Mapping]] = ..., cumulative: _Optional[_Union[_report_pb2.Stats, _Mapping]] = ..., drivers: _Optional[_Iterable[_Union[DriverProgress, _Mapping]]] = ..., report: _Optional[_Union[_report_pb2.Report, _Mapping]] = ...) -> None: ...

class WatchDriversRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchDriversResponse(_message.Message):
    __slots__ = ("drivers", "changed")
    DRIVERS_FIELD_NUMBER: _ClassVar[int]
    CHANGED_FIELD_NUMBER: _ClassVar[int]
    drivers: _containers.RepeatedCompositeFieldContainer[_driver_pb2.Driver]
    changed: _driver_pb2.Driver
    def __init__(self, drivers: _Optional[_Iterable[_Union[_driver_pb2.Driver, _Mapping]]] = ..., changed: _Optional[_Union[_driver_pb2.Driver, _Mapping]] = ...) -> None: ...
