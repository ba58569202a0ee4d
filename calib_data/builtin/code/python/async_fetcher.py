"""Concurrent job runner with bounded parallelism, retries and timeouts.

The network layer is abstracted behind a ``Transport`` protocol so the
runner can be exercised in tests without opening sockets. A fake transport
with random latency is included for local experiments.
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

log = logging.getLogger("fetcher")


class TransientError(Exception):
    """An error that is worth retrying (timeouts, 503s, connection resets)."""


class Transport(Protocol):
    async def get(self, key: str) -> bytes: ...


@dataclass
class FetchResult:
    key: str
    ok: bool
    attempts: int
    elapsed: float
    payload: bytes = b""
    error: str = ""


@dataclass
class RetryPolicy:
    max_attempts: int = 4
    base_delay: float = 0.1
    max_delay: float = 2.0
    timeout: float = 1.5

    def backoff(self, attempt: int) -> float:
        # Exponential backoff with "full jitter" to avoid thundering herds.
        cap = min(self.max_delay, self.base_delay * (2 ** attempt))
        return random.uniform(0, cap)


@dataclass
class Runner:
    transport: Transport
    concurrency: int = 8
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    on_result: Callable[[FetchResult], Awaitable[None]] | None = None

    async def _fetch_one(self, key: str, sem: asyncio.Semaphore) -> FetchResult:
        started = time.perf_counter()
        last_err = ""
        async with sem:
            for attempt in range(1, self.policy.max_attempts + 1):
                try:
                    data = await asyncio.wait_for(
                        self.transport.get(key), timeout=self.policy.timeout
                    )
                    return FetchResult(key, True, attempt, time.perf_counter() - started, data)
                except (TransientError, asyncio.TimeoutError) as exc:
                    last_err = type(exc).__name__ + (f": {exc}" if str(exc) else "")
                    log.debug("retry %s attempt=%d err=%s", key, attempt, last_err)
                    if attempt < self.policy.max_attempts:
                        await asyncio.sleep(self.policy.backoff(attempt))
                except Exception as exc:  # permanent failure, do not retry
                    last_err = repr(exc)
                    break
        return FetchResult(key, False, attempt, time.perf_counter() - started, error=last_err)

    async def run(self, keys: Sequence[str]) -> list[FetchResult]:
        sem = asyncio.Semaphore(self.concurrency)
        tasks = [asyncio.create_task(self._fetch_one(k, sem)) for k in keys]
        results: list[FetchResult] = []
        for fut in asyncio.as_completed(tasks):
            res = await fut
            results.append(res)
            if self.on_result is not None:
                await self.on_result(res)
        # Keep output order stable regardless of completion order.
        order = {k: i for i, k in enumerate(keys)}
        results.sort(key=lambda r: order[r.key])
        return results


class FlakyTransport:
    """Simulates a slow, unreliable backend."""

    def __init__(self, failure_rate: float = 0.3, seed: int | None = None) -> None:
        self.failure_rate = failure_rate
        self.rng = random.Random(seed)

    async def get(self, key: str) -> bytes:
        await asyncio.sleep(self.rng.uniform(0.01, 0.2))
        roll = self.rng.random()
        if roll < self.failure_rate:
            raise TransientError("service unavailable")
        if key.endswith("missing"):
            raise LookupError(f"{key} not found")
        return f"payload for {key}".encode()


async def _demo() -> None:
    async def report(r: FetchResult) -> None:
        status = "ok " if r.ok else "ERR"
        print(f"{status} {r.key:<14} tries={r.attempts} {r.elapsed * 1000:6.0f}ms {r.error}")

    runner = Runner(FlakyTransport(seed=42), concurrency=4, on_result=report)
    keys = [f"item-{i:03d}" for i in range(12)] + ["item-missing"]
    results = await runner.run(keys)
    failed = [r.key for r in results if not r.ok]
    print(f"done: {len(results) - len(failed)} ok, {len(failed)} failed {failed}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_demo())
