"""The run's comparison as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.

It shows the same rows as the Markdown report, a size-vs-KLD plot with the Pareto front marked (no other build is both
smaller and closer to bf16 than a build on the front), per-domain perplexity change bars, and for mixed-precision
builds a per-layer map of the bits each tensor got.
"""

from __future__ import annotations

import json
import math
from html import escape
from typing import TYPE_CHECKING, Any

from kizami.run.report_text import SCHEDULE_COLUMNS, columns, gate_failures, long_context_rows, result_row, schedule_rows, schedule_summary, verdict
from kizami.runtime.result import EvalResult

if TYPE_CHECKING:
    from kizami.runtime.result import RunSummary

__all__ = ["html_report", "pareto_front"]

_CSS = """
body{font:13px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:1500px;color:#1d2430;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-variant-numeric:tabular-nums;width:100%}
th,td{border-bottom:1px solid #dde3ea;padding:.3rem .5rem;text-align:right;white-space:nowrap}
th:nth-child(-n+2),td:nth-child(-n+2){text-align:left}th{background:#f3f6f9}
tr.pass td:last-child{color:#17803d}tr.fail td:last-child{color:#c0262d;font-weight:600}
tr.front td:first-child::after{content:" ★";color:#c77c02}
.muted{color:#5d6b7a}svg text{font:12px system-ui,sans-serif;fill:#1d2430}
"""
_DOMAIN_COLORS = {"code": "#2f6fb0", "ja": "#c0262d", "en": "#6b8e23"}


def pareto_front(points: dict[str, tuple[float, float]]) -> set[str]:
    """Names whose (size, error) no other point beats on both (smaller-or-equal size and error, one strictly)."""
    return {n for n, (s, e) in points.items()
            if not any((s2 <= s and e2 <= e) and (s2, e2) != (s, e) for m, (s2, e2) in points.items() if m != n)}


def _points(results: dict[str, EvalResult]) -> dict[str, tuple[float, float]]:
    pts = {}
    for name, r in results.items():
        size, kld = r.size_bytes, r.kld
        if name != "bf16" and size and kld is not None:
            pts[name] = (size / 2**20, max(kld, 1e-7))  # log axis: an exact match sits on the floor
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


def _bars(results: dict[str, EvalResult]) -> str:
    rows = [(n, {d: c for d in r.domains if (c := r.ppl_change_pct(d)) is not None})
            for n, r in results.items() if n != "bf16" and r.domains]
    if not rows:
        return "<p class='muted'>no perplexity results</p>"
    domains = sorted({d for _, v in rows for d in v})
    top = max([abs(x) for _, v in rows for x in v.values()] + [0.1])
    bar_h, label_w, w = 12, 170, 720
    h = len(rows) * (bar_h * len(domains) + 10) + 30
    mid = label_w + (w - label_w) / 2
    scale = (w - label_w) / 2 / top
    parts = [f"<svg id='domains' viewBox='0 0 {w} {h}' width='{w}' height='{h}' role='img' "
             "aria-label='perplexity change by domain'>",
             f"<line x1='{mid}' x2='{mid}' y1='0' y2='{h - 20}' stroke='#888'/>"]
    y = 4
    for name, vals in rows:
        parts.append(f"<text x='0' y='{y + bar_h * len(domains) / 2 + 4}'>{escape(name)}</text>")
        for d in domains:
            v = vals.get(d, 0.0)
            x = mid if v >= 0 else mid + v * scale
            parts.append(f"<rect class='bar' data-build='{escape(name)}' data-domain='{d}' x='{x:.1f}' y='{y}' "
                         f"width='{abs(v) * scale:.1f}' height='{bar_h - 2}' fill='{_DOMAIN_COLORS.get(d, '#888')}'>"
                         f"<title>{escape(name)} {d}: {v:+.2f}%</title></rect>")
            y += bar_h
        y += 10
    legend = " ".join(f"<tspan fill='{_DOMAIN_COLORS.get(d, '#888')}'>■ {d}</tspan>" for d in domains)
    parts.append(f"<text x='{label_w}' y='{h - 5}'>{legend} · PPL change vs bf16, ±{top:.2f}% full scale</text>")
    return "\n".join([*parts, "</svg>"])


def _heat_maps(results: dict[str, EvalResult]) -> str:
    """For each mixed-precision build: the bits its budget gave each tensor, a row per layer (a heat map)."""
    from kizami.mixed import type_bits, type_grid

    maps = []
    for name, r in results.items():
        mixed = (r.size or {}).get("mixed") or {}
        if not mixed.get("tensor_types"):
            continue
        columns, rows = type_grid(mixed["tensor_types"])
        bits = [type_bits(t) for _, types in rows for t in types if t]
        lo, hi = min(bits), max(bits)
        cell_w, cell_h, label_w = 78, 20, 90
        w, h = label_w + cell_w * len(columns), cell_h * (len(rows) + 1) + 8
        parts = [f"<svg class='heat' data-build='{escape(name)}' viewBox='0 0 {w} {h}' width='{w}' height='{h}' "
                 f"role='img' aria-label='bits per tensor of {escape(name)}'>"]
        parts += [f"<text x='{label_w + cell_w * (i + .5)}' y='14' text-anchor='middle'>{escape(c)}</text>"
                  for i, c in enumerate(columns)]
        for j, (label, types) in enumerate(rows):
            y = cell_h * (j + 1)
            parts.append(f"<text x='0' y='{y + 14}'>{escape(label)}</text>")
            for i, t in enumerate(types):
                if not t:
                    continue
                share = (type_bits(t) - lo) / (hi - lo) if hi > lo else 1.0
                colour = f"hsl({int(share * 120)},65%,{72 - int(share * 20)}%)"  # red (few bits) to green (many)
                parts.append(f"<rect x='{label_w + cell_w * i}' y='{y}' width='{cell_w - 2}' height='{cell_h - 2}' "
                             f"fill='{colour}'><title>{escape(label)}{' ' + escape(columns[i]) if label.startswith('layer') else ''}: "
                             f"{escape(t)}</title></rect>"
                             f"<text x='{label_w + cell_w * (i + .5)}' y='{y + 14}' text-anchor='middle'>{escape(t)}</text>")
        predicted = f", predicted KLD {mixed['predicted_kld']:.4f}" if mixed.get("predicted_kld") is not None else ""
        maps.append(f"<h3>{escape(name)}</h3><p class='muted'>budget {mixed['budget_bpw']:g} bits per weight, "
                    f"stored {mixed['bpw']:.3f}{predicted}; each tensor's type chosen from its measured "
                    f"sensitivity ({escape(str(mixed.get('sensitivity')))})</p>" + "\n".join([*parts, "</svg>"]))
    return ("<h2>Mixed precision: bits per tensor</h2>" + "".join(maps)) if maps else ""


def _long_context(results: dict[str, EvalResult]) -> str:
    header, rows = long_context_rows(results)
    if not rows:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return (f"<h2>Long context</h2><p class='muted'>loss by position in one long window of held-out code (Δ vs bf16); "
            f"key retrieval as in the Code Llama paper</p><table id='longctx'><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>")


def _schedule(schedule: dict[str, Any]) -> str:
    if not schedule:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in SCHEDULE_COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in schedule_rows(schedule))
    return (f"<h2>Where each step ran</h2><p>{escape(schedule_summary(schedule))}.</p>"
            f"<table id='schedule'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def html_report(summary: RunSummary) -> str:
    results, recipe = summary.results, summary.recipe
    front = pareto_front(_points(results))
    head = "".join(f"<th>{escape(c)}</th>" for c in (*columns(), "gates"))
    body = []
    for name, r in results.items():
        row, word = result_row(r, label=name), verdict(r)
        cls = " ".join(c for c in ("pass" if word == "pass" else "fail" if word == "FAIL" else "",
                                    "front" if name in front else "") if c)
        body.append(f"<tr class='{cls}' data-build='{escape(name)}'>"
                    + "".join(f"<td>{escape(c)}</td>" for c in (*row, word)) + "</tr>")
    failures = summary.failures
    gate_notes = [f"<li><b>{escape(n)}</b>: " + escape("; ".join(gate_failures(r))) + "</li>"
                  for n, r in results.items() if r.passed is False]
    any_result = next(iter(results.values()), None)
    env = any_result.environment if any_result else {}
    versions = ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())
    calib = (summary.calibration or {}).get("id", "?")
    return "\n".join([
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>kizami report: {escape(recipe['name'])}</title><style>{_CSS}</style></head><body>",
        f"<h1>kizami report: {escape(recipe['name'])}</h1>",
        f"<p>Model <code>{escape(str(recipe['model']))}</code> · calibration set <code>{escape(calib)}</code> · every "
        "build measured against the bf16 reference on the same token ids. ★ marks the size/KLD Pareto front.</p>",
        f"<div style='overflow-x:auto'><table id='builds'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}"
        "</tbody></table></div>",
        ("<h2>Gate failures</h2><ul>" + "".join(gate_notes) + "</ul>") if gate_notes else "",
        ("<h2>Builds that failed</h2><ul>" + "".join(f"<li><b>{escape(k)}</b>: {escape(v)}</li>"
                                                      for k, v in failures.items()) + "</ul>") if failures else "",
        "<h2>Size vs quality</h2>", _scatter(_points(results), front),
        "<h2>Perplexity change by domain</h2>", _bars(results), _heat_maps(results), _long_context(results),
        _schedule(summary.schedule),
        "<h2>Environment</h2>",
        f"<p class='muted'>{escape(str(env.get('machine')))} · {escape(str(env.get('device')))} · CPU features "
        f"{escape(' '.join(env.get('cpu_features', [])))}<br>{escape(versions)}</p>",
        "<h2>Recipe</h2>", f"<pre>{escape(json.dumps(recipe, indent=2, ensure_ascii=False))}</pre>",
        "</body></html>"])

