"""A bounded table of computed values: the simulator's per-shape and per-value caches.

Every such table holds numbers that are cheap to compute again and the same each time (a cumulative sum,
a template array, a list of divisors), so the bound is simple: a full table is emptied before the next
value goes in. No eviction order to get wrong, and memory stays bounded whatever a long session asks.
"""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["BoundedMemo"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedMemo(dict, Generic[K, V]):
    """A dict that :meth:`remember` empties when it holds ``max_items`` (read it with ``get``)."""

    def __init__(self, max_items: int) -> None:
        super().__init__()
        self.max_items = int(max_items)

    def remember(self, key: K, value: V) -> V:
        """Keep ``value`` under ``key`` (emptying a full table first) and return it."""
        if len(self) >= self.max_items and key not in self:
            self.clear()
        self[key] = value
        return value
