"""The decoding loop, written once for every backend: many sequences at a time, greedy or sampled, stop rules, timing.

A backend supplies a ``Decoder``: slots that each hold one sequence's KV cache. ``prefill`` feeds new prompts into
free slots and returns each one's last logits; ``decode`` feeds one token to each running slot; ``release`` frees a
slot whose sequence has ended. This module picks tokens, applies stop ids and stop strings per sequence, refills
slots, and times every sequence. Each request draws from its own generator seeded by ``GenRequest.seed``, so a
sampled completion does not depend on which requests share its batch.

Engines that can start a sequence while others decode (llama.cpp) are *continuous*: a freed slot takes the next
request at once. The others (a padded torch batch, an onnxruntime-genai generator) start a batch only when every
slot is free; torch drops finished rows, so the batch shrinks instead of carrying them.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from kizami.core.errors import KizamiError
from kizami.runtime.backend import Generation, GenRequest

__all__ = ["pick_token", "first_stop", "Decoder", "BatchRetry", "run_generations", "run_generation",
           "auto_batch_size", "equal_length_chunks", "available_memory", "MAX_AUTO_BATCH", "token_listener"]

log = logging.getLogger(__name__)

MAX_AUTO_BATCH = 16  # beyond this, CPU decoding turns compute-bound: more sequences no longer come free

# Told ``(new tokens, sequences finished)`` after every step of the loop, so a caller's progress moves while one long
# ``generate`` call runs (a chunk of 16 HumanEval problems on a real model takes minutes). Set by whoever calls
# ``Backend.generate``; a context variable so the Backend protocol itself needs no callback argument.
token_listener: ContextVar[Callable[[int, int], None] | None] = ContextVar("token_listener", default=None)


class BatchRetry(KizamiError):
    """The engine cannot run this many sequences at once (out of memory, or a batched path that cannot follow
    kizami's token picks); the loop retries the sequences in flight with half as many slots."""


class Decoder(Protocol):
    capacity: int  # sequences at once
    continuous: bool  # a freed slot may take a new sequence while the others decode

    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        """Start a sequence in each given slot; returns each slot's next-token logits."""
        ...

    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        """Append one token to each given running slot; returns each slot's next-token logits."""
        ...

    def release(self, slot: int) -> None: ...


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


def available_memory() -> int:
    """Bytes this machine can still give (MemAvailable), or 0 where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        return 0


def auto_batch_size(requested: int, per_sequence_bytes: int, free_bytes: int, n_requests: int) -> int:
    """Sequences to run at once: ``requested`` (0 = automatic, up to ``MAX_AUTO_BATCH``), never more than half the free
    memory holds at ``per_sequence_bytes`` (KV cache and activations of one sequence), never more than there is work."""
    want = requested if requested > 0 else MAX_AUTO_BATCH
    fits = max(1, int(free_bytes // 2 // per_sequence_bytes)) if per_sequence_bytes > 0 and free_bytes > 0 else want
    if requested > fits:
        log.warning("batch size %d does not fit in the free memory (%.1f GiB free, %.0f MiB a sequence): running %d "
                    "at a time", requested, free_bytes / 2**30, per_sequence_bytes / 2**20, fits)
    return max(1, min(want, fits, n_requests))


def equal_length_chunks(windows: Sequence[Sequence[int]], requested: int, bytes_per_token: int,
                        free_bytes: int) -> Iterator[list[int]]:
    """Indices of ``windows`` to score in one pass: windows of one length together (no padding, so each row's sums
    are a batch of one's), at most ``requested`` (0 = automatic) and as many as half the free memory holds."""
    by_length: dict[int, list[int]] = {}
    for i, w in enumerate(windows):
        by_length.setdefault(len(w), []).append(i)
    for n, rows in by_length.items():
        step = auto_batch_size(requested, n * bytes_per_token, free_bytes, len(rows))
        for at in range(0, len(rows), step):
            yield rows[at:at + step]


@dataclass(slots=True)
class _Running:
    index: int  # position in the caller's request list
    req: GenRequest
    rng: np.random.Generator
    started: float
    new: list[int]
    ttft: float = 0.0


def run_generations(reqs: Sequence[GenRequest], decoder_for: Callable[[int], Decoder], capacity: int, *,
                    decode: Callable[[list[int]], str], stop_ids: Collection[int]) -> list[Generation]:
    """Every request through ``decoder_for(capacity)``'s slots, in one answer per request, in order.

    When the engine reports ``BatchRetry``, the requests in flight start over with half as many slots (their seeds
    make a restarted sample the same sample)."""
    out: list[Generation | None] = [None] * len(reqs)
    pending = deque(i for i, r in enumerate(reqs) if r.max_new_tokens > 0)
    for i, r in enumerate(reqs):
        if r.max_new_tokens <= 0:
            out[i] = Generation([], "", "length", 0.0, 0.0)
    while pending:
        decoder = decoder_for(capacity)
        try:
            _drain(reqs, pending, decoder, out, decode, set(stop_ids))
        except BatchRetry as exc:
            if capacity <= 1:
                raise
            capacity = max(1, capacity // 2)
            log.warning("%s; retrying with %d sequences at a time", exc, capacity)
    return [g for g in out if g is not None]


def _drain(reqs: Sequence[GenRequest], pending: deque[int], decoder: Decoder, out: list[Generation | None],
           decode: Callable[[list[int]], str], stops: set[int]) -> None:
    running: dict[int, _Running] = {}
    logits: dict[int, np.ndarray] = {}
    free = list(range(decoder.capacity))[::-1]
    listener = token_listener.get()
    try:
        while pending or running:
            if pending and free and (decoder.continuous or not running):
                admitted: dict[int, Sequence[int]] = {}
                now = time.perf_counter()
                while pending and free:
                    slot, i = free.pop(), pending.popleft()
                    running[slot] = _Running(i, reqs[i], np.random.default_rng(reqs[i].seed), now, [])
                    admitted[slot] = list(reqs[i].prompt)
                logits |= decoder.prefill(admitted)
            feed: dict[int, int] = {}
            picked, ended = len(logits), 0
            for slot in list(logits):
                run = running[slot]
                tok = pick_token(logits.pop(slot), run.req.temperature, run.req.top_p, run.rng)
                if not run.new:
                    run.ttft = time.perf_counter() - run.started
                finished = _advance(run, tok, stops, decode)
                if finished is None:
                    feed[slot] = tok
                    continue
                out[run.index] = finished
                ended += 1
                del running[slot]
                decoder.release(slot)
                free.append(slot)
            if listener is not None and picked:
                listener(picked, ended)
            if feed:
                logits |= decoder.decode(feed)
    except BatchRetry:
        restart = sorted([*pending, *(run.index for run in running.values())])  # in the order they were asked for
        pending.clear()
        pending.extend(restart)
        raise


def _advance(run: _Running, tok: int, stops: set[int], decode: Callable[[list[int]], str]) -> Generation | None:
    """Take one picked token; the finished Generation when the sequence ends here, else None."""
    req = run.req
    if tok in stops or tok in req.stop_ids:
        if not req.ignore_stops:
            return _finish(run, "eos", decode(run.new))
    run.new.append(tok)
    if not req.ignore_stops and req.stop_strings:
        text = decode(run.new)
        if (hit := first_stop(text, req.stop_strings)) is not None:
            return _finish(run, "stop-string", text[:hit])
    if len(run.new) >= req.max_new_tokens:
        return _finish(run, "length", decode(run.new))
    return None


def _finish(run: _Running, reason: str, text: str) -> Generation:
    return Generation(run.new, text, reason, run.ttft, time.perf_counter() - run.started)


class _OneAtATime:
    """A decoder from two callables, ``start(prompt) -> logits`` and ``step(token) -> logits``: one slot."""

    capacity = 1
    continuous = True

    def __init__(self, start: Callable[[list[int]], np.ndarray], step: Callable[[int], np.ndarray]) -> None:
        self._start, self._step = start, step

    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        return {slot: self._start(list(p)) for slot, p in prompts.items()}

    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        return {slot: self._step(t) for slot, t in tokens.items()}

    def release(self, slot: int) -> None:
        pass


def run_generation(req: GenRequest, *, start: Callable[[list[int]], np.ndarray], step: Callable[[int], np.ndarray],
                   decode: Callable[[list[int]], str], stop_ids: Collection[int]) -> Generation:
    """One request through an engine that decodes one sequence at a time (test fakes, simple engines)."""
    return run_generations([req], lambda _n: _OneAtATime(start, step), 1, decode=decode, stop_ids=stop_ids)[0]
