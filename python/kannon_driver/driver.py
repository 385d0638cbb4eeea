"""A driver in the fleet (port of driver/agent/driver.ts): registers, heartbeats every second with its
state and test, arms on a test_config that names it, starts at the trigger's start_at, cancels,
re-splits, is refused, and leaves the fleet gracefully."""
from __future__ import annotations

import asyncio
import socket
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from typing import Callable, Optional

import kannon_gen  # noqa: F401
from kannon.v1 import bus_pb2, driver_pb2

from . import VERSION
from .bus import KafkaBus
from .clock import now_ms
from .data_intake import DataIntake, Intake, data_ready_deadline_ms
from .recorder import SampleTap
from .run import HEARTBEAT_INTERVAL_MS, TestRun, ms_of, timestamp_at

ARM_TIMEOUT_MS = 30_000


@dataclass
class _Armed:
    config: bus_pb2.TestConfigMessage
    # None while this driver's part of the test's data files is on its way (topic `data`).
    run: Optional[TestRun]
    done: Optional[asyncio.Task] = None
    arm_timer: Optional[asyncio.TimerHandle] = None


class Driver:
    def __init__(
        self,
        bus: KafkaBus,
        driver_id: Optional[str] = None,
        address: Optional[str] = None,
        log: Callable[[str], None] = print,
        tap: Optional[SampleTap] = None,
        flush_samples: Optional[Callable[[], None]] = None,
        on_refused: Optional[Callable[[str], None]] = None,
    ) -> None:
        self.bus = bus
        self.id = driver_id or f"driver-{uuid.uuid4().hex[:8]}"
        self.instance_id = str(uuid.uuid4())
        self.address = address or socket.gethostname()
        self.log = log
        self.tap = tap
        self.flush_samples = flush_samples
        self.on_refused = on_refused
        self.refused = False
        self.stopping = False
        self.armed: Optional[_Armed] = None
        self._heartbeat: Optional[asyncio.Task] = None
        self._early: "OrderedDict[str, bus_pb2.TriggerMessage]" = OrderedDict()
        # Tests this driver will not run (again): per test id, the highest start attempt it finished,
        # was cancelled in or gave up on. A redelivered config or START of it is ignored; a later
        # attempt (a retried StartTest) runs.
        self._over: "OrderedDict[str, int]" = OrderedDict()
        # The latest clock probe (its sent_at, and our arrival time) not yet echoed in a heartbeat.
        self._probe: Optional[tuple] = None
        self._background: set = set()
        self.intake = DataIntake(self.id)

    # -- helpers ---------------------------------------------------------------------------------

    def _spawn(self, coro) -> asyncio.Task:
        t = asyncio.create_task(coro)
        self._background.add(t)
        t.add_done_callback(self._background.discard)
        return t

    @staticmethod
    def _remember(d: OrderedDict, key: str, value) -> None:
        d[key] = value
        d.move_to_end(key)
        while len(d) > 64:
            d.popitem(last=False)

    def _is_over(self, test_id: str, attempt: int) -> bool:
        last = self._over.get(test_id)
        return last is not None and attempt <= last

    def _mark_over(self, test_id: str, attempt: int) -> None:
        self._remember(self._over, test_id, max(attempt, self._over.get(test_id, 0)))

    @property
    def state(self) -> int:
        return driver_pb2.DRIVER_STATE_BUSY if self.armed else driver_pb2.DRIVER_STATE_READY

    async def _beat(self) -> None:
        m = bus_pb2.HeartbeatMessage(
            driver_id=self.id,
            instance_id=self.instance_id,
            sent_at=timestamp_at(now_ms()),
            state=self.state,
            test_id=self.armed.config.test_id if self.armed else "",
        )
        if self._probe is not None:
            m.probe_sent_at.CopyFrom(self._probe[0])
            m.probe_received_at.CopyFrom(self._probe[1])
            self._probe = None
        await self._send("heartbeat", m, "heartbeat failed")

    async def _send(self, topic: str, m, failed: str) -> None:
        """Publishes `m` keyed by this driver's id; a failure is logged as `failed`."""
        try:
            await self.bus.publish(topic, self.id, m.SerializeToString())
        except Exception as err:  # noqa: BLE001
            self.log(f"driver {self.id}: {failed}: {err!r}")

    async def _heartbeats(self) -> None:
        loop = asyncio.get_running_loop()
        at = loop.time()
        while True:
            at += HEARTBEAT_INTERVAL_MS / 1000
            await asyncio.sleep(max(0.0, at - loop.time()))
            self._spawn(self._beat())

    async def _refuse(self, test_id: str, error: str, attempt: int) -> None:
        """An empty final message: this driver will not (or can no longer) run the test."""
        m = bus_pb2.MetricsMessage(test_id=test_id, driver_id=self.id, final=True, error=error, attempt=attempt)
        await self._send("metrics", m, f"could not report refusal of {test_id}")

    def _publisher(self, attempt: int):
        """Publishes a run's metrics, marked with its start attempt."""

        async def publish(m: bus_pb2.MetricsMessage) -> None:
            m.attempt = attempt
            await self.bus.publish("metrics", self.id, m.SerializeToString())

        return publish

    # -- fleet messages --------------------------------------------------------------------------

    def on_config(self, value: bytes) -> None:
        config = bus_pb2.TestConfigMessage.FromString(value)
        ids = list(config.driver_ids)
        attempt = config.attempt
        if self.id not in ids and config.HasField("spec") and len(config.spec.data_files) > 0:
            self.intake.ignore(config.test_id, attempt)
        if self.id not in ids or not config.HasField("spec") or self._is_over(config.test_id, attempt) or self.refused:
            return
        if self.stopping:
            self._spawn(self._refuse(config.test_id, f"driver {self.id} is shutting down", attempt))
            return
        if self.armed:
            held = self.armed
            same = held.config.test_id == config.test_id
            if same and attempt > held.config.attempt and held.done is None:
                # A retried start of the test it was armed for: the earlier attempt is given up.
                if held.arm_timer is not None:
                    held.arm_timer.cancel()
                self._mark_over(config.test_id, held.config.attempt)
                self.armed = None
            else:
                if not same:
                    self._spawn(self._refuse(config.test_id, f"driver {self.id} is busy with test {held.config.test_id}", attempt))
                elif attempt > held.config.attempt:
                    self._spawn(self._refuse(config.test_id, f"driver {self.id} is still running start attempt {held.config.attempt} of test {config.test_id}", attempt))
                return
        def make_run(data=None) -> TestRun:
            return TestRun(
                config.test_id,
                self.id,
                config.spec,
                ids.index(self.id),
                len(ids),
                self._publisher(attempt),
                self.log,
                self.tap,
                self.flush_samples,
                data,
            )

        run: Optional[TestRun] = None
        with_data = len(config.spec.data_files) > 0
        if not with_data:
            try:
                run = make_run()
            except Exception as err:  # noqa: BLE001
                self._spawn(self._refuse(config.test_id, f"driver {self.id} cannot run the test: {err}", attempt))
                return
        entry = _Armed(config, run)
        self._arm(entry, ARM_TIMEOUT_MS + (data_ready_deadline_ms(config.spec.data_files) if with_data else 0))
        self.armed = entry
        self._spawn(self._beat())
        if with_data:
            self.intake.expect(config, lambda got: self._on_data(entry, got, make_run))
        early = self._early.pop(config.test_id, None)
        if early is not None and early.attempt == attempt:
            self._on_trigger(early)

    def _on_data(self, entry: _Armed, got: Intake, make_run) -> None:
        """This driver holds its part of the data files (or cannot): the run is made, and the orchestrator told."""
        if self.armed is not entry:
            return
        error = f"driver {self.id} could not assemble its part: {got}" if isinstance(got, str) else ""
        rows = {} if isinstance(got, str) else got[1]
        if not isinstance(got, str):
            try:
                entry.run = make_run(got[0])
                self._arm(entry, ARM_TIMEOUT_MS)
            except Exception as err:  # noqa: BLE001
                error = f"driver {self.id} cannot run the test: {err}"
        config = entry.config
        m = bus_pb2.DataReadyMessage(test_id=config.test_id, driver_id=self.id, attempt=config.attempt, rows=rows, error=error)
        self._spawn(self._send("data_ready", m, f"could not confirm its data of {config.test_id}"))

    def _arm(self, entry: _Armed, ms: int) -> None:
        """Drops an armed test that gets no trigger within `ms`."""
        config = entry.config
        attempt = config.attempt
        if entry.arm_timer is not None:
            entry.arm_timer.cancel()

        def arm_timeout() -> None:
            if self.armed is entry and entry.done is None:
                self.log(f"driver {self.id}: no trigger for test {config.test_id} within {ms} ms; ready again")
                self.armed = None
                self._mark_over(config.test_id, attempt)
                self.intake.drop(config.test_id, attempt)
                self._spawn(self._refuse(config.test_id, f"driver {self.id} got no trigger within {ms} ms", attempt))
                self._spawn(self._beat())

        entry.arm_timer = asyncio.get_running_loop().call_later(ms / 1000, arm_timeout)

    def on_trigger(self, value: bytes) -> None:
        self._on_trigger(bus_pb2.TriggerMessage.FromString(value))

    def _on_trigger(self, trigger: bus_pb2.TriggerMessage) -> None:
        if trigger.action == bus_pb2.TRIGGER_ACTION_REFUSE:
            if trigger.instance_id != self.instance_id or self.refused:
                return
            self.refused = True
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            self.log(f"driver {self.id}: refused by the orchestrator: {trigger.reason}")
            if self.on_refused is not None:
                self.on_refused(trigger.reason)
            return
        if trigger.action == bus_pb2.TRIGGER_ACTION_CLOCK_PROBE:
            if trigger.HasField("sent_at"):
                self._probe = (trigger.sent_at, timestamp_at(now_ms()))
            return
        if self.refused:
            return
        entry = self.armed
        attempt = trigger.attempt
        # A CANCEL stops its attempt and earlier ones; START and RESHARE belong to one attempt.
        applies = entry is not None and entry.config.test_id == trigger.test_id and (
            (attempt == 0 or attempt >= entry.config.attempt)
            if trigger.action == bus_pb2.TRIGGER_ACTION_CANCEL
            else attempt == entry.config.attempt
        )
        if not applies:
            # Maybe its config is still on its way (topics are not ordered with each other).
            if trigger.action == bus_pb2.TRIGGER_ACTION_START and not self._is_over(trigger.test_id, attempt):
                self._remember(self._early, trigger.test_id, trigger)
            elif trigger.action == bus_pb2.TRIGGER_ACTION_CANCEL:
                early = self._early.get(trigger.test_id)
                if early is not None and (attempt == 0 or early.attempt <= attempt):
                    del self._early[trigger.test_id]
                self._mark_over(trigger.test_id, attempt)
            return
        assert entry is not None
        if trigger.action == bus_pb2.TRIGGER_ACTION_CANCEL:
            if entry.run is not None:
                entry.run.cancel()
            if entry.done is None:
                self.intake.drop(trigger.test_id, entry.config.attempt)
                # Cancelled before it started: an empty final so the orchestrator is not left waiting.
                if entry.arm_timer is not None:
                    entry.arm_timer.cancel()
                self.armed = None
                self._mark_over(trigger.test_id, entry.config.attempt)

                async def refuse_then_beat() -> None:
                    await self._refuse(trigger.test_id, "", entry.config.attempt)
                    await self._beat()

                self._spawn(refuse_then_beat())
            return
        if trigger.action == bus_pb2.TRIGGER_ACTION_RESHARE:
            if entry.run is None:
                return
            since = ms_of(trigger.start_at) if trigger.HasField("start_at") else now_ms()
            if not entry.run.reshare(list(trigger.driver_ids), since):
                self.log(f"driver {self.id}: test {trigger.test_id} was re-split without this driver")
            return
        if trigger.action != bus_pb2.TRIGGER_ACTION_START or entry.done is not None:
            return
        if entry.run is None:
            # The orchestrator starts only once every driver confirmed its data: this one did not.
            self.log(f"driver {self.id}: START of test {trigger.test_id} before its data arrived; not run")
            if entry.arm_timer is not None:
                entry.arm_timer.cancel()
            self.armed = None
            self._mark_over(trigger.test_id, entry.config.attempt)
            self._spawn(self._refuse(trigger.test_id, f"driver {self.id} was started before it held its part of the data files", entry.config.attempt))
            return
        run = entry.run
        if entry.arm_timer is not None:
            entry.arm_timer.cancel()
        start_at = ms_of(trigger.start_at) if trigger.HasField("start_at") else now_ms()

        async def run_then_ready() -> None:
            try:
                await run.run(start_at)
            finally:
                self._mark_over(entry.config.test_id, entry.config.attempt)
                if self.armed is entry:
                    self.armed = None
                await self._beat()

        entry.done = self._spawn(run_then_ready())

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self) -> None:
        """Subscribes to the fleet topics (positioned), registers and starts heartbeating."""
        await self.bus.subscribe_fleet({"test_config": self.on_config, "trigger": self.on_trigger, "data": self.intake.on_chunk})
        reg = bus_pb2.RegisterMessage(
            driver_id=self.id,
            instance_id=self.instance_id,
            host=socket.gethostname(),
            address=self.address,
            version=VERSION,
            sent_at=timestamp_at(now_ms()),
        )
        await self.bus.publish("register", self.id, reg.SerializeToString())
        self._heartbeat = asyncio.create_task(self._heartbeats())
        self._spawn(self._beat())

    async def stop(self, deadline_ms: float = 4000) -> None:
        """Leaves the fleet: a running test is stopped and its final published first, then the
        driver registers with leaving=true. The wait for the final is cut at deadline_ms."""
        self.stopping = True
        current = self.armed
        if current is not None:
            if current.run is not None:
                current.run.cancel(f"driver {self.id} shut down during the run")
            if current.arm_timer is not None:
                current.arm_timer.cancel()
            if current.done is None:
                self.armed = None
                await self._refuse(current.config.test_id, f"driver {self.id} shut down before the start", current.config.attempt)
            else:
                await asyncio.wait([current.done], timeout=deadline_ms / 1000)
            if current.run is not None:
                current.run.abandon()
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        leave = bus_pb2.RegisterMessage(driver_id=self.id, instance_id=self.instance_id, leaving=True, sent_at=timestamp_at(now_ms()))
        await self._send("register", leave, "could not announce leaving")
