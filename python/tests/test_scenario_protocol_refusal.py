"""The Python driver refuses what issue 23 added and it does not do (RPCs, HTTP/2, TLS options),
naming each field, before any request: TestRun raises, and the driver sends that reason as its
final MetricsMessage.error (driver.py _refuse).

    python -m unittest discover -s python/tests -p 'test_scenario_*.py'
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

import kannon_gen  # noqa: E402,F401
from kannon.v1 import protocol_pb2, scenario_pb2, test_pb2  # noqa: E402

from kannon_driver.run import TestRun, protocol_problems  # noqa: E402


async def _publish(m):  # never called: the run is refused before it publishes
    raise AssertionError("a refused run published metrics")


def spec(target_url="http://127.0.0.1:1/", **fields):
    return test_pb2.TestSpec(target_url=target_url, avalanche=test_pb2.Avalanche(concurrency=1, requests_per_driver=1), **fields)


def run_of(s):
    return TestRun("t", "py-1", s, 0, 1, _publish, lambda _m: None)


class ProtocolRefusal(unittest.TestCase):
    def test_plain_http11_runs_and_an_https_target_without_options_too(self):
        self.assertEqual(protocol_problems(spec()), [])
        self.assertEqual(protocol_problems(spec(http=protocol_pb2.HttpOptions(version=protocol_pb2.HTTP_VERSION_1_1))), [])
        self.assertEqual(protocol_problems(spec(http=protocol_pb2.HttpOptions(tls=protocol_pb2.TlsOptions()))), [])
        run_of(spec())  # no exception

    def test_every_unsupported_field_is_named_at_once(self):
        s = spec(
            rpc=protocol_pb2.Rpc(service="kannon.target.v1.TargetService", method="Echo"),
            http=protocol_pb2.HttpOptions(version=protocol_pb2.HTTP_VERSION_2, tls=protocol_pb2.TlsOptions(insecure=True)),
        )
        with self.assertRaises(ValueError) as caught:
            run_of(s)
        message = str(caught.exception)
        self.assertTrue(message.startswith("the Python driver cannot run this test: spec.rpc: the Python driver does not send RPCs (Connect, gRPC, gRPC-Web)"), message)
        self.assertIn("spec.http.version: the Python driver speaks HTTP/1.1 only, not HTTP_VERSION_2", message)
        self.assertIn("spec.http.tls: the Python driver has no TLS options", message)
        self.assertEqual(message.count("run this test on TypeScript drivers"), 3)

    def test_an_rpc_step_is_named_by_its_path(self):
        steps = [scenario_pb2.Step(name="plain", url="/a"), scenario_pb2.Step(name="call", rpc=protocol_pb2.Rpc(service="S", method="M"))]
        s = spec(scenarios=[scenario_pb2.Scenario(name="s", weight=1, steps=steps)])
        self.assertEqual(
            protocol_problems(s),
            ["spec.scenarios[0].steps[1].rpc: the Python driver does not send RPCs (Connect, gRPC, gRPC-Web); run this test on TypeScript drivers"],
        )
        with self.assertRaisesRegex(ValueError, r"spec\.scenarios\[0\]\.steps\[1\]\.rpc"):
            run_of(s)

    def test_a_tls_client_certificate_alone_is_refused(self):
        s = spec(target_url="https://127.0.0.1:1/", http=protocol_pb2.HttpOptions(tls=protocol_pb2.TlsOptions(cert_pem="x", key_pem="y")))
        self.assertEqual(len(protocol_problems(s)), 1)
        self.assertTrue(protocol_problems(s)[0].startswith("spec.http.tls:"))


if __name__ == "__main__":
    unittest.main()
