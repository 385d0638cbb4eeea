"""Checks and captures on a response (port of scenario/response.ts and scenario/safe-regex.ts).
The body is parsed as JSON the way JavaScript's JSON.parse does (every number a double), a found
value becomes text the way JSON.stringify writes it, and a regular expression written for
JavaScript's `u` mode runs on Python's `re` with the same meaning (translated: ASCII \\d \\w \\b,
JavaScript's \\s and `.`, `$` only at the end). What cannot be translated is refused by name."""
from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any, Callable, List, Mapping, Optional, Sequence, Tuple, Union

import kannon_gen  # noqa: F401
from kannon.v1 import scenario_pb2

from .json_path import NOTHING, JsonPathError, compile_json_path, query_json

Problems = List[Tuple[str, str]]


def js_number_text(x: float) -> str:
    """A double as JavaScript's Number#toString (and JSON.stringify) writes it."""
    if x != x:
        return "NaN"
    if x in (float("inf"), float("-inf")):
        return "Infinity" if x > 0 else "-Infinity"
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    t = Decimal(repr(abs(x))).as_tuple()  # repr: the shortest digits that round-trip, as in JS
    digits = "".join(map(str, t.digits)).rstrip("0")
    exp = int(t.exponent) + len(t.digits) - len(digits)
    k = len(digits)
    n = exp + k
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * (-n) + digits
    e = n - 1
    mant = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mant}e{'+' if e >= 0 else '-'}{abs(e)}"


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(text: str) -> Any:
    """JSON.parse: every number a float; NaN and Infinity are not JSON."""
    return json.loads(text, parse_int=float, parse_constant=_no_constant)


def scalar_text(v: Any) -> Optional[str]:
    """A string as it is, a number, boolean or null as its JSON text; an object or array: None."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return js_number_text(v)
    if v is None:
        return "null"
    return None


_JSON_NUMBER = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?\Z")


def number_of(s: str) -> Optional[float]:
    return float(s) if _JSON_NUMBER.match(s) else None


# -- regular expressions ---------------------------------------------------------------------------

_JS_SPACE = "\\t\\n\\x0b\\x0c\\r \\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000\\ufeff"


def _unsafe_construct(p: str) -> Optional[str]:
    """scenario/safe-regex.ts: why the pattern could backtrack catastrophically, or None."""
    stack = [[False, False]]  # per open group: quantified, alternated
    closed = None
    i = 0
    while i < len(p):
        c = p[i]
        just_closed, closed = closed, None
        if c == "\\":
            e = p[i + 1 : i + 2]
            if e and e in "123456789":
                return f"backreference at character {i} is refused (it can backtrack without bound)"
            if e == "k":
                return f"named backreference at character {i} is refused (it can backtrack without bound)"
            i += 1
        elif c == "[":
            i += 1
            while i < len(p) and p[i] != "]":
                if p[i] == "\\":
                    i += 1
                i += 1
        elif c == "(":
            if re.match(r"\(\?<?[=!]", p[i : i + 4]):
                return f"lookaround at character {i} is refused"
            stack.append([False, False])
            if p.startswith("(?:", i):
                i += 2
            elif p.startswith("(?<", i):
                i = max(i, p.find(">", i))
        elif c == ")":
            if len(stack) > 1:
                closed = stack.pop()
                stack[-1][0] = stack[-1][0] or closed[0]
        elif c == "|":
            stack[-1][1] = True
        elif c in "*+?" or (c == "{" and re.match(r"\{\d+(,\d*)?\}", p[i:])):
            if c == "?" and i >= 1 and p[i - 1] in "*+?}" and (i < 2 or p[i - 2] != "\\"):
                i += 1
                continue
            if just_closed is not None and (just_closed[0] or just_closed[1]):
                return f'nested quantifier at character {i}: a repeated group that holds a quantifier or "|" is refused (catastrophic backtracking)'
            stack[-1][0] = True
            if c == "{":
                i = p.find("}", i)
        i += 1
    return None


def _translate(p: str) -> str:
    """A JavaScript `u`-mode pattern as a Python one of the same meaning (compiled with re.ASCII)."""
    out: List[str] = []
    i = 0
    in_class = False
    while i < len(p):
        c = p[i]
        if c == "\\":
            e = p[i + 1 : i + 2]
            if e in ("s", "S"):
                if in_class and e == "S":
                    raise ValueError(f"\\S inside a class (character {i}) is not supported by the Python driver")
                out.append(_JS_SPACE if in_class else f"[{_JS_SPACE}]" if e == "s" else f"[^{_JS_SPACE}]")
            elif e == "u" and p[i + 2 : i + 3] == "{":
                end = p.find("}", i)
                out.append("\\U%08x" % int(p[i + 3 : end], 16))
                i = end - 1
            elif e in ("p", "P", "c"):
                raise ValueError(f"\\{e} (character {i}) is not supported by the Python driver")
            else:
                out.append(c + e)
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            elif c == "[":
                out.append("\\[")
                i += 1
                continue
            out.append(c)
        elif c == "[":
            if p.startswith("[^]", i) or p.startswith("[]", i):
                raise ValueError(f"an empty class (character {i}) is not supported by the Python driver")
            in_class = True
            out.append(c)
            if p[i + 1 : i + 2] == "^":
                out.append("^")
                i += 1
        elif c == ".":
            out.append("[^\\n\\r\\u2028\\u2029]")
        elif c == "$":
            out.append("\\Z")
        elif c == "(" and p.startswith("(?<", i):
            out.append("(?P<")
            i += 3
            continue
        else:
            out.append(c)
        i += 1
    return "".join(out)


def compile_safe_regex(pattern: str) -> Union["re.Pattern[str]", str]:
    """The compiled pattern, or why it is refused (what the TypeScript driver refuses, and what
    Python cannot run with JavaScript's meaning)."""
    refused = _unsafe_construct(pattern)
    if refused:
        return refused
    try:
        return re.compile(_translate(pattern), re.ASCII)
    except (ValueError, re.error) as e:
        return f"does not compile on the Python driver: {e}"


# -- responses -------------------------------------------------------------------------------------


class ResponseView:
    """A response with its body decoded and parsed on first use. headers: lower-case name → value
    (a list when sent several times); latency_ms: the step's latency."""

    def __init__(self, status: int, headers: Mapping[str, Union[str, Sequence[str]]], body: bytes, latency_ms: float) -> None:
        self.status = status
        self.headers = headers
        self.body = body
        self.latency_ms = latency_ms
        self._text: Optional[str] = None
        self._json: Any = None
        self._parsed = False

    def text(self) -> str:
        if self._text is None:
            self._text = self.body.decode("utf-8", "replace")
        return self._text

    def query(self, segments) -> Any:
        if not self._parsed:
            self._parsed = True
            try:
                self._json = parse_json(self.text())
            except ValueError:
                self._json = NOTHING
        return NOTHING if self._json is NOTHING else query_json(segments, self._json)

    def header(self, name: str) -> Optional[str]:
        v = self.headers.get(name.lower())
        return None if v is None else v if isinstance(v, str) else ", ".join(v)


Check = Callable[[ResponseView], bool]
Capture = Callable[[ResponseView], Optional[str]]


def _json_path_of(path: str, field: str, problems: Problems):
    try:
        return compile_json_path(path)
    except JsonPathError as e:
        problems.append((field, f'JSONPath "{path}" {e}'))
        return None


def _regex_of(pattern: str, field: str, problems: Problems):
    r = compile_safe_regex(pattern)
    if isinstance(r, str):
        problems.append((field, f'regular expression "{pattern}" {r}'))
        return None
    return r


def compile_check(check: scenario_pb2.Check, field: str, problems: Problems) -> Optional[Check]:
    kind = check.WhichOneof("kind")
    if kind == "status":
        codes = set(check.status.codes)
        ranges = [(r.first, r.last) for r in check.status.ranges]
        if not codes and not ranges:
            problems.append((f"{field}.status", "needs at least one code or range"))
        return lambda r: r.status in codes or any(a <= r.status <= b for a, b in ranges)
    if kind == "body_contains":
        needle = check.body_contains
        return lambda r: needle in r.text()
    if kind == "latency_below_ms":
        bound = check.latency_below_ms
        return lambda r: r.latency_ms < bound
    if kind == "header":
        name, op, value = check.header.name, check.header.op, check.header.value
        if op == scenario_pb2.HEADER_OP_EQUALS:
            return lambda r: r.header(name) == value
        if op == scenario_pb2.HEADER_OP_MATCHES:
            rx = _regex_of(value, f"{field}.header.value", problems)
            return lambda r: rx is not None and r.header(name) is not None and rx.search(r.header(name)) is not None
        problems.append((f"{field}.header.op", "must be EQUALS or MATCHES"))
        return None
    if kind == "json_path":
        return _json_path_check(check.json_path, f"{field}.json_path", problems)
    problems.append((field, "needs a kind: status, body_contains, json_path, header or latency_below_ms"))
    return None


def _json_path_check(c: scenario_pb2.JsonPathCheck, field: str, problems: Problems) -> Optional[Check]:
    segs = _json_path_of(c.path, f"{field}.path", problems)
    value = c.value
    operand = number_of(value)
    op = c.op

    def eq(v: Any) -> bool:
        return v == operand if isinstance(v, float) else scalar_text(v) == value

    test: Optional[Callable[[Any], bool]]
    if op == scenario_pb2.JSON_PATH_OP_EXISTS:
        test = lambda v: True  # noqa: E731
    elif op == scenario_pb2.JSON_PATH_OP_EQUALS:
        test = eq
    elif op == scenario_pb2.JSON_PATH_OP_NOT_EQUALS:
        test = lambda v: not eq(v)  # noqa: E731
    elif op in (scenario_pb2.JSON_PATH_OP_LESS, scenario_pb2.JSON_PATH_OP_GREATER):
        if operand is None:
            problems.append((f"{field}.value", f'must be a number for LESS and GREATER, got "{value}"'))
        less = op == scenario_pb2.JSON_PATH_OP_LESS
        test = lambda v: isinstance(v, float) and operand is not None and (v < operand if less else v > operand)  # noqa: E731
    elif op == scenario_pb2.JSON_PATH_OP_MATCHES:
        rx = _regex_of(value, f"{field}.value", problems)

        def test(v: Any) -> bool:
            t = scalar_text(v)
            return t is not None and rx is not None and rx.search(t) is not None
    else:
        problems.append((f"{field}.op", "must be EXISTS, EQUALS, NOT_EQUALS, LESS, GREATER or MATCHES"))
        test = None
    if segs is None or test is None:
        return None

    def check(r: ResponseView) -> bool:
        f = r.query(segs)
        return f is not NOTHING and test(f)

    return check


def compile_capture(capture: scenario_pb2.Capture, field: str, problems: Problems) -> Optional[Capture]:
    source = capture.WhichOneof("source")
    if source == "json_path":
        segs = _json_path_of(capture.json_path, f"{field}.json_path", problems)
        if segs is None:
            return None

        def take(r: ResponseView) -> Optional[str]:
            f = r.query(segs)
            return None if f is NOTHING else scalar_text(f)

        return take
    if source == "header":
        name = capture.header
        if not name:
            problems.append((f"{field}.header", "must name a header"))
        return lambda r: r.header(name)
    if source == "regex":
        rx = _regex_of(capture.regex.pattern, f"{field}.regex.pattern", problems)
        group = capture.regex.group
        if rx is not None and group > rx.groups:
            problems.append((f"{field}.regex.group", f"is {group}, but the pattern has {rx.groups} group(s)"))
            return None
        if rx is None:
            return None

        def grab(r: ResponseView) -> Optional[str]:
            m = rx.search(r.text())
            return None if m is None else m.group(group)

        return grab
    problems.append((field, "needs a source: json_path, header or regex"))
    return None
