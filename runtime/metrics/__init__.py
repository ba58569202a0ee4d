"""Metrics, each one registered unit in one file: what it measures through a ``Backend`` against the ``Reference``,
the section it writes into the result, its columns in the reports and model cards, its lines in the CLI's closing
table, and its gates.

Adding a metric is one new file (a ``Metric`` subclass) plus one ``metrics.register`` line below, or an entry point
in the ``kizami.metrics`` group; ``kizami eval --tasks``, the recipe's ``[eval] metrics``, ``kizami run``, the
reports, the bundles' cards and the ``[gates]`` table then know it. Metrics never ask which engine they have.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kizami.progress import Advance, Progress, counter
from kizami.registry import Registry

if TYPE_CHECKING:
    from kizami.fim_dialects import Dialect
    from kizami.runtime.backend import Backend
    from kizami.runtime.metrics.reference import Reference
    from kizami.runtime.result import EvalResult

__all__ = ["Metric", "MetricContext", "Gate", "metrics", "task_names", "run_order", "ORDER"]

@dataclass(frozen=True, slots=True, kw_only=True)
class MetricContext:
    """What a metric's ``run`` gets: the open build, the reference, the evaluation's settings and where to report."""

    build: Path
    backend: Backend
    reference: Reference
    settings: Any  # kizami.runtime.evaluate.EvalSettings
    n_params: int
    progress: Progress
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


class Metric:
    """One metric. Subclasses set the class attributes and implement ``run`` (and override what they show)."""

    name: ClassVar[str]  # its task name: ``--tasks``, ``[eval] metrics``
    section: ClassVar[str] = ""  # the result's key it writes (default: the name, with '_' for '-')
    aliases: ClassVar[tuple[str, ...]] = ()  # more task names for it (``ppl`` and ``kld`` are ``quality``)
    columns: ClassVar[tuple[str, ...]] = ()  # the columns it adds to reports and model cards (built-ins: report_text)
    gates: ClassVar[Mapping[str, Gate]] = {}  # ``[gates]`` keys it answers, e.g. ``max_kld``

    @classmethod
    def key(cls) -> str:
        return cls.section or cls.name.replace("-", "_")

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        raise NotImplementedError

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        """The section once bf16's own section is known (e.g. the share of outputs equal to bf16's)."""
        return section

    def cells(self, result: EvalResult) -> list[str]:
        """The values of ``columns`` for one result ("—" where not measured)."""
        return []

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        """(measure, value) lines for the CLI's closing table."""
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

# The order an evaluation runs the built-ins in (cheap first; speed before the long generations); others after, by name
ORDER = ("size", "parity", "quality", "fim", "speed", "humaneval", "humaneval-chat", "humaneval-infill", "longctx")


def task_names() -> dict[str, str]:
    """Every task name a user may type (names and aliases) -> the metric it runs."""
    out: dict[str, str] = {}
    for name in metrics.names():
        out[name] = name
        for alias in metrics.get(name).aliases:
            out.setdefault(alias, name)
    return out


def run_order(names: Any) -> list[str]:
    """The metrics asked for, in the order an evaluation runs them: the built-ins' order, then the others by name."""
    return sorted(dict.fromkeys(names), key=lambda n: (ORDER.index(n) if n in ORDER else len(ORDER), n))
