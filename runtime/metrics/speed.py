"""Speed at batch 1 (prefill tokens/s, decode tokens/s, time to first token) and the throughput of a batch of
sequences decoded at once, with warm-up and repeats.

Each repeat feeds a prompt of ``prompt_tokens`` ids (from the evaluation text) and decodes exactly ``decode_tokens``
new tokens, stops ignored. TTFT is prefill plus the first token; prefill tokens/s = prompt tokens / TTFT; decode
tokens/s = (decode tokens - 1) / (total - TTFT). Reported as median with min and max over the repeats; threads are
the backend's, stated in the result. Peak memory is measured over the whole run.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kizami.runtime.backend import Backend, GenRequest

__all__ = ["SpeedSettings", "speed"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeedSettings:
    prompt_tokens: int = 128
    decode_tokens: int = 32
    warmup: int = 1
    repeats: int = 3
    batch: int = 8  # also decode this many sequences at once: the throughput an evaluation sees (0 or 1 = skip)


def _stats(xs: list[float]) -> dict[str, float]:
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def speed(backend: Backend, token_source: Sequence[int], settings: SpeedSettings = SpeedSettings()) -> dict[str, Any]:
    prompt = list(token_source[: settings.prompt_tokens])
    req = GenRequest(prompt=prompt, max_new_tokens=settings.decode_tokens, ignore_stops=True)
    backend.reset_memory()
    for _ in range(settings.warmup):
        backend.generate([req])
    prefill, decode, ttft = [], [], []
    for _ in range(settings.repeats):
        gen = backend.generate([req])[0]
        ttft.append(gen.ttft_s)
        prefill.append(len(prompt) / gen.ttft_s)
        decode.append((len(gen.ids) - 1) / max(gen.total_s - gen.ttft_s, 1e-9))
    out = {"prefill_tok_s": _stats(prefill), "decode_tok_s": _stats(decode), "ttft_s": _stats(ttft),
           "prompt_tokens": len(prompt), "decode_tokens": settings.decode_tokens, "repeats": settings.repeats,
           "warmup": settings.warmup, "threads": getattr(backend, "threads", None)}
    if settings.batch > 1:
        out["batched"] = _batched(backend, prompt, settings)
    return out | {"memory": backend.memory()}


def _batched(backend: Backend, prompt: list[int], settings: SpeedSettings) -> dict[str, Any]:
    """Generated tokens/s with ``batch`` requests in one ``generate`` call (distinct prompts: each sequence prefills
    its own), wall time from the call to the last token; and the same against batch 1 as a ratio."""
    reqs = [GenRequest(prompt=prompt[i % 7:], max_new_tokens=settings.decode_tokens, ignore_stops=True)
            for i in range(settings.batch)]
    for _ in range(settings.warmup):
        backend.generate(reqs)
    rates = []
    for _ in range(settings.repeats):
        t0 = time.perf_counter()
        gens = backend.generate(reqs)
        rates.append(sum(len(g.ids) for g in gens) / (time.perf_counter() - t0))
    return {"batch": settings.batch, "engine_batch_size": getattr(backend, "batch_size", None), "tok_s": _stats(rates)}
