"""Writes the Python-encoded histogram vectors into proto/testdata/ (the other direction of the
shared vectors: TypeScript decodes these, Python decodes the TypeScript ones).

    python python/tests/write_py_histograms.py [--check]

Each ``py-histogram-NAME.hdr`` is the raw HdrHistogram compressed encoding (V2) that the
``hdrhistogram`` package writes for a histogram of Kannon's layout (1 µs .. 3,600,000,000 µs,
3 significant digits); ``py-histograms.json`` says what Python reads back from each file: count,
min, max and HdrHistogram_py's own p50/p90/p99/p99.9. Values come from a seeded integer generator,
so the counts are the same on every run. The sample counts are chosen so that HdrHistogram_py's
rank rule (round half up) and hdr-histogram-js's (round up) pick the same rank for every
percentile given; the script refuses to write a histogram where they would not.

``--check`` writes nothing and exits 1 when the committed files hold other counts or numbers
(the deflate stream itself may differ between zlib builds; its inflated content may not).
"""

import base64
import json
import math
import os
import sys
import zlib

from hdrh.histogram import HdrHistogram

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
TESTDATA = os.path.join(ROOT, "proto", "testdata")
MANIFEST = "py-histograms.json"
PERCENTILES = (50, 90, 99, 99.9)
HIGHEST_TRACKABLE_US = 3_600_000_000


def generator(seed):
    """mulberry32 in 32-bit integer arithmetic (the same generator as scripts/test-vectors.ts)."""
    state = seed & 0xFFFFFFFF

    def imul(a, b):
        return (a * b) & 0xFFFFFFFF

    def next_value():
        nonlocal state
        state = (state + 0x6D2B79F5) & 0xFFFFFFFF
        t = state
        t = imul(t ^ (t >> 15), t | 1)
        t ^= (t + imul(t ^ (t >> 7), t | 61)) & 0xFFFFFFFF
        return (t ^ (t >> 14)) & 0xFFFFFFFF

    return next_value


def latency_samples(seed, n):
    """~0.5-4 ms with a 5 % tail at 2-60x and 0.2 % at 100-400x, in integer µs."""
    nxt = generator(seed)
    out = []
    for _ in range(n):
        body = 500 + nxt() % 3500
        tail = nxt() % 1000
        if tail < 2:
            body *= 100 + nxt() % 300
        elif tail < 52:
            body *= 2 + nxt() % 58
        out.append(body)
    return out


def wide_samples(seed, n):
    """Every decade from 1 µs to the highest trackable value."""
    nxt = generator(seed)
    return [min(HIGHEST_TRACKABLE_US, max(1, ((1000 + nxt() % 9000) * 10 ** (nxt() % 10)) // 1000)) for _ in range(n)]


def kannon_histogram():
    return HdrHistogram(1, HIGHEST_TRACKABLE_US, 3)


def js_rank(percentile, count):
    """hdr-histogram-js 3's rank: max(1, ceil(p/100 * count - ulp)), with its ulp (2^(floor(log2 x) - 52))."""
    fp = (min(percentile, 100) / 100.0) * count
    if fp == 0:
        return 1
    exponent = math.frexp(fp)[1] - 1  # floor(log2(fp)), exactly
    return max(1, math.ceil(fp - math.ldexp(1.0, exponent - 52)))


def value_at_rank(histogram, rank):
    """The highest equivalent value of the bucket where the cumulative count first reaches rank."""
    total = 0
    for index in range(histogram.counts_len):
        total += histogram.get_count_at_index(index)
        if total >= rank:
            return histogram.get_highest_equivalent_value(histogram.get_value_from_index(index))
    return 0


HISTOGRAMS = [
    ("latency", "10,000 latencies of a typical interval", lambda h: [h.record_value(v) for v in latency_samples(0x70797468, 10_000)]),
    ("wide", "2,000 values in every decade from 1 µs to one hour", lambda h: [h.record_value(v) for v in wide_samples(0x77696465, 2_000)]),
    (
        "large-counts",
        "64-bit counts: two buckets above 2^32, a total of 10^12",
        lambda h: [h.record_value(v, c) for v, c in ((2, 5), (733, 10**12 - 2**32 - 10), (4095, 2**32 + 3), (HIGHEST_TRACKABLE_US, 2))],
    ),
    ("empty", "a histogram with no values, encoded", lambda h: None),
]


def summary(histogram):
    """What Python reads from a decoded histogram, with HdrHistogram_py's own percentiles."""
    count = histogram.get_total_count()
    for p in PERCENTILES:
        if count and histogram.get_target_count_at_percentile(p) != js_rank(p, count):
            raise ValueError(f"p{p} of {count} values: HdrHistogram_py and hdr-histogram-js pick different ranks; choose another count")
    return {
        "count": count,
        "min": histogram.get_min_value() if count else 0,
        "max": histogram.get_max_value() if count else 0,
        "percentiles": {format(p, "g"): histogram.get_value_at_percentile(p) if count else 0 for p in PERCENTILES},
    }


def render():
    """File name -> bytes of every file this script writes."""
    files = {}
    entries = []
    for name, description, record in HISTOGRAMS:
        histogram = kannon_histogram()
        record(histogram)
        raw = base64.b64decode(histogram.encode())
        file = f"py-histogram-{name}.hdr"
        files[file] = raw
        entries.append({"file": file, "description": description, **summary(HdrHistogram.decode(base64.b64encode(raw)))})
    manifest = {
        "about": "Histograms encoded by Python's hdrhistogram package (python/tests/write_py_histograms.py); "
        "count, min, max and percentiles as HdrHistogram_py reads them back. See README.md.",
        "histograms": entries,
    }
    files[MANIFEST] = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    return files


def inflated(encoded):
    """The 8-byte header and the inflated payload of an encoded histogram (what zlib builds agree on)."""
    return encoded[:4], zlib.decompress(encoded[8:])


def differences(files):
    """Files on disk that do not hold what render() makes."""
    out = []
    for file, data in files.items():
        path = os.path.join(TESTDATA, file)
        if not os.path.exists(path):
            out.append(f"missing: proto/testdata/{file}")
            continue
        with open(path, "rb") as f:
            disk = f.read()
        same = inflated(disk) == inflated(data) if file.endswith(".hdr") else disk == data
        if not same:
            out.append(f"differs: proto/testdata/{file}")
    return out


def main(argv):
    files = render()
    if "--check" in argv:
        problems = differences(files)
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    for file, data in files.items():
        with open(os.path.join(TESTDATA, file), "wb") as f:
            f.write(data)
    print(f"wrote {len(files)} files into proto/testdata/")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
