from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class HttpVersion(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    HTTP_VERSION_UNSPECIFIED: _ClassVar[HttpVersion]
    HTTP_VERSION_1_1: _ClassVar[HttpVersion]
    HTTP_VERSION_2: _ClassVar[HttpVersion]

class RpcProtocol(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RPC_PROTOCOL_UNSPECIFIED: _ClassVar[RpcProtocol]
    RPC_PROTOCOL_CONNECT: _ClassVar[RpcProtocol]
    RPC_PROTOCOL_GRPC: _ClassVar[RpcProtocol]
    RPC_PROTOCOL_GRPC_WEB: _ClassVar[RpcProtocol]

class RpcCodec(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RPC_CODEC_UNSPECIFIED: _ClassVar[RpcCodec]
    RPC_CODEC_PROTO: _ClassVar[RpcCodec]
    RPC_CODEC_JSON: _ClassVar[RpcCodec]

class RpcCompression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RPC_COMPRESSION_UNSPECIFIED: _ClassVar[RpcCompression]
    RPC_COMPRESSION_NONE: _ClassVar[RpcCompression]
    RPC_COMPRESSION_GZIP: _ClassVar[RpcCompression]

class RpcSchemaSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RPC_SCHEMA_SOURCE_UNSPECIFIED: _ClassVar[RpcSchemaSource]
    RPC_SCHEMA_SOURCE_REFLECTION: _ClassVar[RpcSchemaSource]
    RPC_SCHEMA_SOURCE_IMAGE: _ClassVar[RpcSchemaSource]
HTTP_VERSION_UNSPECIFIED: HttpVersion
HTTP_VERSION_1_1: HttpVersion
HTTP_VERSION_2: HttpVersion
RPC_PROTOCOL_UNSPECIFIED: RpcProtocol
RPC_PROTOCOL_CONNECT: RpcProtocol
RPC_PROTOCOL_GRPC: RpcProtocol
RPC_PROTOCOL_GRPC_WEB: RpcProtocol
RPC_CODEC_UNSPECIFIED: RpcCodec
RPC_CODEC_PROTO: RpcCodec
RPC_CODEC_JSON: RpcCodec
RPC_COMPRESSION_UNSPECIFIED: RpcCompression
RPC_COMPRESSION_NONE: RpcCompression
RPC_COMPRESSION_GZIP: RpcCompression
RPC_SCHEMA_SOURCE_UNSPECIFIED: RpcSchemaSource
RPC_SCHEMA_SOURCE_REFLECTION: RpcSchemaSource
RPC_SCHEMA_SOURCE_IMAGE: RpcSchemaSource

class HttpOptions(_message.Message):
    __slots__ = ("version", "streams_per_connection", "connections", "tls")
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STREAMS_PER_CONNECTION_FIELD_NUMBER: _ClassVar[int]
    CONNECTIONS_FIELD_NUMBER: _ClassVar[int]
    TLS_FIELD_NUMBER: _ClassVar[int]
    version: HttpVersion
    streams_per_connection: int
    connections: int
    tls: TlsOptions
    def __init__(self, version: _Optional[_Union[HttpVersion, str]] = ..., streams_per_connection: _Optional[int] = ..., connections: _Optional[int] = ..., tls: _Optional[_Union[TlsOptions, _Mapping]] = ...) -> None: ...

class TlsOptions(_message.Message):
    __slots__ = ("ca_pem", "cert_pem", "key_pem", "servername", "insecure", "handshake_per_request")
    CA_PEM_FIELD_NUMBER: _ClassVar[int]
    CERT_PEM_FIELD_NUMBER: _ClassVar[int]
    KEY_PEM_FIELD_NUMBER: _ClassVar[int]
    SERVERNAME_FIELD_NUMBER: _ClassVar[int]
    INSECURE_FIELD_NUMBER: _ClassVar[int]
    HANDSHAKE_PER_REQUEST_FIELD_NUMBER: _ClassVar[int]
    ca_pem: str
    cert_pem: str
    key_pem: str
    servername: str
    insecure: bool
    handshake_per_request: bool
    def __init__(self, ca_pem: _Optional[str] = ..., cert_pem: _Optional[str] = ..., key_pem: _Optional[str] = ..., servername: _Optional[str] = ..., insecure: _Optional[bool] = ..., handshake_per_request: _Optional[bool] = ...) -> None: ...

class Rpc(_message.Message):
    __slots__ = ("service", "method", "request_json", "protocol", "codec", "timeout_ms", "compression")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    REQUEST_JSON_FIELD_NUMBER: _ClassVar[int]
    PROTOCOL_FIELD_NUMBER: _ClassVar[int]
    CODEC_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_MS_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    service: str
    method: str
    request_json: str
    protocol: RpcProtocol
    codec: RpcCodec
    timeout_ms: int
    compression: RpcCompression
    def __init__(self, service: _Optional[str] = ..., method: _Optional[str] = ..., request_json: _Optional[str] = ..., protocol: _Optional[_Union[RpcProtocol, str]] = ..., codec: _Optional[_Union[RpcCodec, str]] = ..., timeout_ms: _Optional[int] = ..., compression: _Optional[_Union[RpcCompression, str]] = ...) -> None: ...

class RpcSchema(_message.Message):
    __slots__ = ("source", "image", "origin")
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    source: RpcSchemaSource
    image: bytes
    origin: str
    def __init__(self, source: _Optional[_Union[RpcSchemaSource, str]] = ..., image: _Optional[bytes] = ..., origin: _Optional[str] = ...) -> None: ...
