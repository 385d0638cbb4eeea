#!/usr/bin/env python3
"""A Kannon API client in Python with the grpcio stubs generated from proto/ (python/kannon_gen).

Creates an avalanche test, starts it, streams WatchTest to the end printing one line per merged
interval, and prints the final report's totals:

    python python/examples/client.py --api http://127.0.0.1:8080 \\
        --target http://127.0.0.1:8081/ping --concurrency 4 --requests-per-driver 500

The last line is machine-readable (``final: state=COMPLETED requests=1000 errors=0 ...``). A server
with a token reads it from ``KANNON_TOKEN`` (never from the command line). Exit codes: 0 the test
completed without errors, 1 it ended otherwise (errors, partial, cancelled, failed), 2 usage,
3 an RPC failed.
"""
from __future__ import annotations

import argparse
import os
import sys
from urllib.parse import urlparse

import grpc

# The generated package lives beside this folder, python/kannon_gen (also installed by pip install ./python).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from kannon_gen import orchestrator_pb2, orchestrator_pb2_grpc, test_pb2  # noqa: E402

ENDED = {test_pb2.TEST_STATE_COMPLETED, test_pb2.TEST_STATE_CANCELLED, test_pb2.TEST_STATE_FAILED}


def state_name(state: int) -> str:
    return test_pb2.TestState.Name(state).removeprefix("TEST_STATE_")


def ms(us: int) -> str:
    return f"{us / 1000:.2f} ms"


def grpc_target(api: str) -> str:
    """host:port for grpcio from http://host:port (gRPC over HTTP/2 cleartext) or host:port."""
    if "://" not in api:
        return api
    url = urlparse(api)
    if url.scheme != "http" or not url.hostname or not url.port:
        raise SystemExit(f"--api must be http://HOST:PORT or HOST:PORT, not {api!r}")
    host = f"[{url.hostname}]" if ":" in url.hostname else url.hostname
    return f"{host}:{url.port}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--api", default="http://127.0.0.1:8080", help="the orchestrator (default %(default)s)")
    p.add_argument("--target", required=True, help="URL every request goes to")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight per driver")
    p.add_argument("--requests-per-driver", type=int, default=500)
    p.add_argument("--report-interval-ms", type=int, default=500)
    p.add_argument("--timeout-s", type=float, default=300, help="deadline for the whole watch")
    args = p.parse_args()

    token = os.environ.get("KANNON_TOKEN")
    metadata = [("authorization", f"Bearer {token}")] if token else []

    with grpc.insecure_channel(grpc_target(args.api)) as channel:
        api = orchestrator_pb2_grpc.OrchestratorServiceStub(channel)
        spec = test_pb2.TestSpec(
            name="python client example",
            target_url=args.target,
            report_interval_ms=args.report_interval_ms,
            avalanche=test_pb2.Avalanche(concurrency=args.concurrency, requests_per_driver=args.requests_per_driver),
        )
        try:
            test = api.CreateTest(orchestrator_pb2.CreateTestRequest(spec=spec), metadata=metadata, timeout=10).test
            print(f"created test {test.id} ({state_name(test.state)})", flush=True)
            started = api.StartTest(orchestrator_pb2.StartTestRequest(test_id=test.id), metadata=metadata, timeout=30).test
            print(f"started on {len(started.driver_ids)} driver(s): {', '.join(started.driver_ids)}", flush=True)

            state = started.state
            report = None
            stream = api.WatchTest(orchestrator_pb2.WatchTestRequest(test_id=test.id), metadata=metadata, timeout=args.timeout_s)
            for msg in stream:
                if msg.test.state != state:
                    state = msg.test.state
                    print(f"state {state_name(state)}", flush=True)
                if msg.HasField("interval"):
                    i, c = msg.interval, msg.cumulative
                    print(
                        f"interval {i.interval}: {i.requests} requests ({i.requests_per_s:.0f} req/s), {i.errors} errors, "
                        f"p50 {ms(i.latency.p50_us)}, p99 {ms(i.latency.p99_us)}; so far {c.requests} requests",
                        flush=True,
                    )
                if msg.HasField("report"):
                    report = msg.report
        except grpc.RpcError as err:
            print(f"rpc failed: {err.code().name}: {err.details()}", file=sys.stderr)
            return 3

    if report is None:
        print(f"the stream ended in state {state_name(state)} without a report", file=sys.stderr)
        return 1
    t = report.total
    drivers = ",".join(f"{d.driver_id}:{d.stats.requests}" for d in report.drivers)
    print(
        f"final: state={state_name(report.state)} requests={t.requests} errors={t.errors} "
        f"rps={t.requests_per_s:.1f} p50_us={t.latency.p50_us} p99_us={t.latency.p99_us} "
        f"max_us={t.latency.max_us} partial={str(report.partial).lower()} drivers={drivers}",
        flush=True,
    )
    ok = report.state == test_pb2.TEST_STATE_COMPLETED and t.errors == 0 and not report.partial
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
