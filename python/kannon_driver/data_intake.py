"""A driver's intake of test data, topic `data` (port of driver/agent/data-intake.ts): it keeps the
chunks addressed to it (or to every driver) of the test attempts it takes part in, assembles its
part of each data file once every chunk is there, and hands the parts over once."""
from __future__ import annotations

from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Tuple, Union

import kannon_gen  # noqa: F401
from kannon.v1 import bus_pb2

from .scenario import DataTable

MAX_EARLY = 4  # attempts whose chunks are kept before their config arrives
MAX_CHUNKS = 100_000

# The parts by file name and the rows held per file, or why they cannot be used.
Intake = Union[Tuple[Dict[str, DataTable], Dict[str, int]], str]


class _Assembly:
    def __init__(self) -> None:
        self.files: Dict[str, List[Optional[bus_pb2.DataChunkMessage]]] = {}
        self.config: Optional[bus_pb2.TestConfigMessage] = None
        self.ready: Optional[Callable[[Intake], None]] = None
        self.problem = ""


def data_ready_deadline_ms(files) -> int:
    """scenario/data.ts dataReadyDeadlineMs: 15 s, and 1 s per MB of the files."""
    total = sum(f.content_bytes for f in files)
    return 15_000 + -(-total // 1_000_000) * 1000


class DataIntake:
    def __init__(self, driver_id: str) -> None:
        self.driver_id = driver_id
        self.assemblies: "OrderedDict[str, _Assembly]" = OrderedDict()
        self.not_mine: "OrderedDict[str, None]" = OrderedDict()

    @staticmethod
    def _key(test_id: str, attempt: int) -> str:
        return f"{attempt}/{test_id}"

    def on_chunk(self, value: bytes) -> None:
        m = bus_pb2.DataChunkMessage.FromString(value)
        if m.driver_id not in ("", self.driver_id):
            return
        key = self._key(m.test_id, m.attempt)
        if key in self.not_mine:
            return
        a = self._assembly(key)
        if a.problem or (a.config is not None and a.ready is None):
            return
        if m.total < 1 or m.total > MAX_CHUNKS or m.seq >= m.total:
            a.problem = f"chunk {m.seq} of {m.total} of data file {m.file} is out of range"
        else:
            chunks = a.files.setdefault(m.file, [None] * m.total)
            if len(chunks) != m.total:
                a.problem = f"the chunks of data file {m.file} disagree on their count ({len(chunks)}, {m.total})"
            elif chunks[m.seq] is None:
                chunks[m.seq] = m
        self._check(key, a)

    def expect(self, config: bus_pb2.TestConfigMessage, ready: Callable[[Intake], None]) -> None:
        """`ready` is called once, when every chunk of each of the attempt's data files is here."""
        key = self._key(config.test_id, config.attempt)
        a = self._assembly(key)
        a.config = config
        a.ready = ready
        self._check(key, a)

    def ignore(self, test_id: str, attempt: int) -> None:
        key = self._key(test_id, attempt)
        self.assemblies.pop(key, None)
        self.not_mine[key] = None
        while len(self.not_mine) > 64:
            self.not_mine.popitem(last=False)

    def drop(self, test_id: str, attempt: int) -> None:
        self.assemblies.pop(self._key(test_id, attempt), None)

    def _assembly(self, key: str) -> _Assembly:
        a = self.assemblies.get(key)
        if a is None:
            a = self.assemblies[key] = _Assembly()
            early = [k for k, x in self.assemblies.items() if x.ready is None]
            if len(early) > MAX_EARLY:
                del self.assemblies[early[0]]
        return a

    def _check(self, key: str, a: _Assembly) -> None:
        if a.config is None or a.ready is None:
            return
        files = a.config.spec.data_files
        got: Optional[Intake] = None
        if a.problem:
            got = a.problem
        elif all(f.name in a.files and all(c is not None for c in a.files[f.name]) for f in files):
            got = _assemble([(f.name, a.files[f.name]) for f in files])
        if got is None:
            return
        self.assemblies.pop(key, None)
        a.ready(got)


def _assemble(files) -> Intake:
    data: Dict[str, DataTable] = {}
    rows: Dict[str, int] = {}
    for name, chunks in files:
        columns = list(chunks[0].columns)
        width = len(columns)
        part: List[List[str]] = []
        for c in chunks:
            if len(c.columns) != width or len(c.values) != c.rows * width:
                return f"chunk {c.seq} of data file {name} holds {len(c.values)} values for {c.rows} row(s) of {width} column(s)"
            part.extend(list(c.values[r * width : (r + 1) * width]) for r in range(c.rows))
        if len(part) != chunks[0].part_rows:
            return f"the chunks of data file {name} hold {len(part)} row(s), the part has {chunks[0].part_rows}"
        data[name] = DataTable(columns, part)
        rows[name] = len(part)
    return data, rows
