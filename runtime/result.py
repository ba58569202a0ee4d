"""``EvalResult``: one build measured against bf16, as every reader sees it (pipeline, report, bundle, CLI).

A result holds one section per metric, by the metric's key (``Metric.key()``): the JSON object the metric wrote. Only
the metrics know their sections' layout (``kizami.runtime.metrics``); a metric that was not measured has no section.
In JSON each section sits beside the result's own fields, as it always did. Schema 3 writes only measured sections,
plug-ins' included; schema 2 (every built-in's key, null when not measured, and plug-ins' under ``extra``) is still read.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kizami.core.errors import KizamiError

__all__ = ["EvalResult"]


@dataclass(frozen=True, slots=True, kw_only=True)
class EvalResult:
    SCHEMA: ClassVar[int] = 3
    READS: ClassVar[tuple[int, ...]] = (2, 3)

    build: str
    format: str
    name: str = ""
    reference: str | None = None
    eval_set: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    environment: dict[str, Any] = field(default_factory=dict)
    sections: dict[str, Any] = field(default_factory=dict)  # metric key -> the section it wrote
    gates: dict[str, Any] | None = None  # the verdict, set once by the pipeline; None for the reference itself

    # --- (de)serialization -------------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        own = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name != "sections"}
        clash = sorted(set(self.sections) & {"schema", "extra", *own})
        if clash:
            raise KizamiError(f"a metric's section is named {clash[0]!r}, as a field of every result; give the metric "
                              "another `section` key")
        return {"schema": self.SCHEMA, **own, **self.sections}

    @classmethod
    def from_dict(cls, data: Any) -> EvalResult:
        if not isinstance(data, dict) or data.get("schema") not in cls.READS:
            found = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise KizamiError(f"an evaluation result of schema {found!r}, this kizami reads "
                              f"{', '.join(map(str, cls.READS))}; re-run the evaluation (`kizami eval` or `kizami run`)")
        names = {f.name for f in dataclasses.fields(cls)} - {"sections"}
        sections = {k: v for k, v in data.items() if k not in names and k not in ("schema", "extra", "sections")
                    and v is not None}  # schema 2 wrote null for a built-in that was not measured
        sections |= data.get("extra") or {}  # schema 2: plug-ins' sections
        return cls(**{k: v for k, v in data.items() if k in names}, sections=sections)

    def replace(self, **changes: Any) -> EvalResult:
        return dataclasses.replace(self, **changes)

    def with_section(self, key: str, value: Any) -> EvalResult:
        """This result with a metric's section set."""
        return self.replace(sections={**self.sections, key: value})

    # --- what readers ask ----------------------------------------------------------------------------------------
    def section(self, key: str) -> Any:
        """A metric's section by its key (``Metric.key()``), or None when it was not measured."""
        return self.sections.get(key)

    @property
    def passed(self) -> bool | None:
        """The gate verdict: True, False, or None for the reference (nothing to gate)."""
        return None if self.gates is None else bool(self.gates["pass"])
