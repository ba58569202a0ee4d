"""Tokenizer parity: does the build's own tokenizer (GGUF and ONNX carry one) give the source tokenizer's ids for the
evaluation texts and the FIM prompts? Every other metric feeds the reference's ids; this one checks they are the ids
a user of the build would get."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from kizami.core import fim_dialects
from kizami.runtime.metrics import Metric, MetricContext, cell, dig, num
from kizami.runtime.reference import Reference

__all__ = ["ref_dialect", "fim_prompter", "tokenizer_parity", "parity", "PARITY"]


def ref_dialect(ref: Reference) -> fim_dialects.Dialect | None:
    """The FIM dialect the reference's prompts were written in."""
    name = ref.meta.get("fim_dialect")
    return fim_dialects.get(name) if name else None


def fim_prompter(backend: Any, dialect: fim_dialects.Dialect) -> Callable[[str, str, str], list[int]]:
    """``(prefix, suffix, mode) -> ids`` in ``dialect``, with the build's own tokenizer and special-token ids."""
    def prompt(prefix: str, suffix: str, mode: str) -> list[int]:
        return dialect.prompt_ids(lambda t: backend.tokenize([t])[0], backend.token_id, prefix, suffix, mode)

    return prompt


def tokenizer_parity(backend: Any, ref: Reference) -> dict[str, Any]:
    """Per domain text and FIM mode, whether the build tokenizes to exactly the reference's ids; ``match`` = share."""
    checks: dict[str, bool] = {}
    for d, dref in ref.domains.items():
        (ids,) = backend.tokenize([dref.text])
        n = len(dref.stream) - 1  # stream may be truncated to max_tokens_per_domain
        checks[f"text:{d}"] = list(ids[:n]) == dref.stream[1:].tolist()
    dialect = ref_dialect(ref)
    for mode, prompts in ref.fim_prompts.items():
        if dialect is None or not backend.caps.fim:
            checks[f"fim:{mode}"] = False
            continue
        prompt = fim_prompter(backend, dialect)
        mine = [prompt(task.prompt, task.suffix, mode) for task in ref.fim_tasks]
        checks[f"fim:{mode}"] = all(list(a) == list(b) for a, b in zip(mine, prompts))
    return {"match": sum(checks.values()) / len(checks), "checks": checks}


def parity(result: Any) -> float | None:
    """Share of the texts and FIM prompts the build's own tokenizer gives the reference's ids for."""
    return num(dig(result.section("tokenizer_parity"), "match"))


class Parity(Metric):
    name: ClassVar[str] = "parity"
    section: ClassVar[str] = "tokenizer_parity"
    columns: ClassVar[tuple[str, ...]] = ("tok parity",)
    terminal: ClassVar[tuple[str, ...] | None] = ()

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        return tokenizer_parity(ctx.backend, ctx.reference)

    def cells(self, result: Any) -> list[str]:
        return [cell(parity(result), ".0%")]

    def summary(self, result: Any) -> list[tuple[str, str]]:
        match = parity(result)
        if match is None:
            return []
        bad = [k for k, ok in (result.section("tokenizer_parity") or {}).get("checks", {}).items() if not ok]
        return [("tokenizer parity", f"{match:.0%}" + (f" (differs: {', '.join(bad)})" if bad else ""))]


PARITY = Parity()
