"""The run's comparison as one self-contained HTML page: inline CSS and SVG, no scripts, nothing fetched.

It shows the same rows as the Markdown report with the builds each metric marks (★, e.g. the size/KLD Pareto front),
each metric's own sections (``Metric.html``: the size-vs-KLD plot, per-domain perplexity bars, long context), and for
mixed-precision builds a per-layer map of the bits each tensor got.
"""

from __future__ import annotations

import json
from html import escape
from typing import TYPE_CHECKING, Any

from kizami.run.report_text import (
    SCHEDULE_COLUMNS,
    columns,
    gate_failures,
    mixed_of,
    result_row,
    schedule_rows,
    schedule_summary,
    verdict,
)
from kizami.runtime.result import EvalResult

if TYPE_CHECKING:
    from kizami.run.summary import RunSummary

__all__ = ["html_report"]

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
def _heat_maps(results: dict[str, EvalResult]) -> str:
    """For each mixed-precision build: the bits its budget gave each tensor, a row per layer (a heat map)."""
    from kizami.core.tensor_map import type_bits, type_grid

    maps = []
    for name, r in results.items():
        mixed = mixed_of(r)
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


def _schedule(schedule: dict[str, Any]) -> str:
    if not schedule:
        return ""
    head = "".join(f"<th>{escape(c)}</th>" for c in SCHEDULE_COLUMNS)
    rows = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in schedule_rows(schedule))
    return (f"<h2>Where each step ran</h2><p>{escape(schedule_summary(schedule))}.</p>"
            f"<table id='schedule'><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")


def html_report(summary: RunSummary) -> str:
    from kizami.runtime.metrics import report_order

    results, recipe = summary.results, summary.recipe
    front = {n for m in report_order() for n in m.marked(results)}
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
        *(m.html(results) for m in report_order()), _heat_maps(results),
        _schedule(summary.schedule),
        "<h2>Environment</h2>",
        f"<p class='muted'>{escape(str(env.get('machine')))} · {escape(str(env.get('device')))} · CPU features "
        f"{escape(' '.join(env.get('cpu_features', [])))}<br>{escape(versions)}</p>",
        "<h2>Recipe</h2>", f"<pre>{escape(json.dumps(recipe, indent=2, ensure_ascii=False))}</pre>",
        "</body></html>"])

