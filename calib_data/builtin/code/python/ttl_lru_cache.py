"""A small in-process LRU cache with optional per-entry expiry.

Intended for memoizing expensive lookups (e.g. master data reads) in
long-running workers. It is thread-safe but not process-safe.
"""

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from functools import wraps
from typing import Any, Generic, Optional, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

_MISSING = object()


class CacheStats:
    __slots__ = ("hits", "misses", "evictions", "expirations")

    def __init__(self) -> None:
        self.hits = self.misses = self.evictions = self.expirations = 0

    @property
    def hit_ratio(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0

    def __repr__(self) -> str:
        return (f"CacheStats(hits={self.hits}, misses={self.misses}, "
                f"evictions={self.evictions}, expirations={self.expirations}, "
                f"hit_ratio={self.hit_ratio:.2f})")


class LRUCache(Generic[K, V]):
    """Least-recently-used cache.

    Args:
        capacity: maximum number of entries kept in memory.
        ttl: default time-to-live in seconds, or ``None`` for no expiry.
        clock: injectable time source, mainly for tests.
    """

    def __init__(self, capacity: int = 128, ttl: Optional[float] = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.capacity = capacity
        self.ttl = ttl
        self._clock = clock
        self._data: OrderedDict[K, tuple[V, Optional[float]]] = OrderedDict()
        self._lock = threading.RLock()
        self.stats = CacheStats()

    def __len__(self) -> int:
        return len(self._data)

    def __contains__(self, key: object) -> bool:
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def get(self, key: K, default: Any = None) -> Any:
        with self._lock:
            entry = self._data.get(key, _MISSING)
            if entry is _MISSING:
                self.stats.misses += 1
                return default
            value, expires_at = entry  # type: ignore[misc]
            if expires_at is not None and expires_at <= self._clock():
                del self._data[key]
                self.stats.expirations += 1
                self.stats.misses += 1
                return default
            self._data.move_to_end(key)
            self.stats.hits += 1
            return value

    def put(self, key: K, value: V, ttl: Optional[float] = None) -> None:
        ttl = self.ttl if ttl is None else ttl
        expires_at = self._clock() + ttl if ttl is not None else None
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
            self._data[key] = (value, expires_at)
            while len(self._data) > self.capacity:
                self._data.popitem(last=False)
                self.stats.evictions += 1

    def pop(self, key: K, default: Any = None) -> Any:
        with self._lock:
            entry = self._data.pop(key, _MISSING)
            return default if entry is _MISSING else entry[0]  # type: ignore[index]

    def purge_expired(self) -> int:
        """Drop every expired entry; returns how many were removed."""
        now = self._clock()
        with self._lock:
            stale = [k for k, (_, exp) in self._data.items() if exp is not None and exp <= now]
            for k in stale:
                del self._data[k]
            self.stats.expirations += len(stale)
            return len(stale)


def cached(capacity: int = 256, ttl: Optional[float] = None):
    """Decorator form. Only positional, hashable arguments are supported."""

    def decorator(fn):
        cache: LRUCache = LRUCache(capacity, ttl)

        @wraps(fn)
        def wrapper(*args):
            value = cache.get(args, _MISSING)
            if value is _MISSING:
                value = fn(*args)
                cache.put(args, value)
            return value

        wrapper.cache = cache  # type: ignore[attr-defined]
        return wrapper

    return decorator


if __name__ == "__main__":
    fake_now = [0.0]
    c: LRUCache[str, int] = LRUCache(capacity=2, ttl=10, clock=lambda: fake_now[0])
    c.put("a", 1)
    c.put("b", 2)
    c.get("a")          # "a" becomes most recent
    c.put("c", 3)       # evicts "b"
    assert "b" not in c and c.get("a") == 1
    fake_now[0] = 11.0  # everything expires
    assert c.get("a") is None
    print(c.stats)

    @cached(capacity=64)
    def slow_square(n: int) -> int:
        time.sleep(0.01)
        return n * n

    for n in [1, 2, 3, 1, 2, 3, 4]:
        slow_square(n)
    print(slow_square.cache.stats)
