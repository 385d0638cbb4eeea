"""The Kafka data plane for one driver (aiokafka), matching bus/kafka*.ts:

- topic `t` is `${prefix}t` on Kafka; the seven topics are created when missing (1 partition, like
  a TypeScript driver; only the orchestrator grows them);
- driver -> orchestrator records (register, heartbeat, metrics) are keyed by the driver id, and
  sent with acks=all;
- test_config, trigger and data are read as a broadcast subscriber: every driver gets every record. The
  TypeScript driver uses a consumer group of its own per process; this driver assigns itself every
  partition (no group at all), which has the same effect, and starts at their current end (nothing
  old is replayed). `start()` returns only once every partition's position is resolved, so a
  record published after it is delivered.
"""
from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

ALL_TOPICS = ["register", "heartbeat", "test_config", "trigger", "metrics", "data", "data_ready"]
# `data`: the chunks of scenario tests' data files (a driver keeps its own part, data_intake.py).
FLEET_TOPICS = ["test_config", "trigger", "data"]
# The records of `data` (test data files) are read once, while a test starts: kept an hour, as the
# TypeScript side creates the topic (bus/kafka.ts DATA_RETENTION_MS).
TOPIC_CONFIGS = {"data": {"retention.ms": "3600000"}}
# Partitions added to a fleet topic while the driver runs are picked up within this long.
PARTITION_REFRESH_S = 30


@dataclass
class KafkaSecurity:
    tls: bool = False
    ca_file: Optional[str] = None
    sasl_mechanism: Optional[str] = None  # plain | scram-sha-256 | scram-sha-512
    username: Optional[str] = None
    password: Optional[str] = None

    def client_kwargs(self) -> dict:
        kw: dict = {}
        if self.sasl_mechanism:
            kw["security_protocol"] = "SASL_SSL" if self.tls else "SASL_PLAINTEXT"
            kw["sasl_mechanism"] = self.sasl_mechanism.upper()
            kw["sasl_plain_username"] = self.username
            kw["sasl_plain_password"] = self.password
        elif self.tls:
            kw["security_protocol"] = "SSL"
        if self.tls:
            kw["ssl_context"] = ssl.create_default_context(cafile=self.ca_file)
        return kw


class KafkaBus:
    def __init__(self, bootstrap: str, prefix: str, client_id: str, log: Callable[[str], None], security: Optional[KafkaSecurity] = None) -> None:
        self.bootstrap = [b.strip() for b in bootstrap.split(",") if b.strip()]
        self.prefix = prefix
        self.client_id = client_id
        self.log = log
        self.kw = (security or KafkaSecurity()).client_kwargs()
        self.producer: Optional[AIOKafkaProducer] = None
        self.consumer: Optional[AIOKafkaConsumer] = None
        self._reader: Optional[asyncio.Task] = None
        self._handlers: Dict[str, Callable[[bytes], None]] = {}

    async def open(self) -> None:
        await self._ensure_topics()
        self.producer = AIOKafkaProducer(bootstrap_servers=self.bootstrap, client_id=self.client_id, acks="all", **self.kw)
        await self.producer.start()

    async def _ensure_topics(self) -> None:
        names = [self.prefix + t for t in ALL_TOPICS]
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, client_id=self.client_id, **self.kw)
        await admin.start()
        try:
            for attempt in range(10):
                existing = set(await admin.list_topics())
                missing = [n for n in names if n not in existing]
                if not missing:
                    return
                try:
                    # Another process may create them at the same time: that is fine.
                    await admin.create_topics([NewTopic(n, 1, 1, topic_configs=TOPIC_CONFIGS.get(n[len(self.prefix):], {})) for n in missing])
                except Exception as err:  # noqa: BLE001
                    if "TopicAlreadyExists" not in type(err).__name__:
                        self.log(f"kafka: creating {', '.join(missing)} (attempt {attempt + 1}): {err!r}")
                await asyncio.sleep(0.2 * (attempt + 1))
            raise RuntimeError(f"kafka: topics {', '.join(names)} could not be created")
        finally:
            await admin.close()

    async def subscribe_fleet(self, handlers: Dict[str, Callable[[bytes], None]]) -> None:
        """Reads the fleet topics from their current end; returns once positioned."""
        self._handlers = {self.prefix + t: h for t, h in handlers.items()}
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            client_id=self.client_id,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="latest",
            fetch_max_wait_ms=100,
            **self.kw,
        )
        await self.consumer.start()
        tps = await self._fleet_partitions()
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        for tp in tps:
            await self.consumer.position(tp)
        self._reader = asyncio.create_task(self._read())

    async def _fleet_partitions(self) -> List[TopicPartition]:
        """Every partition of the fleet topics (the producer's metadata: it waits for it)."""
        assert self.producer is not None
        tps: List[TopicPartition] = []
        for t in FLEET_TOPICS:
            parts = await self.producer.partitions_for(self.prefix + t)
            if not parts:
                raise RuntimeError(f"kafka: no partitions for {self.prefix + t}")
            tps += [TopicPartition(self.prefix + t, p) for p in sorted(parts)]
        return tps

    async def _read(self) -> None:
        assert self.consumer is not None
        loop = asyncio.get_running_loop()
        refresh_at = loop.time() + PARTITION_REFRESH_S
        while True:
            try:
                batches = await self.consumer.getmany(timeout_ms=500)
                for tp, records in batches.items():
                    handler = self._handlers.get(tp.topic)
                    for r in records:
                        if handler is not None and r.value is not None:
                            try:
                                handler(r.value)
                            except Exception as err:  # noqa: BLE001
                                self.log(f"kafka: handling a record of {tp.topic} (key {r.key!r}) failed: {err!r}")
                if loop.time() >= refresh_at:
                    refresh_at = loop.time() + PARTITION_REFRESH_S
                    await self._pick_up_new_partitions()
            except asyncio.CancelledError:
                raise
            except Exception as err:  # noqa: BLE001
                self.log(f"kafka: reading the fleet topics failed: {err!r}; retrying")
                await asyncio.sleep(1)

    async def _pick_up_new_partitions(self) -> None:
        """A partition added to a fleet topic is read from its beginning (everything on it is new)."""
        assert self.consumer is not None
        tps = await self._fleet_partitions()
        new = [tp for tp in tps if tp not in self.consumer.assignment()]
        if new:
            # assign() replaces the assignment: keep where each old partition was.
            old = {tp: await self.consumer.position(tp) for tp in self.consumer.assignment()}
            self.consumer.assign(list(old) + new)
            for tp, offset in old.items():
                self.consumer.seek(tp, offset)
            await self.consumer.seek_to_beginning(*new)
            self.log(f"kafka: reading new partition(s) {', '.join(f'{tp.topic}[{tp.partition}]' for tp in new)}")

    async def publish(self, topic: str, key: str, value: bytes) -> None:
        assert self.producer is not None
        await self.producer.send_and_wait(self.prefix + topic, value=value, key=key.encode("utf-8"))

    async def close(self) -> None:
        if self._reader is not None:
            self._reader.cancel()
            try:
                await self._reader
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        for c in (self.consumer, self.producer):
            if c is not None:
                try:
                    await asyncio.wait_for(c.stop(), 5)
                except Exception:  # noqa: BLE001
                    pass
