"""The token-by-token decoding loop, written once for every backend: greedy or sampled, stop rules, timing.

A backend supplies ``start(prompt) -> logits`` (prefill, returns the last position's logits) and
``step(token) -> logits``; this module picks tokens, applies stop ids and stop strings, and times the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence

import numpy as np

from kizami.runtime.backend import Generation, GenRequest

__all__ = ["pick_token", "first_stop", "run_generation"]


def pick_token(logits: np.ndarray, temperature: float, top_p: float, rng: np.random.Generator) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    p /= p.sum()
    if top_p < 1.0:
        order = np.argsort(-p, kind="stable")
        sorted_p = p[order]
        keep = np.cumsum(sorted_p) - sorted_p < top_p  # the smallest head whose mass reaches top_p
        q = np.zeros_like(p)
        q[order[keep]] = sorted_p[keep]
        p = q / q.sum()
    return int(rng.choice(len(p), p=p))


def first_stop(text: str, stops: Sequence[str]) -> int | None:
    hits = [i for s in stops if s and (i := text.find(s)) >= 0]
    return min(hits) if hits else None


def run_generation(req: GenRequest, *, start: Callable[[list[int]], np.ndarray], step: Callable[[int], np.ndarray],
                   decode: Callable[[list[int]], str], stop_ids: Collection[int]) -> Generation:
    rng = np.random.default_rng(req.seed)
    t0 = time.perf_counter()
    logits = start(list(req.prompt))
    new: list[int] = []
    ttft, reason, text = 0.0, "length", ""
    stops = set(stop_ids) | set(req.stop_ids)
    for i in range(req.max_new_tokens):
        tok = pick_token(logits, req.temperature, req.top_p, rng)
        if i == 0:
            ttft = time.perf_counter() - t0
        if tok in stops and not req.ignore_stops:
            reason = "eos"
            break
        new.append(tok)
        if not req.ignore_stops and req.stop_strings:
            text = decode(new)
            if (hit := first_stop(text, req.stop_strings)) is not None:
                text, reason = text[:hit], "stop-string"
                break
        if i + 1 < req.max_new_tokens:
            logits = step(tok)
    total = time.perf_counter() - t0
    if reason != "stop-string":
        text = decode(new)
    return Generation(new, text, reason, ttft, total)
