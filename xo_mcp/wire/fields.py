"""Reading one JSON object field by field, as a wire message: each read checks its type, and
`done()` refuses the fields nobody read (an unknown field is a peer speaking another version)."""

from __future__ import annotations

from typing import Any


class Fields:
    def __init__(self, data: Any, what: str) -> None:
        if not isinstance(data, dict):
            raise ValueError(f"{what}: expected an object, got {type(data).__name__}")
        self._data: dict[str, Any] = data
        self._what = what
        self._read: set[str] = set()

    def _get(self, key: str) -> Any:
        self._read.add(key)
        return self._data.get(key)

    def _wrong(self, key: str, expected: str) -> ValueError:
        value = self._data.get(key)
        return ValueError(f"{self._what}.{key}: expected {expected}, got {type(value).__name__}")

    def required(self, key: str) -> Any:
        if key not in self._data:
            raise ValueError(f"{self._what}.{key} is missing")
        return self._get(key)

    def optional(self, key: str) -> Any:
        return self._get(key)

    def text(self, key: str) -> str:
        value = self.required(key)
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key)
        if value is not None and not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def texts(self, key: str) -> tuple[str, ...]:
        value = self._get(key) or []
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def flag(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._wrong(key, "true or false")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self._get(key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise self._wrong(key, "an integer")
        return value

    def number(self, key: str) -> float:
        value = self.required(key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise self._wrong(key, "a number")
        return float(value)

    def optional_number(self, key: str) -> float | None:
        if self._data.get(key) is None:
            self._read.add(key)
            return None
        return self.number(key)

    def optional_object(self, key: str) -> dict[str, Any] | None:
        value = self._get(key)
        if value is not None and not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return value

    def objects(self, key: str) -> list[dict[str, Any]]:
        value = self.required(key)
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._wrong(key, "a list of objects")
        return value

    def constant(self, key: str, expected: str) -> None:
        if self._get(key) != expected:
            raise ValueError(f"{self._what}.{key}: expected {expected!r}")

    def done(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            raise ValueError(f"{self._what}: unknown field(s) {', '.join(unknown)}")
