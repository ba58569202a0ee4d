"""Perplexity per domain, KL-divergence vs the reference and top-1 agreement, in one scoring pass over the windows.

Scoring is the costly part, so one pass over each domain's windows gathers all three. The same token ids are used for
every build (the reference's), so perplexities are comparable across formats.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np

from kizami.errors import KizamiError
from kizami.runtime.backend import Backend
from kizami.runtime.metrics import Gate, Metric, MetricContext
from kizami.runtime.metrics.reference import SCORE_CHUNK, Reference
from kizami.runtime.result import EvalResult

__all__ = ["kl_with_tail", "summarize", "quality", "QUALITY"]

_PERCENTILES = (50, 90, 99, 99.9)


def kl_with_tail(ref_lp: np.ndarray, cand_lp: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-position KL(P || Q) over k tokens plus one tail bucket; returns (kl, p_tail).

    ``ref_lp`` and ``cand_lp`` are (P, k) log-probs of the same token ids under the reference and the candidate.
    """
    p = np.exp(ref_lp.astype(np.float64))
    logq = cand_lp.astype(np.float64)
    head = np.sum(p * (ref_lp - logq), axis=1)
    p_tail = np.clip(1.0 - p.sum(axis=1), 0.0, 1.0)
    q_tail = np.clip(1.0 - np.exp(logq).sum(axis=1), 1e-12, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        tail = np.where(p_tail > 1e-12, p_tail * (np.log(np.maximum(p_tail, 1e-300)) - np.log(q_tail)), 0.0)
    return np.maximum(head + tail, 0.0), p_tail  # tiny negatives are float round-off


def summarize(x: np.ndarray) -> dict[str, float]:
    out = {"mean": float(np.mean(x)), "max": float(np.max(x))}
    out |= {f"p{q:g}": float(np.percentile(x, q)) for q in _PERCENTILES}
    return out


def quality(backend: Backend, ref: Reference, progress: Callable[[int], None] = lambda _n: None) -> dict[str, Any]:
    """``{"ppl": {domain: ...}, "kld": {domain and "all": stats}, "top1": {...}}``."""
    ppl, ref_ppl, kld, top1, tails = {}, {}, {}, {}, {}
    all_kl, all_agree = [], []
    for domain, dref in ref.domains.items():
        target, kl, agree, tail = [], [], [], []
        windows = ref.windows(domain)
        offsets = np.cumsum([0, *(w.rows().stop - w.rows().start for w in windows)])
        for at in range(0, len(windows), SCORE_CHUNK):
            chunk = list(enumerate(windows))[at:at + SCORE_CHUNK]
            gathers = []
            for i, w in chunk:
                ids = dref.top_ids[offsets[i]:offsets[i + 1]]
                gathers.append(np.concatenate([np.zeros((w.rows().start, ids.shape[1]), np.int64), ids]))
            scores = backend.score_batch([dref.stream[w.start:w.end].tolist() for _, w in chunk], gathers=gathers)
            for (i, w), s in zip(chunk, scores):
                rows, ids = w.rows(), dref.top_ids[offsets[i]:offsets[i + 1]]
                target.append(s.target[rows])
                if s.gathered is None:
                    raise KizamiError(f"backend {backend.name} returned no gathered log-probs")
                k, t = kl_with_tail(dref.top_lp[offsets[i]:offsets[i + 1]], s.gathered[rows])
                kl.append(k)
                tail.append(t)
                agree.append(s.argmax[rows] == ids[:, 0])
            progress(len(chunk))
        target_all, kl_all, agree_all = np.concatenate(target), np.concatenate(kl), np.concatenate(agree)
        ppl[domain] = float(np.exp(-target_all.mean()))
        ref_ppl[domain] = float(np.exp(-dref.target.astype(np.float64).mean()))
        kld[domain] = summarize(kl_all)
        top1[domain] = float(agree_all.mean())
        tails[domain] = float(np.concatenate(tail).mean())
        all_kl.append(kl_all)
        all_agree.append(agree_all)
    kl_cat = np.concatenate(all_kl)
    kld["all"] = summarize(kl_cat)
    top1["all"] = float(np.concatenate(all_agree).mean())
    return {
        "ppl": ppl, "ref_ppl": ref_ppl,
        "ppl_ratio": {d: ppl[d] / ref_ppl[d] for d in ppl},
        "kld": kld, "top1": top1, "ref_tail_mass": tails,
        "positions": {d: int(len(r.target)) for d, r in ref.domains.items()},
        "windows": {"ctx": ref.ctx, "stride": ref.stride, "top_k": ref.top_k},
    }


def _ppl_drop_pct(result: EvalResult, _ref: EvalResult | None) -> float | None:
    changes = [c for d in result.domains if (c := result.ppl_change_pct(d)) is not None]
    return max(changes) if changes else None


class Quality(Metric):
    """Perplexity per domain, KL-divergence and top-1 agreement against bf16, in one scoring pass."""

    name: ClassVar[str] = "quality"
    aliases: ClassVar[tuple[str, ...]] = ("ppl", "kld")
    gates: ClassVar[Mapping[str, Gate]] = {
        "max_ppl_increase_pct": Gate(_ppl_drop_pct, doc="worst domain's perplexity increase, percent"),
        "max_kld": Gate(lambda r, _ref: r.kld, doc="mean KL-divergence over all held-out tokens")}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        n = sum(len(ctx.reference.windows(d)) for d in ctx.reference.domains)
        return quality(ctx.backend, ctx.reference, ctx.count("perplexity · KLD · top-1", n))

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        q = result.quality or {}
        rows = [(f"PPL {d}", f"{q['ppl'][d]:.3f} (bf16 {q['ref_ppl'][d]:.3f}, {(q['ppl_ratio'][d] - 1) * 100:+.2f}%)")
                for d in q.get("ppl", {})]
        return rows + [(f"KLD {d}", f"mean {k['mean']:.5f} · p99 {k['p99']:.4f} · top-1 {q['top1'][d]:.3f}")
                       for d, k in q.get("kld", {}).items()]


QUALITY = Quality()
