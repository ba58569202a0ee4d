"""Quality gates: a build fails when it is worse than a limit vs the bf16 reference. The verdict is computed once,
here, stored in the result, and every report reads it from there. Each metric declares the ``[gates]`` keys it answers
(``Metric.gates``) and reads the value from its own section; this module knows none of them by name."""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kizami.core.errors import KizamiError
from kizami.runtime.result import EvalResult

__all__ = ["Gates", "gate_keys"]


def gate_keys() -> dict[str, Any]:
    """Every ``[gates]`` key the registered metrics answer -> its ``Gate``."""
    from kizami.runtime.metrics import metrics

    return {key: gate for name in metrics.names() for key, gate in metrics.get(name).gates.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    limits: Mapping[str, float] = field(default_factory=dict)  # gate key (e.g. max_kld) -> its limit
    version: int = 1

    def __post_init__(self) -> None:
        known = gate_keys()
        for key, limit in self.limits.items():
            if key not in known:
                close = difflib.get_close_matches(key, list(known), n=1)
                raise KizamiError(f"unknown key {key!r}" + (f"; did you mean {close[0]!r}?" if close else "")
                                  + f"; allowed: {', '.join(sorted(known))}")
            if isinstance(limit, bool) or not isinstance(limit, (int, float)):
                raise KizamiError(f"{key} = {limit!r} must be a number")
        object.__setattr__(self, "limits", {k: float(v) for k, v in self.limits.items()})  # 3 and 3.0 are one limit

    def verdict(self, result: EvalResult, reference: EvalResult | None) -> dict[str, Any]:
        """Each gate → {"value", "limit", "pass"}; a metric that was not measured is not checked."""
        checks: dict[str, dict[str, Any]] = {}
        gates = gate_keys()
        for key, limit in self.limits.items():
            gate = gates.get(key)  # None: its metric was unregistered since
            value = gate.value(result, reference) if gate is not None else None
            if gate is not None and value is not None:
                ok = value >= limit if gate.higher_is_better else value <= limit
                checks[key.removeprefix("max_").removeprefix("min_")] = {"value": value, "limit": limit, "pass": ok}
        return {"checks": checks, "pass": all(c["pass"] for c in checks.values())}
