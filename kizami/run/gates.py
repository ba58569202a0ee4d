"""Quality gates: a build fails when it is worse than a limit vs the bf16 reference. The verdict is computed once,
here, stored in the result, and every report reads it from there. Each metric declares the ``[gates]`` keys it answers
(``Metric.gates``); the built-in ones are fields below, a registered metric's go in ``extra``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from kizami.errors import KizamiError
from kizami.runtime.result import EvalResult

__all__ = ["Gates", "gate_keys"]


def gate_keys() -> dict[str, Any]:
    """Every ``[gates]`` key the registered metrics answer -> its ``Gate``."""
    from kizami.runtime.metrics import metrics

    return {key: gate for name in metrics.names() for key, gate in metrics.get(name).gates.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    max_ppl_increase_pct: float | None = None  # worst domain's perplexity increase, percent
    max_kld: float | None = None  # mean KL-divergence over all held-out tokens
    max_fim_em_drop: float | None = None  # FIM exact-match drop vs bf16 (worst mode), as a fraction
    min_decode_tok_s: float | None = None
    max_pass1_drop_pts: float | None = None  # HumanEval pass@1 drop vs bf16, in percentage points
    extra: Mapping[str, float] = field(default_factory=dict)  # limits of gates that registered metrics declare
    version: int = 1

    def __post_init__(self) -> None:
        unknown = set(self.extra) - set(gate_keys()) if self.extra else set()
        if unknown:
            raise KizamiError(f"unknown gate(s) {sorted(unknown)}; the metrics answer {', '.join(sorted(gate_keys()))}")

    def limits(self) -> dict[str, float]:
        own = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in ("extra", "version")}
        return {k: v for k, v in {**own, **self.extra}.items() if v is not None}

    def verdict(self, result: EvalResult, reference: EvalResult | None) -> dict[str, Any]:
        """Each gate → {"value", "limit", "pass"}; a metric that was not measured is not checked."""
        checks: dict[str, dict[str, Any]] = {}
        gates = gate_keys()
        for key, limit in self.limits().items():
            gate = gates.get(key)
            value = gate.value(result, reference) if gate else None
            if gate is not None and value is not None:
                ok = value >= limit if gate.higher_is_better else value <= limit
                checks[key.removeprefix("max_").removeprefix("min_")] = {"value": value, "limit": limit, "pass": ok}
        return {"checks": checks, "pass": all(c["pass"] for c in checks.values())}
