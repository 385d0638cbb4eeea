"""proto/testdata/scenarios.json held against the Python driver's scenario modules (the same vectors
scenario/vectors.test.ts holds the TypeScript ones to), plus what the translation of JavaScript
regular expressions must keep.

    python -m unittest discover -s python/tests -p 'test_scenario_*.py'
"""
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # python/: kannon_driver and kannon_gen

import kannon_gen  # noqa: E402,F401
from google.protobuf import json_format  # noqa: E402
from kannon.v1 import scenario_pb2  # noqa: E402

from kannon_driver.json_path import NOTHING, JsonPathError, compile_json_path, query_json  # noqa: E402
from kannon_driver.response import ResponseView, compile_capture, compile_check, compile_safe_regex, js_number_text  # noqa: E402
from kannon_driver.template import RenderContext, SmoothWeighted, TemplateScope, compile_template, render_template  # noqa: E402

with open(os.path.join(os.path.dirname(os.path.dirname(HERE)), "proto", "testdata", "scenarios.json"), encoding="utf-8") as _f:
    V = json.load(_f)


def js_json(v):
    """A vector's expected JSON value as JSON.parse would give it (every number a double)."""
    return json.loads(json.dumps(v), parse_int=float)


class ScenarioVectors(unittest.TestCase):
    def test_weighted_sequences(self):
        self.assertGreater(len(V["weighted"]["cases"]), 0)
        for c in V["weighted"]["cases"]:
            s = SmoothWeighted(c["weights"])
            self.assertEqual([s.next() for _ in c["picks"]], c["picks"], c["weights"])

    def test_templates(self):
        t = V["templates"]
        ctx = t["context"]
        scope = TemplateScope(set(t["scope"]["columns"]), set(t["scope"]["vars"]))
        for r in t["render"]:
            draws = list(ctx["randInt"])

            def rand_int(lo, hi, draws=draws):
                v = draws.pop(0)
                self.assertTrue(lo <= v <= hi, f"{v} in {lo}..{hi}")
                return v

            compiled = compile_template(r["template"], "f", scope)
            self.assertNotIsInstance(compiled, list, r["template"])
            out = render_template(
                compiled,
                RenderContext(ctx["row"], ctx["vars"], ctx["driverId"], ctx["iteration"], lambda: ctx["nowMs"], lambda: ctx["uuid"], rand_int),
            )
            self.assertEqual(out, r["out"], r["template"])
        for e in t["errors"]:
            compiled = compile_template(e["template"], "f", scope)
            self.assertIsInstance(compiled, list, e["template"])
            at = [int(p.split("at character ")[1].split(":")[0].split(" ")[0]) for _, p in compiled]
            self.assertEqual(at, e["at"], e["template"])

    def test_json_path(self):
        doc = js_json(V["jsonPath"]["document"])
        for q in V["jsonPath"]["queries"]:
            found = query_json(compile_json_path(q["query"]), doc)
            if q.get("found") is False:
                self.assertIs(found, NOTHING, q["query"])
            else:
                self.assertIsNot(found, NOTHING, q["query"])
                self.assertEqual(found, js_json(q["value"]), q["query"])
        for e in V["jsonPath"]["errors"]:
            with self.assertRaises(JsonPathError, msg=e["query"]) as ctx:
                compile_json_path(e["query"])
            self.assertEqual(ctx.exception.position, e["at"], e["query"])

    def response(self, name):
        r = V["responses"]["responses"][name]
        return ResponseView(r["status"], r["headers"], r["body"].encode("utf-8"), r["latencyMs"])

    def test_checks(self):
        for c in V["responses"]["checks"]:
            problems = []
            compiled = compile_check(json_format.ParseDict(c["check"], scenario_pb2.Check()), "f", problems)
            self.assertEqual(problems, [], c["check"])
            self.assertEqual(compiled(self.response(c["response"])), c["pass"], c["check"])

    def test_captures(self):
        for c in V["responses"]["captures"]:
            problems = []
            compiled = compile_capture(json_format.ParseDict(c["capture"], scenario_pb2.Capture()), "f", problems)
            self.assertEqual(problems, [], c["capture"])
            self.assertEqual(compiled(self.response(c["response"])), c["value"], c["capture"])


class Translation(unittest.TestCase):
    def test_numbers_as_javascript_writes_them(self):
        cases = {0.1: "0.1", 1e21: "1e+21", 1e20: "100000000000000000000", 1.5e-7: "1.5e-7", 1e-6: "0.000001", -2.0: "-2", 123.456: "123.456", 5e-324: "5e-324"}
        for x, text in cases.items():
            self.assertEqual(js_number_text(x), text, repr(x))

    def test_regex_keeps_javascript_meaning(self):
        def search(p, s):
            rx = compile_safe_regex(p)
            self.assertNotIsInstance(rx, str, p)
            return rx.search(s) is not None

        self.assertFalse(search(r"^\d$", "\u0663"))  # JS \d is ASCII only
        self.assertFalse(search(r"^\w$", "é"))
        self.assertTrue(search(r"^\s$", "\u00a0"))  # JS \s is Unicode whitespace
        self.assertFalse(search(r"^a$", "a\n"))  # JS $ is the end of the input only
        self.assertFalse(search(r"^.$", "\r"))
        self.assertTrue(search(r"(?<n>x)y", "xy"))
        self.assertTrue(search(r"^\u{1F600}$", "\U0001F600"))
        self.assertTrue(search(r"^[\s]$", "\u3000"))

    def test_regex_refusals(self):
        for p in [r"(a+)+", r"(a|aa)*", r"(x)\1", r"(?=a)", r"\p{L}"]:
            self.assertIsInstance(compile_safe_regex(p), str, p)


if __name__ == "__main__":
    unittest.main()
