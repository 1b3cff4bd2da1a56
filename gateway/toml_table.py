"""Reading TOML tables with errors that name the key: shared by the gateway's config
(gateway/config.py) and the simulator's scenarios (simulator/scenario.py).

Rules kept here:
1. Every error names the source file and the key's full path ("policy.bandwidth_kbit_s"),
   says what was expected and what was found, and suggests the closest key or choice for a
   typo.
2. Each getter records the key it read; done() rejects every key no getter asked for.
3. The error type is the caller's: subclasses set `error_type`.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Sequence
from typing import Any

REQUIRED = object()


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    return is_int(value) or (isinstance(value, float) and math.isfinite(value))


def read_text(path: str, what: str, error_type: type[Exception]) -> str:
    """The UTF-8 text of a config-like file, or error_type naming the file and the problem."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as e:
        raise error_type(f"{path}: cannot read the {what}: {e.strerror}") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise error_type(f"{path}: not UTF-8 text (byte {e.start})") from None


def describe(value: object) -> str:
    kinds = {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
             list: "a list", dict: "a table"}
    kind = kinds.get(type(value), type(value).__name__)
    return f"{kind} ({value!r})" if not isinstance(value, (list, dict)) else kind


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


class TomlTable:
    """A TOML table being read (rules 1-3)."""

    error_type: type[Exception] = ValueError

    def __init__(self, data: dict[str, Any], path: str, source: str) -> None:
        self.data = data
        self.path = path
        self.source = source
        self.known: list[str] = []

    def error(self, key: str, message: str) -> Exception:
        where = f"{self.path}.{key}" if self.path else key
        return self.error_type(f"{self.source}: {where}: {message}")

    def _get(self, key: str, default: object, kind: str, ok: Callable[[Any], bool]) -> Any:
        self.known.append(key)
        if key not in self.data:
            if default is REQUIRED:
                typo = difflib.get_close_matches(key, list(self.data), n=1, cutoff=0.6)
                hint = f" (is {typo[0]!r} a typo of {key!r}?)" if typo else ""
                raise self.error(key, f"missing; expected {kind}{hint}")
            return default
        value = self.data[key]
        if not ok(value):
            raise self.error(key, f"expected {kind}, got {describe(value)}")
        return value

    def integer(self, key: str, default: object, low: int, high: int) -> Any:
        value = self._get(key, default, "an integer", is_int)
        if value is not None and not low <= value <= high:
            raise self.error(key, f"expected an integer from {low} to {high}, got {value}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value: bool = self._get(key, default, "true or false", lambda v: isinstance(v, bool))
        return value

    def string(self, key: str, default: object, choices: Sequence[str] = ()) -> Any:
        kind = "one of " + ", ".join(f'"{c}"' for c in choices) if choices else "a string"
        value = self._get(key, default, kind, lambda v: isinstance(v, str))
        if choices and value not in choices:
            raise self.error(key, f"expected {kind}, got {value!r}{suggest(value, choices)}")
        return value

    def done(self) -> None:
        for key in self.data:
            if key not in self.known:
                raise self.error(key, "unknown key" + suggest(key, self.known))
