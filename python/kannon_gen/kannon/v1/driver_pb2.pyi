import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class DriverState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DRIVER_STATE_UNSPECIFIED: _ClassVar[DriverState]
    DRIVER_STATE_READY: _ClassVar[DriverState]
    DRIVER_STATE_BUSY: _ClassVar[DriverState]
    DRIVER_STATE_MISSING: _ClassVar[DriverState]
    DRIVER_STATE_LEFT: _ClassVar[DriverState]
DRIVER_STATE_UNSPECIFIED: DriverState
DRIVER_STATE_READY: DriverState
DRIVER_STATE_BUSY: DriverState
DRIVER_STATE_MISSING: DriverState
DRIVER_STATE_LEFT: DriverState

class Driver(_message.Message):
    __slots__ = ("id", "host", "address", "state", "registered_at", "last_heartbeat_at", "test_id", "version", "instance_id", "clock")
    ID_FIELD_NUMBER: _ClassVar[int]
    HOST_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    REGISTERED_AT_FIELD_NUMBER: _ClassVar[int]
    LAST_HEARTBEAT_AT_FIELD_NUMBER: _ClassVar[int]
    TEST_ID_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    INSTANCE_ID_FIELD_NUMBER: _ClassVar[int]
    CLOCK_FIELD_NUMBER: _ClassVar[int]
    id: str
    host: str
    address: str
    state: DriverState
    registered_at: _timestamp_pb2.Timestamp
    last_heartbeat_at: _timestamp_pb2.Timestamp
    test_id: str
    version: str
    instance_id: str
    clock: ClockOffset
    def __init__(self, id: _Optional[str] = ..., host: _Optional[str] = ..., address: _Optional[str] = ..., state: _Optional[_Union[DriverState, str]] = ..., registered_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_heartbeat_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., test_id: _Optional[str] = ..., version: _Optional[str] = ..., instance_id: _Optional[str] = ..., clock: _Optional[_Union[ClockOffset, _Mapping]] = ...) -> None: ...

class ClockOffset(_message.Message):
    __slots__ = ("offset_us", "error_us", "measured_at")
    OFFSET_US_FIELD_NUMBER: _ClassVar[int]
    ERROR_US_FIELD_NUMBER: _ClassVar[int]
    MEASURED_AT_FIELD_NUMBER: _ClassVar[int]
    offset_us: int
    error_us: int
    measured_at: _timestamp_pb2.Timestamp
    def __init__(self, offset_us: _Optional[int] = ..., error_us: _Optional[int] = ..., measured_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
