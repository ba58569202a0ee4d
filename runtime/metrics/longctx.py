"""Long context after quantization: loss as a function of position, and key retrieval at several depths and lengths.

* **Loss by context length.** The first ``max(lengths)`` tokens of a long held-out stream (the reference's code
  stream: held-out files one after another, as a repository reads) are scored in one window, so each position is
  scored once with everything before it as context; per-position losses are averaged in buckets
  ``[1, l1) [l1, l2) ...``. A build whose loss rises faster than bf16's with position has lost long-range ability.
* **Key retrieval**, as the Code Llama paper tests it: a function returning a random number is written once into a
  long stretch of code, at a relative depth, and the prompt ends by asking for its value
  (``assert kizami_key() ==``); greedy decoding must produce that number. Accuracy per (length, depth).

Both go through the Backend protocol only. Engines with a quantizable KV cache (``caps.kv_cache_types``) are measured
again per cache type asked for (``kv_cache_types``), each in a fresh instance of the engine opened once the build's own
is closed, since long context is where the cache dominates memory.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kizami.core.errors import KizamiError
from kizami.core.progress import counter
from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.metrics import Metric, MetricContext, cell, dig, html_table, md_table, num
from kizami.runtime.result import EvalResult

__all__ = ["LongCtxSettings", "loss_by_context", "key_retrieval", "longctx", "long_context", "long_context_rows", "LONGCTX"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LongCtxSettings:
    lengths: tuple[int, ...] = (1024, 2048, 4096)  # bucket edges of the loss curve; the longest is the window
    retrieval_lengths: tuple[int, ...] = (1024, 3072)  # prompt lengths (tokens, approximately) for key retrieval
    depths: tuple[float, ...] = (0.1, 0.5, 0.9)  # where the key sits, as a fraction of the prompt
    trials: int = 2  # keys per (length, depth)
    seed: int = 0
    kv_cache_types: tuple[str, ...] = ()  # also measure with these KV caches, where the engine has them (q8_0, q4_0)
    version: int = 1

    def __post_init__(self) -> None:
        if not self.lengths or list(self.lengths) != sorted(set(self.lengths)) or self.lengths[0] < 16:
            raise KizamiError(f"longctx lengths must rise and start at 16 or more, got {list(self.lengths)}")
        if any(not 0.0 <= d <= 1.0 for d in self.depths) or self.trials < 1:
            raise KizamiError(f"retrieval depths must lie in [0, 1] and trials be >= 1, got {list(self.depths)}")

    @property
    def longest(self) -> int:
        return max(self.lengths[-1], *self.retrieval_lengths)


def loss_by_context(backend: Backend, stream: Sequence[int], lengths: Sequence[int]) -> dict[str, Any]:
    """Mean next-token loss (nats) per position bucket of one ``max(lengths)``-token window of ``stream``."""
    n = max(lengths)
    if len(stream) < n:
        raise KizamiError(f"long-context loss needs {n} tokens of held-out text, the set has {len(stream)}; lower "
                          "the longctx lengths or build the calibration set from more documents")
    nll = -backend.score(list(stream[:n])).target.astype(np.float64)  # row i: token i+1 with i+1 tokens before it
    edges = [1, *lengths]
    buckets = [{"from": a, "to": b, "nll": float(nll[a - 1:b - 1].mean())} for a, b in zip(edges, edges[1:])]
    return {"tokens": n, "buckets": buckets}


def _filler(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def key_retrieval(backend: Backend, filler_text: str, settings: LongCtxSettings,
                  progress: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """Accuracy of recalling a planted value, per (length, depth); each trial's generation is kept."""
    rng = random.Random(settings.seed)
    lines = _filler(filler_text)
    if not lines:
        raise KizamiError("key retrieval needs held-out code to hide the key in")
    tokens_per_line = max(1.0, len(backend.tokenize(["\n".join(lines[:200])])[0]) / min(len(lines), 200))
    cells: dict[str, float] = {}
    trials: list[dict[str, Any]] = []
    for length in settings.retrieval_lengths:
        n_lines = int(length / tokens_per_line)
        body = [lines[i % len(lines)] for i in range(n_lines)]
        for depth in settings.depths:
            hits = []
            for t in range(settings.trials):
                value = rng.randrange(10_000, 100_000)
                at = int(depth * len(body))
                code = [*body[:at], "", "def kizami_key():", f"    return {value}", "", *body[at:]]
                prompt = "\n".join(code) + "\n\n\nassert kizami_key() =="
                ids = backend.tokenize([prompt])[0]
                gen = backend.generate([GenRequest(prompt=ids, max_new_tokens=6, stop_strings=("\n",))])[0]
                ok = gen.text.strip().startswith(str(value))
                hits.append(ok)
                trials.append({"length": length, "depth": depth, "trial": t, "prompt_tokens": len(ids),
                               "value": value, "generated": gen.text, "hit": ok})
                progress(1)
            cells[f"{length}@{depth:g}"] = sum(hits) / len(hits)
    return {"accuracy": sum(t["hit"] for t in trials) / len(trials), "by_cell": cells, "trials": trials}


def longctx(backend: Backend, stream: Sequence[int], filler_text: str, settings: LongCtxSettings,
            progress: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """Both long-context checks, with the peak memory they took."""
    backend.reset_memory()
    out = {"loss": loss_by_context(backend, stream, settings.lengths)}
    progress(1)
    out["retrieval"] = key_retrieval(backend, filler_text, settings, progress)
    out["memory"] = backend.memory()
    return out


def long_context(backend: Backend, ref: Any, settings: LongCtxSettings, progress: Any,
                 label: str = "long context") -> dict[str, Any]:
    """Loss by position and key retrieval on the reference's long stream of held-out code."""
    if ref.long_stream is None:
        raise KizamiError("the reference has no long-context stream; it was made without the longctx task")
    code = ref.domains["code"].text if "code" in ref.domains else ""
    steps = 1 + len(settings.retrieval_lengths) * len(settings.depths) * settings.trials
    return longctx(backend, ref.long_stream.tolist(), code, settings, counter(progress, label, steps))


def long_context_rows(result: EvalResult) -> list[tuple[str, list[float], float | None, float | None]]:
    """(KV cache, loss per position bucket, retrieval accuracy, peak MiB): the build's own cache first."""
    section = result.section("longctx")
    if not section:
        return []
    runs = [("default", section), *sorted((section.get("kv_cache") or {}).items())]
    return [(kv, [float(b["nll"]) for b in run["loss"]["buckets"]], num(dig(run, "retrieval", "accuracy")),
             num(next(iter((run.get("memory") or {}).values()), None))) for kv, run in runs]


def _buckets(result: EvalResult) -> list[str]:
    return [f"{b['from']}–{b['to']}" for b in dig(result.section("longctx"), "loss", "buckets") or []]


def _table(results: Mapping[str, EvalResult]) -> tuple[list[str], list[list[str]]]:
    """Loss per position bucket (Δ vs bf16 in %), key-retrieval accuracy and peak memory, per build and KV cache."""
    first = next((r for r in results.values() if r.section("longctx")), None)
    if first is None:
        return [], []
    ref = {kv: loss for kv, loss, _acc, _mem in (long_context_rows(results["bf16"]) if "bf16" in results else [])}
    header = ["build", "KV cache", *(f"loss {b}" for b in _buckets(first)), "key retrieval", "peak MiB"]
    rows = []
    for name, r in results.items():
        for kv, loss, acc, mem in long_context_rows(r):
            base = ref.get("default")
            cells = [f"{x:.3f}" + (f" ({(x / b - 1) * 100:+.1f}%)" if base and name != "bf16" else "")
                     for x, b in zip(loss, base or loss)]
            rows.append([name, kv, *cells, cell(acc, ".0%"), cell(mem, ".0f")])
    return header, rows


class LongContext(Metric):
    """Loss by position in one long window and key retrieval; per KV-cache precision where the engine has them (the
    build is opened again for each, after its own instance is closed)."""

    name: ClassVar[str] = "longctx"
    config_class: ClassVar[type[Any] | None] = LongCtxSettings
    legacy: ClassVar[Mapping[str, str]] = {"longctx_lengths": "lengths", "retrieval_lengths": "retrieval_lengths",
                                           "retrieval_depths": "depths", "kv_cache_types": "kv_cache_types"}

    def needs(self, config: Any) -> dict[str, int]:
        return {"long_stream": config.longest}  # held-out code as one long stream, in the source tokenizer's ids

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        return long_context(ctx.backend, ctx.reference, ctx.config, ctx.progress)

    def finish(self, ctx: MetricContext, section: dict[str, Any]) -> dict[str, Any]:
        from kizami.runtime import open_build

        kinds = [k for k in ctx.config.kv_cache_types if k in ctx.backend.caps.kv_cache_types]
        out: dict[str, Any] = {}
        for kind in kinds:
            backend = open_build(ctx.build, **ctx.settings.engine_options(), kv_cache=kind)
            try:
                out[kind] = long_context(backend, ctx.reference, ctx.config, ctx.progress, f"long context, KV {kind}")
            finally:
                backend.close()
        return {**section, "kv_cache": out} if out else section

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        rows = []
        for kv, loss, acc, mem in long_context_rows(result):
            buckets = " · ".join(f"{b} {x:.3f}" for b, x in zip(_buckets(result), loss))
            rows.append((f"long context ({kv})", f"loss {buckets}; key retrieval {acc:.0%}; peak {mem:.0f} MiB"
                         if acc is not None and mem is not None else f"loss {buckets}"))
        return rows

    def report(self, results: Mapping[str, EvalResult]) -> list[str]:
        header, rows = _table(results)
        if not rows:
            return []
        return ["## Long context", "", "Mean next-token loss (nats) by position in one long window of held-out code, "
                "each position scored once (Δ vs bf16's default cache); key retrieval as in the Code Llama paper.", "",
                *md_table(header, rows), ""]

    def html(self, results: Mapping[str, EvalResult]) -> str:
        header, rows = _table(results)
        if not rows:
            return ""
        return ("<h2>Long context</h2><p class='muted'>loss by position in one long window of held-out code (Δ vs bf16); "
                "key retrieval as in the Code Llama paper</p>" + html_table("longctx", header, rows))


LONGCTX = LongContext()
