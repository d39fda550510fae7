"""A thread-safe LRU cache of decoded frames, bounded in bytes rather than in entries."""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Generic, Hashable, Iterator, Protocol, TypeVar


class Sized(Protocol):
    @property
    def nbytes(self) -> int: ...


K = TypeVar("K", bound=Hashable)
V = TypeVar("V", bound=Sized)


class FrameCache(Generic[K, V]):
    """Least recently used entries are evicted once the total ``nbytes`` passes ``budget_bytes``."""

    def __init__(self, budget_bytes: int) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()
        self._bytes = 0
        self.budget_bytes = budget_bytes
        self.hits = self.misses = 0

    def get(self, key: K) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __iter__(self) -> Iterator[K]:
        """The keys as they are now, least recently used first."""
        with self._lock:
            return iter(list(self._items))

    def put(self, key: K, item: V, evict: bool = True) -> bool:
        """Store ``item``; with ``evict=False`` only if it fits without dropping anything. Returns whether stored."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old.nbytes
            if item.nbytes > self.budget_bytes or not evict and self._bytes + item.nbytes > self.budget_bytes:
                return False
            self._items[key] = item
            self._bytes += item.nbytes
            while self._bytes > self.budget_bytes:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes
            return True

    def resize(self, budget_bytes: int) -> None:
        with self._lock:
            self.budget_bytes = budget_bytes
            while self._bytes > budget_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.nbytes

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0

    @property
    def nbytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)
