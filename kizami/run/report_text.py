"""Terminal tables and the Markdown report of evaluation results (the HTML report builds on the same rows)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.table import Table

from kizami.runtime.result import EvalResult

if TYPE_CHECKING:
    from kizami.run.summary import RunSummary

__all__ = ["columns", "result_row", "verdict", "gate_failures", "eval_table", "markdown_report", "result_details",
           "metric_sections", "mixed_section", "mixed_of", "schedule_rows", "schedule_summary", "schedule_section"]

_FIXED = ("build", "format")  # the columns of every report before the metrics' own


def columns() -> tuple[str, ...]:
    """Every column of the reports and model cards: the build's name and format, then each registered metric's."""
    from kizami.runtime.metrics import report_order

    return (*_FIXED, *(c for m in report_order() for c in m.columns))


def result_row(result: EvalResult, label: str = "") -> list[str]:
    from kizami.runtime.metrics import report_order

    return [label or result.name or Path(result.build).name, result.format,
            *(c for m in report_order() if m.columns for c in m.cells(result))]


def verdict(result: EvalResult) -> str:
    return {None: "reference", True: "pass", False: "FAIL"}[result.passed]


def gate_failures(result: EvalResult) -> list[str]:
    """The failed gates of one result, as ``"kld 0.61 (limit 0.5)"``."""
    checks = (result.gates or {}).get("checks", {})
    return [f"{k} {c['value']:.4g} (limit {c['limit']:g})" for k, c in checks.items() if not c["pass"]]


def eval_table(results: list[EvalResult], title: str = "kizami evaluation") -> Table:
    """The terminal's table: the columns that decide between builds (each metric's ``terminal``)."""
    from kizami.runtime.metrics import report_order

    shown = [m for m in report_order() if m.columns and (m.terminal is None or m.terminal)]
    table = Table(title=title)
    for i, col in enumerate((*_FIXED, *(c for m in shown for c in (m.columns if m.terminal is None else m.terminal)))):
        table.add_column(col, justify="left" if i < len(_FIXED) else "right", no_wrap=True)
    for r in results:
        table.add_row(r.name or Path(r.build).name, r.format, *(c for m in shown for c in m.terminal_cells(r)))
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
    out += metric_sections(results)
    out += mixed_section(results)
    out += schedule_section(summary.schedule)
    any_result = next(iter(results.values()), None)
    env = any_result.environment if any_result else {}
    notes = [f"- {line}" for m in _measured(any_result) for line in m.notes(any_result)] if any_result else []
    out += ["## Settings and environment", "", *notes,
            f"- machine: {env.get('machine')} · {env.get('device')} · CPU features {' '.join(env.get('cpu_features', []))}",
            "- versions: " + ", ".join(f"{k} {v}" for k, v in (env.get("versions") or {}).items())]
    return "\n".join(out)


def _measured(result: EvalResult) -> list[Any]:
    from kizami.runtime.metrics import report_order

    return [m for m in report_order() if result.section(m.key()) is not None]


def metric_sections(results: dict[str, EvalResult]) -> list[str]:
    """Each registered metric's own sections of the report (e.g. FIM by language, long context)."""
    from kizami.runtime.metrics import report_order

    return [line for m in report_order() for line in m.report(results)]


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


def mixed_of(result: EvalResult) -> dict[str, Any]:
    """A mixed-precision build's chosen type per tensor, from whichever section carries its ``mixed`` map."""
    return next((sec["mixed"] for sec in result.sections.values() if isinstance(sec, dict) and sec.get("mixed")), {})


def mixed_section(results: dict[str, EvalResult]) -> list[str]:
    """Each mixed-precision build's chosen type per layer and tensor."""
    from kizami.core.tensor_map import type_grid

    out = []
    for name, r in results.items():
        mixed = mixed_of(r)
        if mixed.get("tensor_types"):
            columns, rows = type_grid(mixed["tensor_types"])
            out += [f"### {name}: budget {mixed['budget_bpw']:g} bits per weight, stored {mixed['bpw']:.3f}", "",
                    _md_table(["", *columns], [[label, *types] for label, types in rows]), ""]
    return ["## Mixed precision: type per tensor", "", *out] if out else []


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
