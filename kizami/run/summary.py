"""``RunSummary``: what a run produced (the recipe, the calibration set, every build's result, failures, the
schedule), written as ``results.json`` and read back by ``kizami report`` and the bundles."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from kizami.runtime.result import EvalResult

__all__ = ["RunSummary"]


@dataclass(frozen=True, slots=True, kw_only=True)
class RunSummary:
    recipe: dict[str, Any]
    calibration: dict[str, Any] | None
    results: dict[str, EvalResult]
    failures: dict[str, str] = field(default_factory=dict)
    schedule: dict[str, Any] = field(default_factory=dict)  # where and when each step ran (``kizami.run.pipeline.make_schedule``)

    @property
    def reference(self) -> EvalResult | None:
        return self.results.get("bf16")

    def to_dict(self) -> dict[str, Any]:
        return {"recipe": self.recipe, "calibration": self.calibration,
                "results": {n: r.to_dict() for n, r in self.results.items()}, "failures": self.failures,
                **({"schedule": self.schedule} if self.schedule else {})}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RunSummary:
        return cls(recipe=data["recipe"], calibration=data.get("calibration"), failures=data.get("failures", {}),
                   schedule=data.get("schedule") or {}, results={n: EvalResult.from_dict(r) for n, r in data["results"].items()})
