"""Kannon's generated Python code (python/generate.sh, from proto/kannon/v1/*.proto).

grpcio-tools emits absolute imports (``from kannon.v1 import test_pb2``), so importing this package
puts its own directory on ``sys.path``; after ``import kannon_gen``::

    from kannon.v1 import bus_pb2, driver_pb2, test_pb2, report_pb2, orchestrator_pb2
    from kannon.v1 import orchestrator_pb2_grpc   # OrchestratorServiceStub for a grpcio client

The same modules are re-exported here: ``from kannon_gen import bus_pb2``.
"""
import os as _os
import sys as _sys

_here = _os.path.dirname(_os.path.abspath(__file__))
if _here not in _sys.path:
    _sys.path.insert(0, _here)

from kannon.v1 import (  # noqa: E402
    bus_pb2,
    driver_pb2,
    orchestrator_pb2,
    orchestrator_pb2_grpc,
    report_pb2,
    test_pb2,
)

__all__ = ["bus_pb2", "driver_pb2", "orchestrator_pb2", "orchestrator_pb2_grpc", "report_pb2", "test_pb2"]
