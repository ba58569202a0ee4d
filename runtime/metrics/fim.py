"""FIM exact match, SantaCoder-FIM style, with prompts in the model's own FIM dialect (``kizami.core.fim_dialects``).

For the target, ``llama3-fim``: PSM ``<|fim_prefix|><|begin_of_text|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>``,
SPM ``<|fim_prefix|><|fim_suffix|>{suffix}<|fim_middle|><|begin_of_text|>{prefix}``, one leading newline removed from
the suffix; Code Llama's ``codellama`` dialect and the others are built the same way from special-token ids. The
prompt ids are made once from the source tokenizer and given to every build. Generation stops at the first newline
(single-line infilling), EOS or the dialect's stop tokens; a task passes when
``generated.strip() == canonical_solution.strip()``. Greedy by default; the model card's sampled setting (temperature
0.2, top-p 0.95, seeded) as an option.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from kizami.calib_data.fim import FimTask
from kizami.core.progress import Advance, no_advance
from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.generation import Job, generate_all
from kizami.runtime.metrics import Gate, Metric, MetricContext, cell, dig, md_table, num
from kizami.runtime.result import EvalResult

if TYPE_CHECKING:
    from kizami.core.fim_dialects import Dialect

__all__ = ["fim_agreement", "MODES", "RULES", "FimSettings", "card_cut", "card_prompts", "fim_exact_match",
           "fim_skipped", "fim_em", "fim_by_language", "agreement", "FIM"]

MODES = ("psm", "spm")


RULES = ("single-line", "card")


@dataclass(frozen=True, slots=True, kw_only=True)
class FimSettings:
    max_new_tokens: int = 48
    max_context: int = 4096  # prompt + max_new_tokens beyond this is reported as too long, not run
    sampled: bool = False  # model card setting: temperature 0.2, top-p 0.95
    seed: int = 0
    # "single-line": generation stops at the first newline. "card": the target card's (SantaCoder-FIM) rules: one
    # leading newline removed from the suffix before prompting, no newline stop, the output cut just before the first
    # match of the suffix's beginning (its first non-blank line, stripped); see card_cut
    rules: str = "single-line"
    version: int = 1

    def __post_init__(self) -> None:
        if self.rules not in RULES:
            raise ValueError(f"unknown FIM rules {self.rules!r}; choose from {', '.join(RULES)}")


def card_cut(text: str, suffix: str) -> str:
    """The card's truncation: ``text`` cut just before the first occurrence of the suffix's beginning, the first
    non-blank line of the suffix (after its one leading newline is removed), stripped. Unchanged when it is absent."""
    suffix = suffix[1:] if suffix.startswith("\n") else suffix
    marker = next((line.strip() for line in suffix.splitlines() if line.strip()), "")
    at = text.find(marker) if marker else -1
    return text if at < 0 else text[:at]


def fim_exact_match(backend: Backend, tasks: Sequence[FimTask], prompts: Mapping[str, Sequence[Sequence[int]]],
                    settings: FimSettings = FimSettings(), progress: Advance = no_advance,
                    journal: Path | None = None, stop_ids: Sequence[int] = ()) -> dict[str, Any]:
    """EM per mode, overall and per language and kind; plus each task's generation for inspection.

    Tasks whose prompt does not fit ``max_context`` with room to generate are listed under ``too_long`` and left out
    of the EM (never silently dropped). With a ``journal`` (JSONL), each completion is appended as it is made and a
    re-run reads it back instead of generating again, so a crash loses at most one chunk of requests in flight.
    """
    if not backend.caps.fim or not prompts:
        return {"skipped": "no FIM tokens"}
    out: dict[str, Any] = {"settings": {"max_new_tokens": settings.max_new_tokens, "sampled": settings.sampled,
                                        "seed": settings.seed, "rules": settings.rules}, "tasks": len(tasks)}
    jobs = [Job((mode, i, task.name), None if len(ids) + settings.max_new_tokens > settings.max_context else
                GenRequest(prompt=list(ids), max_new_tokens=settings.max_new_tokens,
                           stop_strings=("\n",) if settings.rules == "single-line" else (),
                           stop_ids=tuple(stop_ids), temperature=0.2 if settings.sampled else 0.0,
                           top_p=0.95 if settings.sampled else 1.0, seed=settings.seed + i))
            for mode, mode_prompts in prompts.items() for i, (task, ids) in enumerate(zip(tasks, mode_prompts))]
    texts, stats = generate_all(backend, jobs, journal=journal, progress=progress)
    out["generation"] = stats
    per_mode = len(tasks)
    for m, mode in enumerate(prompts):
        hits: dict[str, list[bool]] = defaultdict(list)
        samples, too_long = [], []
        for task, text in zip(tasks, texts[m * per_mode:(m + 1) * per_mode]):
            if text is None:
                too_long.append(task.name)
                continue
            if settings.rules == "card":
                text = card_cut(text, task.suffix)
            ok = text.strip() == task.canonical_solution.strip()
            for key in ("all", f"lang:{task.language}", f"kind:{task.kind}"):
                hits[key].append(ok)
            samples.append({"name": task.name, "generated": text, "match": ok})
        if not hits["all"]:
            out[mode] = {"em": None, "evaluated": 0, "too_long": too_long}
            continue
        out[mode] = {"em": sum(hits["all"]) / len(hits["all"]), "evaluated": len(hits["all"]), "too_long": too_long,
                     "by_language": {k[5:]: sum(v) / len(v) for k, v in sorted(hits.items()) if k.startswith("lang:")},
                     "by_kind": {k[5:]: sum(v) / len(v) for k, v in sorted(hits.items()) if k.startswith("kind:")},
                     "generations": samples}
    return out


def card_prompts(backend: Backend, dialect: Dialect, tasks: Sequence[FimTask],
                 modes: Sequence[str]) -> dict[str, list[list[int]]]:
    """Prompts in ``dialect`` with one leading newline removed from each suffix (the card's rule), for a dialect that
    does not drop it itself; made with the build's tokenizer (``parity`` checks it equals the source's)."""
    from dataclasses import replace

    from kizami.runtime.metrics.parity import fim_prompter

    prompt = fim_prompter(backend, replace(dialect, drop_suffix_newline=True))
    return {mode: [prompt(t.prompt, t.suffix, mode) for t in tasks] for mode in modes}


def fim_agreement(fim: dict[str, Any], reference_fim: dict[str, Any]) -> dict[str, float]:
    """Per mode, the share of tasks whose completion is exactly the bf16 reference's completion.

    EM against the held-out line measures the model; agreement measures what quantization changed, and still says
    something when a small model's EM is near zero.
    """
    out = {}
    for mode in MODES:
        mine = {g["name"]: g["generated"] for g in (fim.get(mode) or {}).get("generations", [])}
        ref = {g["name"]: g["generated"] for g in (reference_fim.get(mode) or {}).get("generations", [])}
        common = mine.keys() & ref.keys()
        if common:
            out[mode] = sum(mine[n] == ref[n] for n in common) / len(common)
    return out


def fim_skipped(result: EvalResult) -> str | None:
    """Why FIM was not measured (no FIM tokens, not asked), or None when it was."""
    fim = result.section("fim")
    return "not measured" if fim is None else fim.get("skipped")


def fim_em(result: EvalResult, mode: str) -> float | None:
    return None if fim_skipped(result) else num(dig(result.section("fim"), mode, "em"))


def fim_by_language(result: EvalResult, mode: str) -> dict[str, float]:
    return (None if fim_skipped(result) else dig(result.section("fim"), mode, "by_language")) or {}


def agreement(result: EvalResult) -> float | None:
    """Share of FIM completions identical to bf16's, both modes pooled."""
    agree = None if fim_skipped(result) else dig(result.section("fim"), "agreement")
    return float(sum(agree.values()) / len(agree)) if agree else None


def _em_drop(result: EvalResult, ref: EvalResult | None) -> float | None:
    if ref is None:
        return None
    drops = [r - m for mode in MODES if (m := fim_em(result, mode)) is not None and (r := fim_em(ref, mode)) is not None]
    return max(drops) if drops else None


class Fim(Metric):
    """Exact match of single-line infilling, PSM and SPM, in the model's own FIM dialect."""

    name: ClassVar[str] = "fim"
    config_class: ClassVar[type[Any] | None] = FimSettings
    legacy: ClassVar[Mapping[str, str]] = {"fim_sampled": "sampled"}
    columns: ClassVar[tuple[str, ...]] = ("FIM PSM", "FIM SPM", "FIM = bf16")
    terminal: ClassVar[tuple[str, ...] | None] = ("FIM = bf16",)
    gates: ClassVar[Mapping[str, Gate]] = {
        "max_fim_em_drop": Gate(_em_drop, doc="FIM exact-match drop vs bf16 (worst mode), as a fraction")}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        ref = ctx.reference
        total = len(ref.fim_tasks) * len(ref.fim_prompts)
        prompts: Mapping[str, Sequence[Sequence[int]]] = ref.fim_prompts
        if ctx.config.rules == "card" and ctx.dialect is not None and not ctx.dialect.drop_suffix_newline:
            prompts = card_prompts(ctx.backend, ctx.dialect, ref.fim_tasks, list(ref.fim_prompts))
        return fim_exact_match(ctx.backend, ref.fim_tasks, prompts, ctx.config,
                               ctx.count("FIM exact match", total), journal=ctx.journal,
                               stop_ids=ctx.dialect.stop_ids(ctx.backend.token_id) if ctx.dialect else ())

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        if "skipped" in section or "skipped" in reference:
            return section
        return {**section, "agreement": fim_agreement(section, reference)}

    def cells(self, result: EvalResult) -> list[str]:
        em = ["skipped" if fim_skipped(result) else cell(fim_em(result, mode), ".3f") for mode in MODES]
        return [*em, cell(agreement(result), ".0%")]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        fim = result.section("fim") or {}
        if "skipped" in fim:
            return [("FIM EM", f"skipped: {fim['skipped']}")]
        rows = [(f"FIM EM {m.upper()}", f"{fim[m]['em']:.3f} ({fim[m]['evaluated']} tasks)")
                for m in MODES if m in fim and fim[m].get("em") is not None]
        if (gen := fim.get("generation")) and gen.get("tok_s"):
            rows.append(("FIM generation", f"{gen['new_tokens']} tokens at {gen['tok_s']:.1f} tok/s, "
                                           f"{gen['ran_at_once']} at once"))
        return rows

    def report(self, results: Mapping[str, EvalResult]) -> list[str]:
        langs = sorted({lang for r in results.values() for m in MODES for lang in fim_by_language(r, m)})
        if not langs:
            return []
        rows = [[name, *(" / ".join(cell(fim_by_language(r, m).get(lang), ".2f") for m in MODES) for lang in langs)]
                for name, r in results.items()]
        return ["## FIM exact match by language (PSM / SPM)", "", *md_table(["build", *langs], rows), ""]


FIM = Fim()
