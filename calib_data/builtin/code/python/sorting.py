"""Hand-written sorting routines used in our algorithms study group.

All functions return a new list and never mutate their input. Each one
accepts an optional ``key`` so they can be compared against ``sorted``.
"""

import random
from collections.abc import Callable, Sequence
from typing import Optional, TypeVar

T = TypeVar("T")
KeyFn = Optional[Callable[[T], object]]


def _identity(x):
    return x


def insertion_sort(items: Sequence[T], key: KeyFn = None) -> list[T]:
    """Stable, O(n^2); fast for tiny or nearly sorted inputs.

    >>> insertion_sort([3, 1, 2])
    [1, 2, 3]
    """
    key = key or _identity
    out = list(items)
    for i in range(1, len(out)):
        current = out[i]
        k = key(current)
        j = i - 1
        while j >= 0 and key(out[j]) > k:
            out[j + 1] = out[j]
            j -= 1
        out[j + 1] = current
    return out


def merge_sort(items: Sequence[T], key: KeyFn = None) -> list[T]:
    """Stable top-down merge sort that falls back to insertion sort below 16.

    >>> merge_sort(["pear", "fig", "apple"], key=len)
    ['fig', 'pear', 'apple']
    """
    key = key or _identity
    data = list(items)
    if len(data) <= 16:
        return insertion_sort(data, key)
    mid = len(data) // 2
    left = merge_sort(data[:mid], key)
    right = merge_sort(data[mid:], key)
    merged: list[T] = []
    i = j = 0
    while i < len(left) and j < len(right):
        # "<=" keeps equal elements from the left half first -> stability
        if key(left[i]) <= key(right[j]):
            merged.append(left[i])
            i += 1
        else:
            merged.append(right[j])
            j += 1
    merged.extend(left[i:])
    merged.extend(right[j:])
    return merged


def quick_sort(items: Sequence[T], key: KeyFn = None) -> list[T]:
    """Three-way partition quicksort (not stable). Handles many duplicates well."""
    key = key or _identity
    data = list(items)

    def _sort(lo: int, hi: int) -> None:
        while lo < hi:
            pivot = key(data[random.randint(lo, hi)])
            lt, i, gt = lo, lo, hi
            while i <= gt:
                k = key(data[i])
                if k < pivot:
                    data[lt], data[i] = data[i], data[lt]
                    lt += 1
                    i += 1
                elif k > pivot:
                    data[gt], data[i] = data[i], data[gt]
                    gt -= 1
                else:
                    i += 1
            # Recurse into the smaller side to bound stack depth at O(log n).
            if lt - lo < hi - gt:
                _sort(lo, lt - 1)
                lo = gt + 1
            else:
                _sort(gt + 1, hi)
                hi = lt - 1

    _sort(0, len(data) - 1)
    return data


def heap_sort(items: Sequence[T], key: KeyFn = None) -> list[T]:
    """In-place binary heap sort on a copy; O(n log n) worst case."""
    key = key or _identity
    data = list(items)
    n = len(data)

    def sift_down(start: int, end: int) -> None:
        root = start
        while 2 * root + 1 < end:
            child = 2 * root + 1
            if child + 1 < end and key(data[child]) < key(data[child + 1]):
                child += 1
            if key(data[root]) >= key(data[child]):
                return
            data[root], data[child] = data[child], data[root]
            root = child

    for start in range(n // 2 - 1, -1, -1):
        sift_down(start, n)
    for end in range(n - 1, 0, -1):
        data[0], data[end] = data[end], data[0]
        sift_down(0, end)
    return data


def counting_sort(values: Sequence[int]) -> list[int]:
    """For small non-negative integer ranges only."""
    if not values:
        return []
    if min(values) < 0:
        raise ValueError("counting_sort expects non-negative integers")
    counts = [0] * (max(values) + 1)
    for v in values:
        counts[v] += 1
    return [v for v, c in enumerate(counts) for _ in range(c)]


if __name__ == "__main__":
    rng = random.Random(7)
    for trial in range(200):
        sample = [rng.randint(0, 50) for _ in range(rng.randint(0, 120))]
        expected = sorted(sample)
        for fn in (insertion_sort, merge_sort, quick_sort, heap_sort):
            assert fn(sample) == expected, (fn.__name__, sample)
        assert counting_sort(sample) == expected
    pairs = [(rng.randint(0, 3), i) for i in range(40)]
    assert merge_sort(pairs, key=lambda p: p[0]) == sorted(pairs, key=lambda p: p[0])
    print("all sorting checks passed")
