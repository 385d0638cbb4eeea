"""RFC 9535 JSONPath, singular queries only (port of scenario/json-path.ts): `$` then `.name`,
`['name']`, `["name"]` and `[index]` (negative from the end). A query finds at most one value."""
from __future__ import annotations

import re
from typing import Any, List, Tuple, Union

Segment = Union[str, int]  # a member name, or an array index
NOTHING = object()  # what a query returns when it finds nothing

_BLANK = " \t\n\r"
_ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "/": "/", "\\": "\\"}
_INDEX = re.compile(r"-?(0|[1-9][0-9]*)")
_HEX4 = re.compile(r"[0-9A-Fa-f]{4}\Z")
_MAX_INDEX = 2**53 - 1


class JsonPathError(ValueError):
    def __init__(self, position: int, problem: str) -> None:
        super().__init__(f"at character {position}: {problem}")
        self.position = position


def _name_first(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_") or ord(c) >= 0x80


def _name_char(c: str) -> bool:
    return _name_first(c) or "0" <= c <= "9"


def compile_json_path(query: str) -> List[Segment]:
    """The query's segments; raises JsonPathError naming the position of the first problem."""
    if not query.startswith("$"):
        raise JsonPathError(0, 'a query starts with "$"')
    segments: List[Segment] = []
    i = 1
    n = len(query)
    while i < n:
        c = query[i]
        if c == ".":
            i += 1
            start = i
            if i < n and query[i] == ".":
                raise JsonPathError(i - 1, "descendant segments (..) are not singular")
            if i >= n or not _name_first(query[i]):
                raise JsonPathError(i, "wildcards are not singular" if i < n and query[i] == "*" else 'expected a member name after "."')
            while i < n and _name_char(query[i]):
                i += 1
            segments.append(query[start:i])
        elif c == "[":
            i += 1
            while i < n and query[i] in _BLANK:
                i += 1
            if i < n and query[i] in "'\"":
                name, i = _read_string(query, i)
                segments.append(name)
            else:
                value, i = _read_index(query, i)
                segments.append(value)
            while i < n and query[i] in _BLANK:
                i += 1
            if i < n and query[i] == ",":
                raise JsonPathError(i, "several selectors are not singular")
            if i >= n or query[i] != "]":
                raise JsonPathError(i, 'expected "]"')
            i += 1
        else:
            raise JsonPathError(i, f'expected "." or "[", got "{c}"')
    return segments


def _read_string(query: str, i: int) -> Tuple[str, int]:
    quote = query[i]
    open_at = i
    i += 1
    out: List[str] = []
    while i < len(query):
        c = query[i]
        if c == quote:
            return _join_surrogates("".join(out)), i + 1
        if ord(c) < 0x20:
            raise JsonPathError(i, "control characters must be escaped in a string")
        if c != "\\":
            out.append(c)
            i += 1
            continue
        e = query[i + 1] if i + 1 < len(query) else ""
        if e == quote:
            out.append(quote)
        elif e in _ESCAPES and e != "":
            out.append(_ESCAPES[e])
        elif e == "u" and _HEX4.match(query[i + 2 : i + 6]):
            out.append(chr(int(query[i + 2 : i + 6], 16)))
            i += 4
        else:
            raise JsonPathError(i, "invalid escape in a string")
        i += 2
    raise JsonPathError(open_at, "string is never closed")


def _join_surrogates(s: str) -> str:
    """\\uD83D\\uDE00 makes one character, as in a JavaScript string."""
    return s.encode("utf-16", "surrogatepass").decode("utf-16", "surrogatepass") if any(0xD800 <= ord(c) <= 0xDFFF for c in s) else s


def _read_index(query: str, i: int) -> Tuple[int, int]:
    m = _INDEX.match(query, i)
    if not m:
        raise JsonPathError(i, "wildcards are not singular" if query[i : i + 1] == "*" else "expected a quoted name or an integer index")
    text = m.group(0)
    if text == "-0":
        raise JsonPathError(i, "-0 is not an index")
    value = int(text)
    if abs(value) > _MAX_INDEX:
        raise JsonPathError(i, "index out of the range ±(2^53 - 1)")
    if query[i + len(text) : i + len(text) + 1] == ":":
        raise JsonPathError(i + len(text), "slices are not singular")
    return value, i + len(text)


def query_json(segments: List[Segment], root: Any) -> Any:
    """The value the query finds in a parsed JSON value (None is JSON null), or NOTHING."""
    v = root
    for s in segments:
        if isinstance(s, str):
            if not isinstance(v, dict) or s not in v:
                return NOTHING
            v = v[s]
        else:
            if not isinstance(v, list):
                return NOTHING
            at = len(v) + s if s < 0 else s
            if at < 0 or at >= len(v):
                return NOTHING
            v = v[at]
    return v
