"""Perplexity per domain, KL-divergence vs the reference and top-1 agreement, in one scoring pass over the windows.

Scoring is the costly part, so one pass over each domain's windows gathers all three. The same token ids are used for
every build (the reference's), so perplexities are comparable across formats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from html import escape
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from kizami.core.errors import KizamiError
from kizami.runtime.backend import Backend
from kizami.runtime.metrics import Gate, Metric, MetricContext, cell, dig, num
from kizami.runtime.metrics.size import size_bytes
from kizami.runtime.reference import SCORE_CHUNK, Reference
from kizami.runtime.result import EvalResult

__all__ = ["kl_with_tail", "summarize", "quality", "ppl", "ppl_change_pct", "domains", "kld", "top1", "pareto_front",
           "QUALITY"]

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


def of_reference(ref: Reference) -> dict[str, Any]:
    """The section of the reference model measured against itself, from the reference pass that just computed it:
    its perplexities, KLD 0 and top-1 1 by construction (the same weights, engine, windows and ids). Re-scoring would
    only repeat that pass (minutes on a real model) and measure batching noise."""
    ppl, kld, tails = {}, {}, {}
    zeros = summarize(np.zeros(1))
    for domain, dref in ref.domains.items():
        ppl[domain] = float(np.exp(-dref.target.astype(np.float64).mean()))
        kld[domain] = zeros
        tails[domain] = float(np.clip(1.0 - np.exp(dref.top_lp.astype(np.float64)).sum(axis=1), 0.0, 1.0).mean())
    return {"ppl": ppl, "ref_ppl": dict(ppl), "ppl_ratio": {d: 1.0 for d in ppl}, "kld": {**kld, "all": zeros},
            "top1": {**{d: 1.0 for d in ppl}, "all": 1.0}, "ref_tail_mass": tails,
            "positions": {d: int(len(r.target)) for d, r in ref.domains.items()},
            "windows": {"ctx": ref.ctx, "stride": ref.stride, "top_k": ref.top_k},
            "from_reference": True}


def is_reference(build: Path, backend: Backend, ref: Reference) -> bool:
    """Is this build the reference model itself, opened as the reference pass opened it (same dtype)?"""
    return (ref.meta.get("ref_model") == str(Path(build).resolve())
            and str(getattr(backend, "dtype", None)) == str(ref.meta.get("dtype")))


def ppl(result: EvalResult, domain: str) -> float | None:
    return num(dig(result.section("quality"), "ppl", domain))


def ppl_change_pct(result: EvalResult, domain: str) -> float | None:
    ratio = dig(result.section("quality"), "ppl_ratio", domain)
    return None if ratio is None else (ratio - 1) * 100


def domains(result: EvalResult) -> list[str]:
    return list(dig(result.section("quality"), "ppl_ratio") or {})


def kld(result: EvalResult) -> float | None:
    return num(dig(result.section("quality"), "kld", "all", "mean"))


def top1(result: EvalResult) -> float | None:
    return num(dig(result.section("quality"), "top1", "all"))


def _ppl_drop_pct(result: EvalResult, _ref: EvalResult | None) -> float | None:
    changes = [c for d in domains(result) if (c := ppl_change_pct(result, d)) is not None]
    return max(changes) if changes else None


def _ppl_cell(result: EvalResult, domain: str) -> str:
    value, change = ppl(result, domain), ppl_change_pct(result, domain)
    return "—" if value is None or change is None else f"{value:.3f} ({change:+.2f}%)"


_DOMAINS = ("code", "ja", "en")  # the report's perplexity columns
_DOMAIN_COLORS = {"code": "#2f6fb0", "ja": "#c0262d", "en": "#6b8e23"}


def pareto_front(points: dict[str, tuple[float, float]]) -> set[str]:
    """Names whose (size, error) no other point beats on both (smaller-or-equal size and error, one strictly)."""
    return {n for n, (s, e) in points.items()
            if not any((s2 <= s and e2 <= e) and (s2, e2) != (s, e) for m, (s2, e2) in points.items() if m != n)}


def _points(results: Mapping[str, EvalResult]) -> dict[str, tuple[float, float]]:
    pts = {}
    for name, r in results.items():
        size, k = size_bytes(r), kld(r)
        if name != "bf16" and size and k is not None:
            pts[name] = (size / 2**20, max(k, 1e-7))  # log axis: an exact match sits on the floor
    return pts


def _scatter(pts: dict[str, tuple[float, float]], front: set[str]) -> str:
    if not pts:
        return "<p class='muted'>no build has both a size and a KLD</p>"
    w, h, pad = 720, 360, 60
    xs = [s for s, _ in pts.values()]
    ys = [math.log10(e) for _, e in pts.values()]
    x0, x1 = 0.0, max(xs) * 1.08
    y0, y1 = math.floor(min(ys)), math.ceil(max(ys)) + (1 if math.ceil(max(ys)) == math.floor(min(ys)) else 0)

    def sx(v: float) -> float:
        return pad + (v - x0) / (x1 - x0) * (w - 2 * pad)

    def sy(v: float) -> float:
        return h - pad - (math.log10(v) - y0) / (y1 - y0) * (h - 2 * pad)

    parts = [f"<svg id='pareto' viewBox='0 0 {w} {h}' width='{w}' height='{h}' role='img' "
             "aria-label='size versus KL-divergence'>",
             f"<line x1='{pad}' y1='{h - pad}' x2='{w - pad}' y2='{h - pad}' stroke='#888'/>",
             f"<line x1='{pad}' y1='{pad}' x2='{pad}' y2='{h - pad}' stroke='#888'/>",
             f"<text x='{w / 2}' y='{h - 15}' text-anchor='middle'>size (MiB)</text>",
             f"<text x='15' y='{h / 2}' transform='rotate(-90 15 {h / 2})' text-anchor='middle'>"
             "mean KLD vs bf16 (log)</text>"]
    for k in range(y0, y1 + 1):
        y = sy(10.0**k)
        parts.append(f"<line x1='{pad}' x2='{w - pad}' y1='{y:.1f}' y2='{y:.1f}' stroke='#eee'/>"
                     f"<text x='{pad - 6}' y='{y + 4:.1f}' text-anchor='end'>1e{k}</text>")
    for i in range(5):
        v = x0 + (x1 - x0) * i / 4
        parts.append(f"<text x='{sx(v):.1f}' y='{h - pad + 16}' text-anchor='middle'>{v:.0f}</text>")
    line = sorted((pts[n] for n in front), key=lambda p: p[0])
    if len(line) > 1:
        path = " ".join(f"{sx(s):.1f},{sy(e):.1f}" for s, e in line)
        parts.append(f"<polyline class='front' points='{path}' fill='none' stroke='#c77c02' stroke-dasharray='5 4'/>")
    for name, (s, e) in sorted(pts.items()):
        on = name in front
        parts.append(f"<circle class='build{' front' if on else ''}' data-build='{escape(name)}' cx='{sx(s):.1f}' "
                     f"cy='{sy(e):.1f}' r='{6 if on else 4}' fill='{'#c77c02' if on else '#2f6fb0'}'>"
                     f"<title>{escape(name)}: {s:.1f} MiB, KLD {e:.2g}</title></circle>"
                     f"<text x='{sx(s) + 8:.1f}' y='{sy(e) - 6:.1f}'>{escape(name)}</text>")
    return "\n".join([*parts, "</svg>"])


def _bars(results: Mapping[str, EvalResult]) -> str:
    rows = [(n, {d: c for d in domains(r) if (c := ppl_change_pct(r, d)) is not None})
            for n, r in results.items() if n != "bf16" and domains(r)]
    if not rows:
        return "<p class='muted'>no perplexity results</p>"
    names = sorted({d for _, v in rows for d in v})
    top = max([abs(x) for _, v in rows for x in v.values()] + [0.1])
    bar_h, label_w, w = 12, 170, 720
    h = len(rows) * (bar_h * len(names) + 10) + 30
    mid = label_w + (w - label_w) / 2
    scale = (w - label_w) / 2 / top
    parts = [f"<svg id='domains' viewBox='0 0 {w} {h}' width='{w}' height='{h}' role='img' "
             "aria-label='perplexity change by domain'>",
             f"<line x1='{mid}' x2='{mid}' y1='0' y2='{h - 20}' stroke='#888'/>"]
    y = 4
    for name, vals in rows:
        parts.append(f"<text x='0' y='{y + bar_h * len(names) / 2 + 4}'>{escape(name)}</text>")
        for d in names:
            v = vals.get(d, 0.0)
            x = mid if v >= 0 else mid + v * scale
            parts.append(f"<rect class='bar' data-build='{escape(name)}' data-domain='{d}' x='{x:.1f}' y='{y}' "
                         f"width='{abs(v) * scale:.1f}' height='{bar_h - 2}' fill='{_DOMAIN_COLORS.get(d, '#888')}'>"
                         f"<title>{escape(name)} {d}: {v:+.2f}%</title></rect>")
            y += bar_h
        y += 10
    legend = " ".join(f"<tspan fill='{_DOMAIN_COLORS.get(d, '#888')}'>■ {d}</tspan>" for d in names)
    parts.append(f"<text x='{label_w}' y='{h - 5}'>{legend} · PPL change vs bf16, ±{top:.2f}% full scale</text>")
    return "\n".join([*parts, "</svg>"])


class Quality(Metric):
    """Perplexity per domain, KL-divergence and top-1 agreement against bf16, in one scoring pass."""

    name: ClassVar[str] = "quality"
    aliases: ClassVar[tuple[str, ...]] = ("ppl", "kld")
    columns: ClassVar[tuple[str, ...]] = (*(f"PPL {d}" for d in _DOMAINS), "KLD", "top-1")
    gates: ClassVar[Mapping[str, Gate]] = {
        "max_ppl_increase_pct": Gate(_ppl_drop_pct, doc="worst domain's perplexity increase, percent"),
        "max_kld": Gate(lambda r, _ref: kld(r), doc="mean KL-divergence over all held-out tokens")}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        if is_reference(ctx.build, ctx.backend, ctx.reference):
            return of_reference(ctx.reference)
        n = sum(len(ctx.reference.windows(d)) for d in ctx.reference.domains)
        return quality(ctx.backend, ctx.reference, ctx.count("perplexity · KLD · top-1", n))

    def cells(self, result: EvalResult) -> list[str]:
        return [*(_ppl_cell(result, d) for d in _DOMAINS), cell(kld(result), ".5f"), cell(top1(result), ".3f")]

    def terminal_cells(self, result: EvalResult) -> list[str]:
        cells = self.cells(result)  # ΔPPL % only; the values are in the report
        return [*(c.split(" ")[-1].strip("()") for c in cells[:len(_DOMAINS)]), *cells[len(_DOMAINS):]]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        q = result.section("quality") or {}
        rows = [(f"PPL {d}", f"{q['ppl'][d]:.3f} (bf16 {q['ref_ppl'][d]:.3f}, {(q['ppl_ratio'][d] - 1) * 100:+.2f}%)")
                for d in q.get("ppl", {})]
        return rows + [(f"KLD {d}", f"mean {k['mean']:.5f} · p99 {k['p99']:.4f} · top-1 {q['top1'][d]:.3f}")
                       for d, k in q.get("kld", {}).items()]

    def marked(self, results: Mapping[str, EvalResult]) -> set[str]:
        return pareto_front(_points(results))

    def html(self, results: Mapping[str, EvalResult]) -> str:
        return "\n".join(["<h2>Size vs quality</h2>", _scatter(_points(results), self.marked(results)),
                          "<h2>Perplexity change by domain</h2>", _bars(results)])

    def notes(self, result: EvalResult) -> list[str]:
        s = result.settings
        return [f"perplexity windows: ctx {s.get('ctx')}, stride {s.get('stride')}; KLD over the reference's "
                f"top-{s.get('top_k')} tokens plus one tail bucket (a lower bound; see docs/evaluation.md)"]


QUALITY = Quality()
