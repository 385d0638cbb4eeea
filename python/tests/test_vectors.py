"""The shared data-plane vectors (proto/testdata/, see its README.md), read by Python.

    python -m unittest discover -s python/tests -p 'test_vectors.py'

Every vector decodes with the generated classes (python/kannon_gen), re-encodes with
SerializeToString(deterministic=True) to the same bytes, matches its proto JSON, and its
histograms decode with the ``hdrhistogram`` package to the numbers hdr-histogram-js gave. The
Python-encoded histograms (py-histogram-*.hdr, written by write_py_histograms.py) are checked to be
what that script makes; test/vectors.test.ts decodes them in TypeScript.

Run under both protobuf backends (test/vectors.test.ts does): the default upb, and the pure-Python
one (PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION=python). They differ in one thing the vectors show:
upb writes the entries of an integer-keyed map in descending key order, even when deterministic;
the pure-Python backend, protobuf-es (for these vectors) and the README's rule write them ascending.
"""

import base64
import json
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.dirname(HERE))  # python/: the kannon_gen package

import kannon_gen  # noqa: E402,F401  (puts the generated package on sys.path)
from google.protobuf import descriptor_pool, json_format, message_factory  # noqa: E402
from google.protobuf.descriptor import FieldDescriptor  # noqa: E402
from google.protobuf.internal import api_implementation  # noqa: E402
from hdrh.histogram import HdrHistogram  # noqa: E402
from kannon.v1 import bus_pb2  # noqa: E402

import write_py_histograms as writer  # noqa: E402

TESTDATA = writer.TESTDATA
with open(os.path.join(TESTDATA, "vectors.json"), encoding="utf-8") as _f:
    MANIFEST = json.load(_f)
BACKEND = api_implementation.Type()


def read(name):
    with open(os.path.join(TESTDATA, name), "rb") as f:
        return f.read()


def message_class(type_name):
    return message_factory.GetMessageClass(descriptor_pool.Default().FindMessageTypeByName(type_name))


# --- a minimal wire reader, to state exactly how upb orders map entries -------------------------


def read_varint(data, i):
    shift = value = 0
    while True:
        b = data[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def top_level_fields(data):
    """[(field number, the field's bytes from its tag to its end)] in wire order."""
    out = []
    i = 0
    while i < len(data):
        start = i
        tag, i = read_varint(data, i)
        wire_type = tag & 7
        if wire_type == 0:
            _, i = read_varint(data, i)
        elif wire_type == 1:
            i += 8
        elif wire_type == 2:
            length, i = read_varint(data, i)
            i += length
        elif wire_type == 5:
            i += 4
        else:
            raise ValueError(f"unexpected wire type {wire_type}")
        out.append((tag >> 3, data[start:i]))
    return out


def map_entry_key(field_bytes):
    """The integer key of one map entry (key is field 1, a varint)."""
    _, i = read_varint(field_bytes, 0)  # tag
    _, i = read_varint(field_bytes, i)  # length
    key_tag, i = read_varint(field_bytes, i)
    assert key_tag == (1 << 3), "map entry without its key first"
    key, _ = read_varint(field_bytes, i)
    return key


INTEGER_KEY_TYPES = {
    FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_UINT64,
    FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_FIXED32, FieldDescriptor.TYPE_FIXED64,
    FieldDescriptor.TYPE_SFIXED32, FieldDescriptor.TYPE_SFIXED64,
}


def integer_map_fields(descriptor):
    return {
        f.number
        for f in descriptor.fields
        if f.message_type is not None and f.message_type.GetOptions().map_entry and f.message_type.fields_by_name["key"].type in INTEGER_KEY_TYPES
    }


def with_integer_map_order(data, descriptor, descending):
    """The same bytes with each top-level integer-keyed map's entries in the given key order."""
    numbers = integer_map_fields(descriptor)
    fields = top_level_fields(data)
    out = []
    k = 0
    while k < len(fields):
        number, raw = fields[k]
        if number not in numbers:
            out.append(raw)
            k += 1
            continue
        run = []
        while k < len(fields) and fields[k][0] == number:
            run.append(fields[k][1])
            k += 1
        out.extend(sorted(run, key=map_entry_key, reverse=descending))
    return b"".join(out)


def backend_writes_integer_keys_descending():
    """Asks this protobuf backend how it orders an integer-keyed map's entries."""
    m = bus_pb2.MetricsMessage()
    for key in (200, 7, 503):
        m.status_counts[key] = 1
    keys = [map_entry_key(raw) for _, raw in top_level_fields(m.SerializeToString(deterministic=True))]
    if keys == [7, 200, 503]:
        return False
    if keys == [503, 200, 7]:
        return True
    raise AssertionError(f"backend {BACKEND} writes integer map keys in neither order: {keys}")


# --- histograms ---------------------------------------------------------------------------------


def decode_histogram(data):
    # HdrHistogram_py's decode takes the base64 of the compressed bytes.
    return HdrHistogram.decode(base64.b64encode(data))


class VectorTest(unittest.TestCase):
    def test_manifest_lists_every_vector(self):
        on_disk = sorted(f for f in os.listdir(TESTDATA) if f.endswith(".binpb"))
        self.assertEqual(on_disk, sorted(v["binary"] for v in MANIFEST["vectors"]))
        types = {v["type"] for v in MANIFEST["vectors"]}
        for t in ("RegisterMessage", "HeartbeatMessage", "TestConfigMessage", "TriggerMessage", "MetricsMessage"):
            self.assertIn(f"kannon.v1.{t}", types)

    def test_reencode_byte_for_byte(self):
        descending = backend_writes_integer_keys_descending()
        if BACKEND == "python":
            self.assertFalse(descending, "the pure-Python backend sorts map keys ascending")
        reordered = []
        for v in MANIFEST["vectors"]:
            with self.subTest(vector=v["name"], backend=BACKEND):
                cls = message_class(v["type"])
                data = read(v["binary"])
                message = cls.FromString(data)
                out = message.SerializeToString(deterministic=True)
                # The vectors hold ascending keys (the README's rule); a backend writing integer keys
                # descending must give exactly those bytes with only those entries reversed.
                self.assertEqual(with_integer_map_order(data, cls.DESCRIPTOR, descending=False), data, "vector breaks the ascending-key rule")
                expected = with_integer_map_order(data, cls.DESCRIPTOR, descending) if descending else data
                self.assertEqual(out.hex(), expected.hex())
                if expected != data:
                    reordered.append(v["name"])
                # Parsing what this backend wrote gives the same message.
                self.assertEqual(cls.FromString(out), message)
        if descending:
            # Every vector with two or more status codes differs from protobuf-es by map order only.
            self.assertIn("metrics_status_and_errors", reordered)
            self.assertIn("metrics_large_counts", reordered)

    def test_json_matches(self):
        for v in MANIFEST["vectors"]:
            with self.subTest(vector=v["name"]):
                cls = message_class(v["type"])
                message = cls.FromString(read(v["binary"]))
                with open(os.path.join(TESTDATA, v["json"]), encoding="utf-8") as f:
                    text = f.read()
                expected = json.loads(text)
                self.assertEqual(json_format.MessageToDict(message), expected)
                self.assertEqual(json.loads(json_format.MessageToJson(message)), expected)
                # And from the JSON side: the same message.
                self.assertEqual(json_format.Parse(text, cls()), message)

    def test_large_numbers_survive_both_ways(self):
        m = bus_pb2.MetricsMessage.FromString(read("metrics_large_counts.binpb"))
        self.assertEqual(m.seq, 2**64 - 1)
        self.assertEqual(m.start_skew_us, 2**63 - 1)
        self.assertEqual(dict(m.status_counts), {200: 2**64 - 1, 500: 2**53 + 1})
        self.assertEqual(bus_pb2.MetricsMessage.FromString(read("metrics_int64_min_skew.binpb")).start_skew_us, -(2**63))
        u = bus_pb2.MetricsMessage.FromString(read("metrics_unicode_ids.binpb"))
        self.assertEqual(u.driver_id, "驱动器-😀-01")
        # UTF-8 byte order (= code point order): U+FF61 before U+1F525.
        keys = list(json.loads(read("metrics_unicode_ids.json"))["errorCounts"])
        self.assertEqual(keys, sorted(keys))
        self.assertLess(keys.index("｡halfwidth"), keys.index("🔥 overheated"))

    def test_histograms_decode_to_the_manifest_percentiles(self):
        rule_differs = []
        checked = 0
        for v in MANIFEST["vectors"]:
            if "histograms" not in v:
                continue
            message = message_class(v["type"]).FromString(read(v["binary"]))
            for field, expected in v["histograms"].items():
                with self.subTest(vector=v["name"], field=field):
                    h = decode_histogram(getattr(message, field))
                    count = h.get_total_count()
                    self.assertEqual(count, expected["count"])
                    self.assertEqual(h.get_min_value() if count else 0, expected["min"])
                    self.assertEqual(h.get_max_value() if count else 0, expected["max"])
                    for p_text, value in expected["percentiles"].items():
                        p = float(p_text)
                        if count == 0:
                            self.assertEqual(h.get_value_at_percentile(p), value)
                            continue
                        # hdr-histogram-js's rank, read from Python's own buckets: exactly the TS value.
                        self.assertEqual(writer.value_at_rank(h, writer.js_rank(p, count)), value, f"p{p_text}")
                        # HdrHistogram_py's own answer is the same bucket rule at its own rank.
                        py_rank = h.get_target_count_at_percentile(p)
                        native = h.get_value_at_percentile(p)
                        self.assertEqual(native, writer.value_at_rank(h, py_rank))
                        if py_rank == writer.js_rank(p, count):
                            self.assertEqual(native, value, f"p{p_text}")
                        elif native != value:
                            rule_differs.append((v["name"], field, p_text, py_rank, native, value))
                    checked += 1
        self.assertGreaterEqual(checked, 10)
        # The rank rules do differ where it shows (README): 1983 values, p99 -> rank 1963 vs 1964.
        self.assertIn(("metrics_status_and_errors", "latency_histogram", "99", 1963, 107519, 109823), rule_differs)

    def test_python_encoded_histograms_are_what_the_writer_makes(self):
        problems = writer.differences(writer.render())
        self.assertEqual(problems, [])
        with open(os.path.join(TESTDATA, writer.MANIFEST), encoding="utf-8") as f:
            manifest = json.load(f)
        self.assertEqual(len(manifest["histograms"]), len(writer.HISTOGRAMS))
        for entry in manifest["histograms"]:
            with self.subTest(file=entry["file"]):
                data = read(entry["file"])
                self.assertEqual(data[:4].hex(), "1c849314")  # V2 compressed cookie
                got = writer.summary(decode_histogram(data))
                self.assertEqual(got, {k: entry[k] for k in ("count", "min", "max", "percentiles")})



class RecorderSplitTest(unittest.TestCase):
    """proto/testdata/recorder_split.json: the failed-request rule gives the histograms the
    TypeScript recorder gives (metrics/outcome.test.ts reads the same file)."""

    def test_recorder_keeps_failed_requests_apart(self):
        from kannon_driver.recorder import IntervalRecorder

        with open(os.path.join(TESTDATA, "recorder_split.json"), encoding="utf-8") as f:
            cases = json.load(f)["cases"]
        self.assertGreaterEqual(len(cases), 2)

        def summary(data):
            if not data:
                return {"count": 0, "min": 0, "max": 0}
            h = decode_histogram(data)
            n = h.get_total_count()
            return {"count": n, "min": h.get_min_value() if n else 0, "max": h.get_max_value() if n else 0}

        for case in cases:
            with self.subTest(case=case["name"]):
                r = IntervalRecorder(case["scheduled"])
                for what, scheduled, sent, end in case["requests"]:
                    if isinstance(what, int):
                        r.response(what, 0, scheduled, sent, end)
                    else:
                        r.error(what, scheduled, sent, end)
                s = r.take()
                got = {
                    "requests": s.requests,
                    "latency": summary(s.latency_histogram),
                    "service_time": summary(s.service_time_histogram),
                    "failed_latency": summary(s.failed_latency_histogram),
                }
                self.assertEqual(got, case["expected"])


if __name__ == "__main__":
    unittest.main()
