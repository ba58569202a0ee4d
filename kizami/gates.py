"""Quality gates: a build fails when it is worse than a limit vs the bf16 reference. The verdict is computed once,
here, stored in the result, and every report reads it from there."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kizami.runtime.result import EvalResult

__all__ = ["Gates"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Gates:
    max_ppl_increase_pct: float | None = None  # worst domain's perplexity increase, percent
    max_kld: float | None = None  # mean KL-divergence over all held-out tokens
    max_fim_em_drop: float | None = None  # FIM exact-match drop vs bf16 (worst mode), as a fraction
    min_decode_tok_s: float | None = None
    max_pass1_drop_pts: float | None = None  # HumanEval pass@1 drop vs bf16, in percentage points
    version: int = 1

    def verdict(self, result: EvalResult, reference: EvalResult | None) -> dict[str, Any]:
        """Each gate → {"value", "limit", "pass"}; a metric that was not measured is not checked."""
        checks: dict[str, dict[str, Any]] = {}

        def check(name: str, value: float | None, limit: float | None, higher_is_better: bool = False) -> None:
            if value is not None and limit is not None:
                ok = value >= limit if higher_is_better else value <= limit
                checks[name] = {"value": value, "limit": limit, "pass": ok}

        changes = [c for d in result.domains if (c := result.ppl_change_pct(d)) is not None]
        check("ppl_increase_pct", max(changes) if changes else None, self.max_ppl_increase_pct)
        check("kld", result.kld, self.max_kld)
        if reference is not None:
            drops = [r - m for mode in ("psm", "spm")
                     if (m := result.fim_em(mode)) is not None and (r := reference.fim_em(mode)) is not None]
            check("fim_em_drop", max(drops) if drops else None, self.max_fim_em_drop)
            if result.pass1 is not None and reference.pass1 is not None:
                check("pass1_drop_pts", (reference.pass1 - result.pass1) * 100, self.max_pass1_drop_pts)
        check("decode_tok_s", result.decode_tok_s, self.min_decode_tok_s, higher_is_better=True)
        return {"checks": checks, "pass": all(c["pass"] for c in checks.values())}
