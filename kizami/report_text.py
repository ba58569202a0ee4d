"""Terminal tables of evaluation results (the HTML/Markdown report builds on the same rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

__all__ = ["result_row", "eval_table", "dig"]

COLUMNS = ("build", "format", "size MiB", "bits/w", "PPL code", "PPL ja", "PPL en", "KLD", "top-1",
           "FIM PSM", "FIM SPM", "FIM = bf16", "prefill tok/s", "decode tok/s", "peak MiB", "tok parity")


def dig(d: Any, *keys: str) -> Any:
    """``d[k1][k2]...``, or None where a key is missing (a skipped metric, a result from an older run)."""
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return None
        d = d[k]
    return d


def _ppl(result: dict[str, Any], domain: str) -> str:
    ppl, ratio = dig(result, "quality", "ppl", domain), dig(result, "quality", "ppl_ratio", domain)
    return "—" if ppl is None else f"{ppl:.3f} ({(ratio - 1) * 100:+.2f}%)"


def _num(x: Any, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def _agreement(fim: dict[str, Any]) -> str:
    """Share of FIM completions identical to bf16's, both modes pooled."""
    agree = fim.get("agreement") or {}
    return f"{sum(agree.values()) / len(agree):.0%}" if agree else "—"


def result_row(result: dict[str, Any]) -> list[str]:
    size_b = dig(result, "size", "bytes")
    mem = dig(result, "speed", "memory") or {}
    fim = result.get("fim") or {}
    fim_cell = (lambda m: "skipped" if "skipped" in fim else _num(dig(fim, m, "em"), ".3f"))
    return [
        Path(result["build"]).name, result.get("format", "?"),
        _num(size_b / 2**20 if size_b else None, ".1f"), _num(dig(result, "size", "bits_per_weight"), ".2f"),
        _ppl(result, "code"), _ppl(result, "ja"), _ppl(result, "en"),
        _num(dig(result, "quality", "kld", "all", "mean"), ".5f"), _num(dig(result, "quality", "top1", "all"), ".3f"),
        fim_cell("psm"), fim_cell("spm"), _agreement(fim),
        _num(dig(result, "speed", "prefill_tok_s", "median"), ".0f"), _num(dig(result, "speed", "decode_tok_s", "median"), ".1f"),
        _num(next(iter(mem.values()), None), ".0f"), _num(dig(result, "tokenizer_parity", "match"), ".0%"),
    ]


# The terminal shows the columns that decide between builds; the reports show all of them.
_TERMINAL = ("build", "format", "size MiB", "bits/w", "PPL code", "PPL ja", "PPL en", "KLD", "top-1", "FIM = bf16",
             "decode tok/s")


def eval_table(results: list[dict[str, Any]], title: str = "kizami evaluation") -> Table:
    table = Table(title=title)
    keep = [COLUMNS.index(c) for c in _TERMINAL]
    for i, col in enumerate(_TERMINAL):
        table.add_column(col, justify="left" if i < 2 else "right", overflow="fold", no_wrap=i == 0)
    for r in results:
        row = result_row(r)
        cells = [row[i] for i in keep]
        cells[4:7] = [c.split(" ")[-1].strip("()") for c in cells[4:7]]  # ΔPPL % only; values are in the report
        table.add_row(*cells)
    return table


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(summary: dict[str, Any]) -> str:
    """The run's comparison as Markdown (for a model card or a pull request)."""
    results = summary["results"]
    recipe = summary["recipe"]
    out = [f"# kizami report: {recipe['name']}", "",
           f"Model `{recipe['model']}` · calibration set `{(summary.get('calibration') or {}).get('id', '?')}` · "
           "every build measured against the bf16 reference on the same token ids.", ""]
    rows = []
    for name, r in results.items():
        row = result_row(r)
        row[0] = name
        gates = r.get("gates")
        rows.append([*row, "reference" if gates is None else ("pass" if gates["pass"] else "FAIL")])
    out += [_md_table([*COLUMNS, "gates"], rows), ""]
    failing = {n: r["gates"] for n, r in results.items() if r.get("gates") and not r["gates"]["pass"]}
    if failing:
        out += ["## Gate failures", ""]
        for name, g in failing.items():
            bad = [f"{k} {c['value']:.4g} (limit {c['limit']:g})" for k, c in g["checks"].items() if not c["pass"]]
            out.append(f"- **{name}**: " + "; ".join(bad))
        out.append("")
    if summary.get("failures"):
        out += ["## Builds that failed", ""] + [f"- **{k}**: {v}" for k, v in summary["failures"].items()] + [""]
    langs = sorted({lang for r in results.values() for m in ("psm", "spm")
                    for lang in (dig(r, "fim", m, "by_language") or {})})
    if langs:
        out += ["## FIM exact match by language (PSM / SPM)", ""]
        rows = []
        for name, r in results.items():
            cells = []
            for lang in langs:
                p, s = dig(r, "fim", "psm", "by_language", lang), dig(r, "fim", "spm", "by_language", lang)
                cells.append(f"{_num(p, '.2f')} / {_num(s, '.2f')}")
            rows.append([name, *cells])
        out += [_md_table(["build", *langs], rows), ""]
    any_result = next(iter(results.values()), {})
    env = any_result.get("environment", {})
    settings = any_result.get("settings", {})
    out += ["## Settings and environment", "",
            f"- perplexity windows: ctx {settings.get('ctx')}, stride {settings.get('stride')}; KLD over the reference's "
            f"top-{settings.get('top_k')} tokens plus one tail bucket (a lower bound; see docs/evaluation.md)",
            f"- speed: batch 1, {dig(any_result, 'speed', 'prompt_tokens')} prompt tokens, "
            f"{dig(any_result, 'speed', 'decode_tokens')} decoded, median of {dig(any_result, 'speed', 'repeats')} after "
            f"{dig(any_result, 'speed', 'warmup')} warm-up, {dig(any_result, 'speed', 'threads')} threads",
            f"- machine: {env.get('machine')} · {env.get('device')} · CPU features {' '.join(env.get('cpu_features', []))}",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())]
    return "\n".join(out)


def result_details(result: dict[str, Any]) -> Table:
    """One build's figures, one per row (fits a narrow terminal)."""
    table = Table(title=f"{Path(result['build']).name} ({result.get('format')}) vs bf16")
    table.add_column("measure")
    table.add_column("value", justify="right")
    q = result.get("quality") or {}
    for d in q.get("ppl", {}):
        table.add_row(f"PPL {d}", f"{q['ppl'][d]:.3f} (bf16 {q['ref_ppl'][d]:.3f}, {(q['ppl_ratio'][d] - 1) * 100:+.2f}%)")
    for d, k in q.get("kld", {}).items():
        table.add_row(f"KLD {d}", f"mean {k['mean']:.5f} · p99 {k['p99']:.4f} · top-1 {q['top1'][d]:.3f}")
    fim = result.get("fim") or {}
    if "skipped" in fim:
        table.add_row("FIM EM", f"skipped: {fim['skipped']}")
    for mode in ("psm", "spm"):
        if mode in fim:
            table.add_row(f"FIM EM {mode.upper()}", f"{fim[mode]['em']:.3f} ({fim[mode]['evaluated']} tasks)")
    sp = result.get("speed") or {}
    if sp:
        table.add_row("prefill tok/s", f"{sp['prefill_tok_s']['median']:.0f} ({sp['prefill_tok_s']['min']:.0f}–{sp['prefill_tok_s']['max']:.0f})")
        table.add_row("decode tok/s", f"{sp['decode_tok_s']['median']:.1f} ({sp['decode_tok_s']['min']:.1f}–{sp['decode_tok_s']['max']:.1f})")
        table.add_row("TTFT", f"{sp['ttft_s']['median'] * 1000:.0f} ms · {sp['threads']} threads")
        for k, v in sp["memory"].items():
            table.add_row(k.replace("_", " "), f"{v:.0f}")
    if result.get("size"):
        s = result["size"]
        table.add_row("size", f"{s['bytes'] / 2**20:.1f} MiB · {s['bits_per_weight']:.2f} bits/weight")
    if result.get("tokenizer_parity"):
        table.add_row("tokenizer parity", f"{result['tokenizer_parity']['match']:.0%}")
    return table
