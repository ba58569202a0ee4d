"""Terminal tables and the Markdown report of evaluation results (the HTML report builds on the same rows)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from kizami.runtime.result import EvalResult

if TYPE_CHECKING:
    from kizami.runtime.result import RunSummary

__all__ = ["COLUMNS", "columns", "result_row", "verdict", "gate_failures", "eval_table", "markdown_report", "result_details",
           "schedule_rows", "schedule_summary", "schedule_section"]

COLUMNS = ("build", "format", "size MiB", "bits/w", "PPL code", "PPL ja", "PPL en", "KLD", "top-1",
           "FIM PSM", "FIM SPM", "FIM = bf16", "pass@1", "HE = bf16", "prefill tok/s", "decode tok/s", "batch tok/s", "peak MiB",
           "tok parity")


def _added_metrics() -> list[Any]:
    """Registered metrics beyond the built-ins that add report columns (the built-ins' columns are ``COLUMNS``)."""
    from kizami.runtime.metrics import ORDER, metrics

    return [m for name in metrics.names() if name not in ORDER and (m := metrics.get(name)).columns]


def columns() -> tuple[str, ...]:
    """Every column of the reports and model cards: the built-ins', then each registered metric's."""
    return (*COLUMNS, *(c for m in _added_metrics() for c in m.columns))


def _num(x: Any, fmt: str) -> str:
    return "—" if x is None else format(x, fmt)


def _ppl(result: EvalResult, domain: str) -> str:
    ppl, change = result.ppl(domain), result.ppl_change_pct(domain)
    return "—" if ppl is None or change is None else f"{ppl:.3f} ({change:+.2f}%)"


def _pass1(result: EvalResult) -> str:
    """pass@1 with its 95 % interval: ``0.183 [0.13–0.25]``."""
    if result.pass1 is None:
        return "—"
    low, high = result.pass1_interval or (result.pass1, result.pass1)
    return f"{result.pass1:.3f} [{low:.2f}–{high:.2f}]"


def result_row(result: EvalResult, label: str = "") -> list[str]:
    size_b = result.size_bytes

    def fim_cell(mode: str) -> str:
        return "skipped" if result.fim_skipped else _num(result.fim_em(mode), ".3f")

    return [
        label or result.name or Path(result.build).name, result.format,
        _num(size_b / 2**20 if size_b else None, ".1f"), _num(result.bits_per_weight, ".2f"),
        _ppl(result, "code"), _ppl(result, "ja"), _ppl(result, "en"),
        _num(result.kld, ".5f"), _num(result.top1, ".3f"),
        fim_cell("psm"), fim_cell("spm"), _num(result.fim_agreement, ".0%"), _pass1(result),
        _num((result.humaneval or {}).get("agreement"), ".0%"),
        _num(result.prefill_tok_s, ".0f"), _num(result.decode_tok_s, ".1f"), _num(result.batch_tok_s, ".1f"),
        _num(result.peak_mib, ".0f"), _num(result.parity, ".0%"),
        *(cell for m in _added_metrics() for cell in m.cells(result)),
    ]


def verdict(result: EvalResult) -> str:
    return {None: "reference", True: "pass", False: "FAIL"}[result.passed]


def gate_failures(result: EvalResult) -> list[str]:
    """The failed gates of one result, as ``"kld 0.61 (limit 0.5)"``."""
    checks = (result.gates or {}).get("checks", {})
    return [f"{k} {c['value']:.4g} (limit {c['limit']:g})" for k, c in checks.items() if not c["pass"]]


# The terminal shows the columns that decide between builds; the reports show all of them.
_TERMINAL = ("build", "format", "size MiB", "bits/w", "PPL code", "PPL ja", "PPL en", "KLD", "top-1", "FIM = bf16",
             "pass@1", "decode tok/s")


def eval_table(results: list[EvalResult], title: str = "kizami evaluation") -> Table:
    table = Table(title=title)
    shown = (*_TERMINAL, *columns()[len(COLUMNS):])  # and every registered metric's columns
    keep = [columns().index(c) for c in shown]
    for i, col in enumerate(shown):
        table.add_column(col, justify="left" if i < 2 else "right", no_wrap=True)
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


def markdown_report(summary: RunSummary) -> str:
    """The run's comparison as Markdown (for a model card or a pull request)."""
    results, recipe = summary.results, summary.recipe
    out = [f"# kizami report: {recipe['name']}", "",
           f"Model `{recipe['model']}` · calibration set `{(summary.calibration or {}).get('id', '?')}` · "
           "every build measured against the bf16 reference on the same token ids.", ""]
    rows = [[*result_row(r, label=name), verdict(r)] for name, r in results.items()]
    out += [_md_table([*columns(), "gates"], rows), ""]
    failing = {n: gate_failures(r) for n, r in results.items() if r.passed is False}
    if failing:
        out += ["## Gate failures", ""] + [f"- **{n}**: " + "; ".join(bad) for n, bad in failing.items()] + [""]
    if summary.failures:
        out += ["## Builds that failed", ""] + [f"- **{k}**: {v}" for k, v in summary.failures.items()] + [""]
    langs = sorted({lang for r in results.values() for m in ("psm", "spm") for lang in r.fim_by_language(m)})
    if langs:
        out += ["## FIM exact match by language (PSM / SPM)", ""]
        rows = [[name, *(f"{_num(r.fim_by_language('psm').get(lang), '.2f')} / "
                         f"{_num(r.fim_by_language('spm').get(lang), '.2f')}" for lang in langs)]
                for name, r in results.items()]
        out += [_md_table(["build", *langs], rows), ""]
    out += long_context_section(results)
    out += mixed_section(results)
    out += schedule_section(summary.schedule)
    any_result = next(iter(results.values()), None)
    env = any_result.environment if any_result else {}
    settings = any_result.settings if any_result else {}
    speed = (any_result.speed if any_result else None) or {}
    out += ["## Settings and environment", "",
            f"- perplexity windows: ctx {settings.get('ctx')}, stride {settings.get('stride')}; KLD over the reference's "
            f"top-{settings.get('top_k')} tokens plus one tail bucket (a lower bound; see docs/evaluation.md)",
            f"- speed: batch 1, {speed.get('prompt_tokens')} prompt tokens, "
            f"{speed.get('decode_tokens')} decoded, median of {speed.get('repeats')} after "
            f"{speed.get('warmup')} warm-up, {speed.get('threads')} threads",
            f"- machine: {env.get('machine')} · {env.get('device')} · CPU features {' '.join(env.get('cpu_features', []))}",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())]
    return "\n".join(out)


def schedule_rows(schedule: dict[str, Any]) -> list[list[str]]:
    """Each step of the run: where it ran, when it started (s after the run began), its wall time, its attempts."""
    return [[t["task"], t["node"], f"{t['start_s']:.1f}", f"{t['wall_s']:.1f}", str(t.get("attempts", 1))]
            for t in schedule.get("tasks", [])]


def schedule_summary(schedule: dict[str, Any]) -> str:
    return (f"{schedule.get('executor')} run on {len(schedule.get('nodes', []))} node(s): "
            f"{schedule.get('run_wall_s', 0):.1f} s of wall time for {schedule.get('sum_of_steps_s', 0):.1f} s of steps "
            f"(saved {schedule.get('saved_s', 0):.1f} s); critical path {schedule.get('critical_path_s', 0):.1f} s "
            f"({' → '.join(schedule.get('critical_path', []))})")


SCHEDULE_COLUMNS = ["step", "node", "start s", "wall s", "attempts"]


def schedule_section(schedule: dict[str, Any]) -> list[str]:
    if not schedule:
        return []
    return ["## Where each step ran", "", schedule_summary(schedule) + ".", "",
            _md_table(SCHEDULE_COLUMNS, schedule_rows(schedule)), ""]


def long_context_rows(results: dict[str, EvalResult]) -> tuple[list[str], list[list[str]]]:
    """Loss per position bucket (Δ vs bf16 in %), key-retrieval accuracy and peak memory, per build and KV cache."""
    first = next((r for r in results.values() if r.longctx), None)
    if first is None:
        return [], []
    ref = {kv: loss for kv, loss, _acc, _mem in (results["bf16"].long_context_rows() if "bf16" in results else [])}
    header = ["build", "KV cache", *(f"loss {b}" for b in first.long_context_buckets), "key retrieval", "peak MiB"]
    rows = []
    for name, r in results.items():
        for kv, loss, acc, mem in r.long_context_rows():
            base = ref.get("default")
            cells = [f"{x:.3f}" + (f" ({(x / b - 1) * 100:+.1f}%)" if base and name != "bf16" else "")
                     for x, b in zip(loss, base or loss)]
            rows.append([name, kv, *cells, _num(acc, ".0%"), _num(mem, ".0f")])
    return header, rows


def mixed_section(results: dict[str, EvalResult]) -> list[str]:
    """Each mixed-precision build's chosen type per layer and tensor."""
    from kizami.mixed import type_grid

    out = []
    for name, r in results.items():
        mixed = (r.size or {}).get("mixed") or {}
        if mixed.get("tensor_types"):
            columns, rows = type_grid(mixed["tensor_types"])
            out += [f"### {name}: budget {mixed['budget_bpw']:g} bits per weight, stored {mixed['bpw']:.3f}", "",
                    _md_table(["", *columns], [[label, *types] for label, types in rows]), ""]
    return ["## Mixed precision: type per tensor", "", *out] if out else []


def long_context_section(results: dict[str, EvalResult]) -> list[str]:
    header, rows = long_context_rows(results)
    if not rows:
        return []
    return ["## Long context", "", "Mean next-token loss (nats) by position in one long window of held-out code, "
            "each position scored once (Δ vs bf16's default cache); key retrieval as in the Code Llama paper.", "",
            _md_table(header, rows), ""]


def result_details(result: EvalResult) -> Table:
    """One build's figures, one per row (fits a narrow terminal)."""
    table = Table(title=f"{Path(result.build).name} ({result.format}) vs bf16")
    table.add_column("measure")
    table.add_column("value", justify="right")
    from kizami.runtime.metrics import metrics, run_order

    for name in run_order(result.settings.get("metrics") or ()):
        if name in metrics:  # a result made with a metric this kizami no longer has shows the rest
            for measure, value in metrics.get(name).summary(result):
                table.add_row(measure, value)
    return table
