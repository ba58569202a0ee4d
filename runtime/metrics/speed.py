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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.metrics import Gate, Metric, MetricContext, cell, dig, num
from kizami.runtime.result import EvalResult

__all__ = ["SpeedSettings", "speed", "prefill_tok_s", "decode_tok_s", "batch_tok_s", "peak_mib", "SPEED"]


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeedSettings:
    prompt_tokens: int = 128
    decode_tokens: int = 32
    warmup: int = 1
    repeats: int = 3
    batch: int = 8  # also decode this many sequences at once: the throughput an evaluation sees (0 or 1 = skip)
    version: int = 1

    def __post_init__(self) -> None:
        if self.prompt_tokens < 1 or self.decode_tokens < 1 or self.repeats < 1 or self.warmup < 0 or self.batch < 0:
            raise ValueError("prompt_tokens, decode_tokens and repeats must be >= 1, warmup and batch >= 0, got "
                             f"{self.prompt_tokens}, {self.decode_tokens}, {self.repeats}, {self.warmup}, {self.batch}")


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


def prefill_tok_s(result: EvalResult) -> float | None:
    return num(dig(result.section("speed"), "prefill_tok_s", "median"))


def decode_tok_s(result: EvalResult) -> float | None:
    return num(dig(result.section("speed"), "decode_tok_s", "median"))


def batch_tok_s(result: EvalResult) -> float | None:
    """Generated tokens/s with ``batch`` sequences decoded at once (the evaluation's throughput)."""
    return num(dig(result.section("speed"), "batched", "tok_s", "median"))


def peak_mib(result: EvalResult) -> float | None:
    return num(next(iter((dig(result.section("speed"), "memory") or {}).values()), None))


class Speed(Metric):
    name: ClassVar[str] = "speed"
    config_class: ClassVar[type[Any] | None] = SpeedSettings
    columns: ClassVar[tuple[str, ...]] = ("prefill tok/s", "decode tok/s", "batch tok/s", "peak MiB")
    terminal: ClassVar[tuple[str, ...] | None] = ("decode tok/s",)
    gates: ClassVar[Mapping[str, Gate]] = {
        "min_decode_tok_s": Gate(lambda r, _ref: decode_tok_s(r), higher_is_better=True, doc="batch-1 decode tokens/s")}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        return speed(ctx.backend, next(iter(ctx.reference.domains.values())).stream.tolist(), ctx.config)

    def cells(self, result: EvalResult) -> list[str]:
        return [cell(prefill_tok_s(result), ".0f"), cell(decode_tok_s(result), ".1f"), cell(batch_tok_s(result), ".1f"),
                cell(peak_mib(result), ".0f")]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        sp = result.section("speed")
        if not sp:
            return []

        def spread(x: dict[str, float], fmt: str) -> str:
            return f"{x['median']:{fmt}} ({x['min']:{fmt}}–{x['max']:{fmt}})"

        rows = [("prefill tok/s", spread(sp["prefill_tok_s"], ".0f")), ("decode tok/s", spread(sp["decode_tok_s"], ".1f")),
                ("TTFT", f"{sp['ttft_s']['median'] * 1000:.0f} ms · {sp['threads']} threads")]
        if (b := sp.get("batched")) is not None:
            rows.append((f"tok/s, {b['batch']} at once", spread(b["tok_s"], ".1f")))
        return rows + [(k.replace("_", " "), f"{v:.0f}") for k, v in sp["memory"].items()]

    def notes(self, result: EvalResult) -> list[str]:
        sp = result.section("speed") or {}
        return [f"speed: batch 1, {sp.get('prompt_tokens')} prompt tokens, {sp.get('decode_tokens')} decoded, median of "
                f"{sp.get('repeats')} after {sp.get('warmup')} warm-up, {sp.get('threads')} threads"]


SPEED = Speed()
