"""Metrics, each one registered unit in one file: its settings (the recipe's ``[eval.<name>]`` table, ``--set
name.key=value``), what it needs from the reference, what it measures through a ``Backend``, the section it writes
into the result, its columns in the reports and model cards, its report sections, its lines in the CLI's closing
table, and its gates.

Adding a metric is one new file (a ``Metric`` subclass) plus one ``metrics.register`` line below, or an entry point
in the ``kizami.metrics`` group; ``kizami eval --tasks``, the recipe's ``[eval] metrics`` and ``[eval.<name>]``,
``kizami run``, the reports, the bundles' cards and the ``[gates]`` table then know it. The built-ins register the
same way and nothing outside their files names them. Metrics never ask which engine they have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kizami.core.progress import Advance, Progress, counter
from kizami.core.registry import Registry

if TYPE_CHECKING:
    from kizami.core.fim_dialects import Dialect
    from kizami.runtime.backend import Backend
    from kizami.runtime.reference import Reference
    from kizami.runtime.result import EvalResult

__all__ = ["Metric", "MetricContext", "Gate", "metrics", "task_names", "run_order", "report_order", "ORDER", "dig", "num", "cell", "md_table",
           "html_table"]

@dataclass(frozen=True, slots=True, kw_only=True)
class MetricContext:
    """What a metric's ``run`` gets: the open build, the reference, the evaluation's shared settings, the metric's own
    settings (``config``: its ``config_class``, from ``[eval.<name>]``) and where to report."""

    build: Path
    backend: Backend
    reference: Reference
    settings: Any  # kizami.runtime.evaluate.EvalSettings: what all metrics share (device, threads, windows, ...)
    n_params: int
    progress: Progress
    config: Any = None  # this metric's own settings (None for a metric without any)
    journal: Path | None = None  # where generations are journaled, so an interrupted evaluation resumes
    dialect: Dialect | None = None  # the FIM dialect of the reference's prompts (None: the model has no FIM tokens)

    def count(self, description: str, total: int) -> Advance:
        """``advance(n, note="")`` over one counted stage of the metric's work (reported through ``progress``)."""
        return counter(self.progress, description, total)


@dataclass(frozen=True, slots=True)
class Gate:
    """One ``[gates]`` key: a limit on a value the metric reads from a result (and bf16's, for a drop)."""

    value: Callable[[EvalResult, EvalResult | None], float | None]
    higher_is_better: bool = False
    doc: str = ""


def dig(section: Any, *keys: str) -> Any:
    """A value deep inside a section, or None where any step is missing."""
    for k in keys:
        if not isinstance(section, dict) or k not in section:
            return None
        section = section[k]
    return section


def num(x: Any) -> float | None:
    return None if x is None else float(x)


def cell(x: float | None, fmt: str) -> str:
    """One report cell: the number formatted, or "—" where it was not measured."""
    return "—" if x is None else format(x, fmt)


def md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A Markdown table's lines."""
    return ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|",
            *("| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows)]


def html_table(table_id: str, header: list[str], rows: list[list[str]]) -> str:
    """An HTML table (cells escaped)."""
    from html import escape

    head = "".join(f"<th>{escape(c)}</th>" for c in header)
    body = "".join("<tr>" + "".join(f"<td>{escape(c)}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table id='{table_id}'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


class Metric:
    """One metric. Subclasses set the class attributes and implement ``run`` (and override what they show)."""

    name: ClassVar[str]  # its task name: ``--tasks``, ``[eval] metrics``, its ``[eval.<name>]`` table
    section: ClassVar[str] = ""  # the result's key it writes (default: the name, with '_' for '-')
    aliases: ClassVar[tuple[str, ...]] = ()  # more task names for it (``ppl`` and ``kld`` are ``quality``)
    config_class: ClassVar[type[Any] | None] = None  # its settings: a frozen dataclass, the ``[eval.<name>]`` table
    legacy: ClassVar[Mapping[str, str]] = {}  # flat ``[eval]`` keys of older recipes -> the key of its table
    columns: ClassVar[tuple[str, ...]] = ()  # the columns it adds to reports and model cards
    terminal: ClassVar[tuple[str, ...] | None] = None  # those of its columns the terminal's table shows (None: all)
    gates: ClassVar[Mapping[str, Gate]] = {}  # ``[gates]`` keys it answers, e.g. ``max_kld``

    @classmethod
    def key(cls) -> str:
        return cls.section or cls.name.replace("-", "_")

    # --- settings and the reference, before anything runs ---------------------------------------------------------
    def check(self, config: Any, base: Path) -> Any:
        """Its settings checked up front (files it reads exist and parse), paths resolved against ``base`` (the
        recipe's folder); returns the settings to use. Raises ``KizamiError`` with the fix."""
        return config

    def needs(self, config: Any) -> dict[str, int]:
        """What the reference must hold for it beyond the windows and FIM prompts: ``{"long_stream": tokens}``."""
        return {}

    # --- measuring ---------------------------------------------------------------------------------------------
    def run(self, ctx: MetricContext) -> dict[str, Any]:
        raise NotImplementedError

    def finish(self, ctx: MetricContext, section: dict[str, Any]) -> dict[str, Any]:
        """Work after the build's instance is closed (e.g. opening it again with another KV cache)."""
        return section

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        """The section once bf16's own section is known (e.g. the share of outputs equal to bf16's)."""
        return section

    # --- showing -----------------------------------------------------------------------------------------------
    def cells(self, result: EvalResult) -> list[str]:
        """The values of ``columns`` for one result ("—" where not measured)."""
        return []

    def terminal_cells(self, result: EvalResult) -> list[str]:
        """The values of ``terminal`` (by default the same cells as the reports')."""
        shown = self.columns if self.terminal is None else self.terminal
        row = dict(zip(self.columns, self.cells(result)))
        return [row[c] for c in shown]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        """(measure, value) lines for the CLI's closing table."""
        return []

    def report(self, results: Mapping[str, EvalResult]) -> list[str]:
        """Its Markdown section(s) of the run's report (lines), after the builds table; [] for none."""
        return []

    def html(self, results: Mapping[str, EvalResult]) -> str:
        """Its section(s) of the HTML report; "" for none."""
        return ""

    def card(self, result: EvalResult, reference: EvalResult | None) -> list[str]:
        """Its Markdown section(s) of a bundle's model card, after the evaluation table (this build and bf16); []."""
        return []

    def marked(self, results: Mapping[str, EvalResult]) -> set[str]:
        """Builds it marks with ★ in the HTML report's table (e.g. the size/quality Pareto front)."""
        return set()

    def notes(self, result: EvalResult) -> list[str]:
        """Lines for the report's "Settings and environment" (how it was measured)."""
        return []


metrics: Registry[Metric] = Registry("metric", entry_points="kizami.metrics")
metrics.register("size", "kizami.runtime.metrics.size:SIZE")
metrics.register("parity", "kizami.runtime.metrics.parity:PARITY")
metrics.register("quality", "kizami.runtime.metrics.quality:QUALITY")
metrics.register("fim", "kizami.runtime.metrics.fim:FIM")
metrics.register("speed", "kizami.runtime.metrics.speed:SPEED")
metrics.register("humaneval", "kizami.runtime.metrics.functional:HUMANEVAL")
metrics.register("humaneval-chat", "kizami.runtime.metrics.functional:HUMANEVAL_CHAT")
metrics.register("humaneval-infill", "kizami.runtime.metrics.functional:HUMANEVAL_INFILL")
metrics.register("longctx", "kizami.runtime.metrics.longctx:LONGCTX")
metrics.register("humaneval-langs", "kizami.runtime.metrics.langs:HUMANEVAL_LANGS")

# The order an evaluation runs the built-ins in (cheap first; speed before the long generations); others after, by name
ORDER = ("size", "parity", "quality", "fim", "speed", "humaneval", "humaneval-chat", "humaneval-infill", "humaneval-langs",
         "longctx")
# The order of their columns and sections in the reports and cards (what a reader compares first); others after
REPORT_ORDER = ("size", "quality", "fim", "humaneval", "humaneval-langs", "speed", "parity", "humaneval-chat",
                "humaneval-infill", "longctx")


def task_names() -> dict[str, str]:
    """Every task name a user may type (names and aliases) -> the metric it runs."""
    out: dict[str, str] = {}
    for name in metrics.names():
        out[name] = name
        for alias in metrics.get(name).aliases:
            out.setdefault(alias, name)
    return out


def _ordered(names: Any, order: tuple[str, ...]) -> list[str]:
    return sorted(dict.fromkeys(names), key=lambda n: (order.index(n) if n in order else len(order), n))


def run_order(names: Any) -> list[str]:
    """The metrics asked for, in the order an evaluation runs them: the built-ins' order, then the others by name."""
    return _ordered(names, ORDER)


def report_order() -> list[Metric]:
    """Every registered metric, in the order the reports show their columns and sections."""
    return [metrics.get(n) for n in _ordered(metrics.names(), REPORT_ORDER)]
