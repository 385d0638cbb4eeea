"""The Python driver's scenario engine on its own: the data intake (topic `data`), the data cursor,
and iterations against a local aiohttp server (127.0.0.1, a bounded number of iterations) whose own
counts are the expected values.

    python -m unittest discover -s python/tests -p 'test_scenario_*.py'
"""
import asyncio
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import kannon_gen  # noqa: E402,F401
from aiohttp import web  # noqa: E402
from kannon.v1 import bus_pb2, scenario_pb2, test_pb2  # noqa: E402

from kannon_driver.clock import now_ms  # noqa: E402
from kannon_driver.data_intake import DataIntake  # noqa: E402
from kannon_driver.recorder import decode_histogram  # noqa: E402
from kannon_driver.scenario import DataCursor, DataTable, ScenarioRecorder, compile_scenarios, parts_of  # noqa: E402
from kannon_driver.scenario_firer import ScenarioFirer  # noqa: E402


def chunk(driver, seq, total, values, rows, part_rows, file="users", attempt=1):
    return bus_pb2.DataChunkMessage(
        test_id="t", attempt=attempt, driver_id=driver, file=file, columns=["user", "n"], values=values, rows=rows, seq=seq, total=total, part_rows=part_rows
    ).SerializeToString()


def config(attempt=1):
    spec = test_pb2.TestSpec(data_files=[scenario_pb2.DataFile(name="users", format=scenario_pb2.DATA_FORMAT_CSV)])
    return bus_pb2.TestConfigMessage(test_id="t", attempt=attempt, driver_ids=["me"], spec=spec)


class Intake(unittest.TestCase):
    def test_assembles_its_own_chunks_in_order_once_all_are_there(self):
        intake = DataIntake("me")
        got = []
        intake.on_chunk(chunk("me", 1, 2, ["c", "3"], 1, 3))  # before the config: kept
        intake.on_chunk(chunk("other", 0, 1, ["x", "9"], 1, 1))  # another driver's part: dropped
        intake.expect(config(), got.append)
        self.assertEqual(got, [])
        intake.on_chunk(chunk("me", 0, 2, ["a", "1", "b", "2"], 2, 3))
        self.assertEqual(len(got), 1)
        data, rows = got[0]
        self.assertEqual(rows, {"users": 3})
        self.assertEqual(data["users"].columns, ["user", "n"])
        self.assertEqual(data["users"].rows, [["a", "1"], ["b", "2"], ["c", "3"]])
        intake.on_chunk(chunk("me", 0, 2, ["a", "1", "b", "2"], 2, 3))  # a redelivery: nothing more
        self.assertEqual(len(got), 1)

    def test_chunks_that_do_not_add_up_are_an_error(self):
        intake = DataIntake("me")
        got = []
        intake.expect(config(), got.append)
        intake.on_chunk(chunk("", 0, 1, ["a", "1", "b"], 2, 2))
        self.assertEqual(len(got), 1)
        self.assertIsInstance(got[0], str)
        self.assertIn("3 values for 2 row(s) of 2 column(s)", got[0])


class Cursor(unittest.TestCase):
    def test_sequential_wraps_and_stop_ends(self):
        t = DataTable(["u"], [["a"], ["b"]])
        wrap = DataCursor(t, scenario_pb2.DATA_ORDER_SEQUENTIAL, scenario_pb2.ON_EXHAUSTED_WRAP)
        self.assertEqual([wrap.next() for _ in range(5)], [["a"], ["b"], ["a"], ["b"], ["a"]])
        stop = DataCursor(t, scenario_pb2.DATA_ORDER_SHUFFLE, scenario_pb2.ON_EXHAUSTED_STOP)
        taken = [stop.next() for _ in range(3)]
        self.assertEqual(sorted(taken[:2]), [["a"], ["b"]])
        self.assertIsNone(taken[2])


def flow_spec(target):
    login = scenario_pb2.Step(
        name="login",
        method="POST",
        url="/login",
        body='{"user":"{{row.user}}"}',
        captures=[scenario_pb2.Capture(name="token", json_path="$.token")],
        checks=[scenario_pb2.Check(name="ok", status=scenario_pb2.StatusCheck(codes=[200]))],
        on_capture_missing=scenario_pb2.CAPTURE_MISSING_ABORT_ITERATION,
    )
    item = scenario_pb2.Step(
        name="item",
        url="/item",
        headers={"authorization": "Bearer {{token}}"},
        checks=[scenario_pb2.Check(name="priced", json_path=scenario_pb2.JsonPathCheck(path="$.price", op=scenario_pb2.JSON_PATH_OP_GREATER, value="0"))],
        think_time=scenario_pb2.ThinkTime(constant_ms=1),
    )
    return test_pb2.TestSpec(
        target_url=target,
        scenarios=[scenario_pb2.Scenario(name="s", weight=1, data_file="users", steps=[login, item])],
        data_files=[scenario_pb2.DataFile(name="users", order=scenario_pb2.DATA_ORDER_SEQUENTIAL, on_exhausted=scenario_pb2.ON_EXHAUSTED_STOP)],
    )


class Iterations(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self):
        self.seen = {"login": 0, "item": 0, "bearers": []}

        async def login(req):
            self.seen["login"] += 1
            user = (await req.json())["user"]
            # "bob" gets no token: the capture finds nothing and the iteration ends there.
            return web.json_response({} if user == "bob" else {"token": f"tk-{user}"})

        async def item(req):
            self.seen["item"] += 1
            self.seen["bearers"].append(req.headers.get("authorization"))
            return web.json_response({"price": 0 if len(self.seen["bearers"]) == 1 else 5})

        app = web.Application()
        app.router.add_post("/login", login)
        app.router.add_get("/item", item)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/"

    async def asyncTearDown(self):
        await self.runner.cleanup()

    async def test_steps_checks_captures_and_rows_as_the_server_saw_them(self):
        spec = flow_spec(self.url)
        cursors = parts_of(spec, {"users": DataTable(["user"], [["ann"], ["bob"], ["cy"]])})
        scenarios, problems = compile_scenarios(spec, lambda n: set(cursors[n].table.columns))
        self.assertEqual(problems, [])
        rec = ScenarioRecorder(False, [["ok"], ["priced"]], 1)
        ended = []
        firer = ScenarioFirer(scenarios, cursors, self.url, "d1", 5000, rec, 2, lambda: ended.append(True))
        try:
            for _ in range(5):  # 3 rows with ON_EXHAUSTED_STOP: the 4th fire ends the part
                await asyncio.wait_for(firer.fire(), 10)
        finally:
            await firer.close()
        self.assertEqual(ended, [True])
        self.assertEqual(firer.exhausted, {"users"})  # the final message's data_exhausted
        s = rec.take()
        self.assertEqual((self.seen["login"], self.seen["item"]), (3, 2))
        self.assertEqual(self.seen["bearers"], ["Bearer tk-ann", "Bearer tk-cy"])
        self.assertEqual(s.requests, 5)
        self.assertEqual(s.status_counts, {200: 5})
        by_step = {st.step_index: st for st in s.steps}
        self.assertEqual(by_step[0].counts.requests, 3)
        self.assertEqual(by_step[0].checks, [("ok", 3, 0)])
        self.assertEqual((by_step[0].capture_missing, by_step[0].aborted_iterations), (1, 1))
        self.assertEqual(by_step[1].counts.requests, 2)
        self.assertEqual(by_step[1].checks, [("priced", 1, 1)])  # the first item answered price 0
        self.assertEqual(decode_histogram(by_step[1].counts.latency_histogram).get_total_count(), 2)
        [sc] = s.scenarios
        self.assertEqual((sc.scenario_index, sc.iterations, sc.aborted), (0, 3, 1))
        self.assertEqual(decode_histogram(sc.iteration_histogram).get_total_count(), 3)

    async def test_open_model_first_step_counts_from_the_scheduled_start_later_steps_from_their_send(self):
        spec = flow_spec(self.url)
        cursors = parts_of(spec, {"users": DataTable(["user"], [["ann"]])})
        scenarios, _ = compile_scenarios(spec, lambda n: set(cursors[n].table.columns))
        rec = ScenarioRecorder(True, [["ok"], ["priced"]], 1)
        firer = ScenarioFirer(scenarios, cursors, self.url, "d1", 5000, rec, None, lambda: None)
        try:
            await asyncio.wait_for(firer.fire(now_ms() - 300), 10)  # an iteration due 300 ms ago
        finally:
            await firer.close()
        s = rec.take()
        by_step = {st.step_index: st for st in s.steps}
        login = decode_histogram(by_step[0].counts.latency_histogram)
        item = decode_histogram(by_step[1].counts.latency_histogram)
        self.assertGreaterEqual(login.get_min_value(), 300_000)  # µs, from the scheduled start
        self.assertLess(decode_histogram(by_step[0].counts.service_time_histogram).get_max_value(), 300_000)
        self.assertLess(item.get_max_value(), 300_000)  # from its own send
        self.assertGreaterEqual(decode_histogram(s.scenarios[0].iteration_histogram).get_min_value(), 300_000)


if __name__ == "__main__":
    unittest.main()
