"""A MeasuresReadModel decorator that puts every row in one group: the total over groups.

Generic over the port: any method yielding dataclass rows with a `group` field is relabelled,
so a method added to the port later is totalled too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any

from pipeline.dashboard.tables import ALL


class AllGroups:
    def __init__(self, inner: Any, name: str = ALL) -> None:
        self._inner = inner
        self._name = name

    def __getattr__(self, attr: str) -> Callable[..., Iterator[Any]]:
        method = getattr(self._inner, attr)

        def relabelled(*args: Any, **kwargs: Any) -> Iterator[Any]:
            for row in method(*args, **kwargs):
                if dataclasses.is_dataclass(row) and hasattr(row, "group"):
                    yield dataclasses.replace(row, group=self._name)
                else:
                    yield row

        return relabelled
