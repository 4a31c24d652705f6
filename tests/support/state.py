"""A stage's key-value state as a plain dict, for tests that run stages without a runtime."""

from __future__ import annotations

from typing import Any


class DictState:
    def __init__(self) -> None:
        self.data: dict[str, dict[str, Any]] = {}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.data.get(key)

    def put(self, key: str, value: dict[str, Any]) -> None:
        self.data[key] = value
