"""Long context after quantization: loss as a function of position, and key retrieval at several depths and lengths.

* **Loss by context length.** The first ``max(lengths)`` tokens of a long held-out stream (the reference's code
  stream: held-out files one after another, as a repository reads) are scored in one window, so each position is
  scored once with everything before it as context; per-position losses are averaged in buckets
  ``[1, l1) [l1, l2) ...``. A build whose loss rises faster than bf16's with position has lost long-range ability.
* **Key retrieval**, as the Code Llama paper tests it: a function returning a random number is written once into a
  long stretch of code, at a relative depth, and the prompt ends by asking for its value
  (``assert kizami_key() ==``); greedy decoding must produce that number. Accuracy per (length, depth).

Both go through the Backend protocol only. Engines with a quantizable KV cache (``caps.kv_cache_types``) are measured
again per cache type by the caller, since long context is where the cache dominates memory.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from kizami.errors import KizamiError
from kizami.progress import counter
from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.metrics import Metric, MetricContext
from kizami.runtime.result import EvalResult

__all__ = ["LongCtxSettings", "loss_by_context", "key_retrieval", "longctx", "long_context", "LONGCTX"]


@dataclass(frozen=True, slots=True, kw_only=True)
class LongCtxSettings:
    lengths: tuple[int, ...] = (1024, 2048, 4096)  # bucket edges of the loss curve; the longest is the window
    retrieval_lengths: tuple[int, ...] = (1024, 4096)  # prompt lengths (tokens, approximately) for key retrieval
    depths: tuple[float, ...] = (0.1, 0.5, 0.9)  # where the key sits, as a fraction of the prompt
    trials: int = 2  # keys per (length, depth)
    seed: int = 0

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


def long_context(backend: Backend, ref: Any, settings: Any, progress: Any, label: str = "long context") -> dict[str, Any]:
    """Loss by position and key retrieval on the reference's long stream of held-out code."""
    if ref.long_stream is None:
        raise KizamiError("the reference has no long-context stream; it was made without the longctx task")
    lc = settings.long_context()
    code = ref.domains["code"].text if "code" in ref.domains else ""
    steps = 1 + len(lc.retrieval_lengths) * len(lc.depths) * lc.trials
    return longctx(backend, ref.long_stream.tolist(), code, lc, counter(progress, label, steps))


class LongContext(Metric):
    """Loss by position in one long window and key retrieval; per KV-cache precision where the engine has them (the
    evaluation opens the build again for each, after this instance is closed)."""

    name: ClassVar[str] = "longctx"

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        return long_context(ctx.backend, ctx.reference, ctx.settings, ctx.progress)

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        rows = []
        for kv, loss, acc, mem in result.long_context_rows():
            buckets = " · ".join(f"{b} {x:.3f}" for b, x in zip(result.long_context_buckets, loss))
            rows.append((f"long context ({kv})", f"loss {buckets}; key retrieval {acc:.0%}; peak {mem:.0f} MiB"
                         if acc is not None and mem is not None else f"loss {buckets}"))
        return rows


LONGCTX = LongContext()
