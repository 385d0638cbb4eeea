"""`kannon-driver` (or `python -m kannon_driver`): one Kannon driver over Kafka (the TypeScript
`kannon driver` command's flags). The project's venv has it installed:

    npm run python-env        # once: builds the venv and installs python/ into it
    ~/.cache/kannon/python-venv/bin/kannon-driver --kafka 127.0.0.1:9092 --topic-prefix P --id py-1

Test-only: with KANNON_SAMPLE_FILE set, every recorded request appends a line
`latency_us,service_us` (the integer microseconds put into the histograms) to that file, written
before the interval's metrics message is published.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import signal
import socket
import sys
from typing import List, Optional

from . import VERSION
from .bus import KafkaBus, KafkaSecurity
from .driver import Driver

SHUTDOWN_DEADLINE_MS = 8_000
EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
PROG = "kannon-driver"


def parse_args(argv: List[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog=PROG,
        description=f"A Kannon driver in Python ({VERSION}): joins the fleet over Kafka.",
        epilog="Environment: KANNON_KAFKA, KANNON_TOPIC_PREFIX, KANNON_KAFKA_USERNAME, KANNON_KAFKA_PASSWORD; "
        "KANNON_SAMPLE_FILE (tests only: raw samples).",
    )
    p.add_argument("--kafka", "--bootstrap", dest="kafka", default=os.environ.get("KANNON_KAFKA"), help="bootstrap servers host:port[,host:port]")
    p.add_argument("--topic-prefix", "--prefix", dest="prefix", default=os.environ.get("KANNON_TOPIC_PREFIX", ""), help="prefix of every topic name")
    p.add_argument("--id", dest="id", default=None, help="driver id (default: driver-<random>)")
    p.add_argument("--address", default=None, help="where the driver runs, as reported (default: host name)")
    p.add_argument("--kafka-tls", action="store_true", help="TLS to the brokers")
    p.add_argument("--kafka-ca-file", default=None, help="PEM CA certificates to trust (implies --kafka-tls)")
    p.add_argument("--kafka-sasl-mechanism", choices=["plain", "scram-sha-256", "scram-sha-512"], default=None)
    p.add_argument("--kafka-username", default=os.environ.get("KANNON_KAFKA_USERNAME"))
    p.add_argument("--kafka-password-file", default=None, help="file holding the SASL password (else KANNON_KAFKA_PASSWORD)")
    return p.parse_args(argv)


async def main(argv: List[str]) -> int:
    args = parse_args(argv)
    if not args.kafka:
        print(f"{PROG}: --kafka host:port (or KANNON_KAFKA) is required", file=sys.stderr)
        return EXIT_USAGE
    security = KafkaSecurity(tls=args.kafka_tls or bool(args.kafka_ca_file), ca_file=args.kafka_ca_file)
    if args.kafka_sasl_mechanism:
        password = os.environ.get("KANNON_KAFKA_PASSWORD")
        if args.kafka_password_file:
            with open(args.kafka_password_file, encoding="utf-8") as f:
                password = f.read().strip()
        if not args.kafka_username or password is None:
            print(f"{PROG}: SASL needs --kafka-username and KANNON_KAFKA_PASSWORD or --kafka-password-file", file=sys.stderr)
            return EXIT_USAGE
        security.sasl_mechanism, security.username, security.password = args.kafka_sasl_mechanism, args.kafka_username, password

    def log(m: str) -> None:
        print(m, file=sys.stderr, flush=True)

    sample_file = os.environ.get("KANNON_SAMPLE_FILE")
    pending: List[str] = []

    def tap(latency_us: int, service_us: int) -> None:
        pending.append(f"{latency_us},{service_us}\n")

    def flush_samples() -> None:
        if pending and sample_file:
            with open(sample_file, "a", encoding="ascii") as f:
                f.writelines(pending)
            pending.clear()

    bus = KafkaBus(args.kafka, args.prefix, args.id or "kannon-py-driver", log, security)
    refused: "asyncio.Future[str]" = asyncio.get_running_loop().create_future()
    d = Driver(
        bus,
        args.id,
        args.address or socket.gethostname(),
        log=log,
        tap=tap if sample_file else None,
        flush_samples=flush_samples if sample_file else None,
        on_refused=lambda reason: refused.done() or refused.set_result(reason),
    )
    try:
        await bus.open()
        await d.start()
    except Exception as err:  # noqa: BLE001
        log(f"kannon-py driver {d.id}: could not join the fleet over Kafka {args.kafka}: {err!r}")
        await bus.close()
        return EXIT_FAILURE
    name = f"kannon-py driver {d.id}"
    print(f"{name} ({VERSION}) joined the fleet over Kafka {args.kafka}", flush=True)

    loop = asyncio.get_running_loop()
    got_signal: "asyncio.Future[str]" = loop.create_future()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda s=sig: got_signal.done() or got_signal.set_result(s.name))

    done, _ = await asyncio.wait([got_signal, refused], return_when=asyncio.FIRST_COMPLETED)
    if refused in done:
        print(f"{name}: refused by the orchestrator: {refused.result()}", file=sys.stderr, flush=True)
        await asyncio.wait([asyncio.create_task(bus.close())], timeout=3)
        return EXIT_FAILURE
    print(f"{name}: {got_signal.result()}, leaving the fleet (a second signal forces it)", flush=True)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, lambda: os._exit(EXIT_FAILURE))

    async def graceful() -> None:
        # Leaves room within the deadline to flush the final metrics and say it is leaving.
        await d.stop(deadline_ms=SHUTDOWN_DEADLINE_MS / 2)
        await bus.close()

    task = asyncio.create_task(graceful())
    finished, _ = await asyncio.wait([task], timeout=SHUTDOWN_DEADLINE_MS / 1000)
    if not finished:
        log(f"{name}: shutdown did not finish within {SHUTDOWN_DEADLINE_MS // 1000} s (is the broker reachable?); exiting anyway")
        return EXIT_FAILURE
    if task.exception() is not None:
        log(f"{name}: shutdown: {task.exception()!r}")
    flush_samples()
    print(f"{name} left the fleet", flush=True)
    return EXIT_OK


def cli() -> None:
    """The `kannon-driver` console script."""
    sys.exit(asyncio.run(main(sys.argv[1:])))


if __name__ == "__main__":
    cli()
