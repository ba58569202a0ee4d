"""HumanEval per programming language and per instruction language: the target card's table, for every build.

One metric, ``humaneval-langs``: each instruction set (``en``: HumanEval's docstrings; ``ja``: kizami's own Japanese
translation, ``humaneval-ja``) is translated into each programming language the MultiPL-E way
(``kizami.calib_data.multipl``), completed through the Backend protocol with the language's own stop sequences, and
run in the sandbox (``Program(text, language)``). Each cell (instruction, language) holds pass@1 with its Wilson
interval, the tasks run, the problems the translation skipped (count, reasons, ids) and every task's outcome; against
bf16 each cell gets the paired test (``functional.paired``: exact McNemar, or the sign test with several samples).

The protocol is ``greedy`` (fast, the default) or ``card`` (n = 10 at T 0.2, top-p 0.95, 512 new tokens, pass@1 by
the unbiased estimator); explicit keys override the protocol's. A language whose toolchain is missing is one error
before anything is generated.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any, ClassVar

from kizami.calib_data.problems import Problem
from kizami.core.progress import Advance, no_advance
from kizami.runtime.backend import Backend
from kizami.runtime.metrics import Gate, Metric, MetricContext, md_table
from kizami.runtime.metrics.functional import (
    GenSettings,
    generate_completions,
    paired,
    protocol_settings,
    score_completions,
)
from kizami.runtime.result import EvalResult
from kizami.runtime.sandbox import SandboxConfig

__all__ = ["INSTRUCTIONS", "DEFAULT_LANGUAGES", "LangsSettings", "translate_sets", "humaneval_langs", "card_tables",
           "HUMANEVAL_LANGS"]

INSTRUCTIONS = {"ja": "humaneval-ja", "en": "humaneval"}  # instruction language -> its built-in problem set
INSTRUCTION_NAMES = {"ja": "Japanese", "en": "English"}
DEFAULT_LANGUAGES = ("py", "js", "cpp", "java", "go", "rs")
SECTION = "humaneval_langs"


@dataclass(frozen=True, slots=True, kw_only=True)
class LangsSettings:
    """``[eval.humaneval-langs]``: which programming and instruction languages, how many problems, and how the
    completions are drawn (a protocol, with any key given here in place of the protocol's)."""

    languages: tuple[str, ...] = DEFAULT_LANGUAGES  # of kizami.calib_data.multipl.LANGUAGES
    instructions: tuple[str, ...] = ("ja", "en")  # ja = humaneval-ja, en = humaneval
    problems_limit: int = 0  # the first N of the 164 problems, before translation (0 = all)
    protocol: str = "greedy"  # or "card": 10 samples, T 0.2, top-p 0.95, 512 new tokens
    max_new_tokens: int | None = None  # None: the protocol's (512)
    samples: int | None = None
    sampled: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    sandbox_timeout_s: float = 5.0  # wall clock per program run (compiling has the sandbox's own limit)
    version: int = 1

    def __post_init__(self) -> None:
        from kizami.calib_data.multipl import LANGUAGES

        bad = [lang for lang in self.languages if lang not in LANGUAGES]
        if bad or not self.languages or len(set(self.languages)) != len(self.languages):
            raise ValueError(f"languages must be distinct names from {', '.join(LANGUAGES)}, got {list(self.languages)}")
        bad = [i for i in self.instructions if i not in INSTRUCTIONS]
        if bad or not self.instructions or len(set(self.instructions)) != len(self.instructions):
            raise ValueError(f"instructions must be distinct names from {', '.join(INSTRUCTIONS)}, got "
                             f"{list(self.instructions)}")
        if self.problems_limit < 0 or self.sandbox_timeout_s <= 0:
            raise ValueError(f"problems_limit must be 0 (all) or more and sandbox_timeout_s above 0, got "
                             f"{self.problems_limit}, {self.sandbox_timeout_s}")
        self.generation()

    def generation(self) -> GenSettings:
        return protocol_settings(self.protocol, max_new_tokens=self.max_new_tokens, samples=self.samples,
                                 sampled=self.sampled, temperature=self.temperature, top_p=self.top_p)


def _reason_kind(reason: str) -> str:
    """A skip reason without the problem's own names: ``Go has no optional values``, ``the test computes its cases``."""
    if reason.startswith(("parameter ", "the result")):
        return reason.rsplit(": ", 1)[-1]
    return re.sub(r" \(.*\)", "", reason.split(": ", 1)[0])


def translate_sets(sets: Mapping[str, Sequence[Problem]], languages: Sequence[str]
                   ) -> dict[tuple[str, str], tuple[list[Problem], dict[str, str]]]:
    """(instruction, language) -> the translated problems and the skipped ``{task_id: reason}``."""
    from kizami.calib_data.multipl import translate

    return {(instr, lang): translate(problems, lang) for instr, problems in sets.items() for lang in languages}


def humaneval_langs(backend: Backend, sets: Mapping[str, Sequence[Problem]], languages: Sequence[str],
                    settings: GenSettings = GenSettings(), *, sandbox: SandboxConfig = SandboxConfig(),
                    workers: int | None = None, journal: Path | None = None,
                    progress: Advance = no_advance) -> dict[str, Any]:
    """pass@k per (instruction, language): ``{"settings", "cells": {instruction: {language: cell}}}``."""
    translated = translate_sets(sets, languages)
    out: dict[str, Any] = {"settings": settings.to_dict(), "languages": list(languages), "cells": {}}
    for (instr, lang), (problems, skipped) in translated.items():
        completions, stats = generate_completions(backend, problems, settings, journal=journal, progress=progress,
                                                  mode=f"langs-{instr}-{lang}")
        scored = score_completions(problems, completions, sandbox=sandbox, workers=workers)
        out["cells"].setdefault(instr, {})[lang] = {
            "generation": stats, "translated": len(problems),
            "skipped": {"count": len(skipped), "by_reason": dict(Counter(map(_reason_kind, skipped.values())).most_common()),
                        "tasks": skipped},
            **scored}
    return out


# --- showing ------------------------------------------------------------------------------------------------------
def _cells(result: EvalResult | None) -> dict[str, dict[str, Any]]:
    return ((result.section(SECTION) if result is not None else None) or {}).get("cells") or {}


def _cell_text(c: dict[str, Any] | None, is_reference: bool) -> tuple[str, int]:
    """A cell's text and its sign (−1 a significant drop, +1 a significant gain, 0 none)."""
    if not c or c.get("pass@1") is None:
        return "—", 0
    text = f"{c['pass@1']:.3f}"
    test = c.get("paired")
    if is_reference or not test:
        return text, 0
    sign = (1 if test["change_pts"] > 0 else -1) if test["significant"] else 0
    return f"{text} ({test['change_pts']:+.1f})".replace("-", "−"), sign


def card_tables(results: Mapping[str, EvalResult], reference: str | None = "bf16"
                ) -> list[tuple[str, list[str], list[list[tuple[str, int]]]]]:
    """The card's tables: per instruction language, (title, header, rows of (text, sign) cells), builds as rows and
    programming languages as columns. ``reference`` names the row that the others are compared with."""
    present = {name: _cells(r) for name, r in results.items() if _cells(r)}
    tables = []
    for instr in INSTRUCTIONS:
        langs = list(dict.fromkeys(lang for cells in present.values() for lang in cells.get(instr, {})))
        if not langs:
            continue
        rows = [[(name, 0), *(_cell_text(cells.get(instr, {}).get(lang), name == reference) for lang in langs)]
                for name, cells in present.items() if instr in cells]
        tables.append((f"{INSTRUCTION_NAMES[instr]} instructions", ["build", *langs], rows))
    return tables


_LEGEND = ("pass@1 per programming language; in brackets the change against bf16 in points (paired over the same "
           "problems); **bold** where the paired test finds a change (p < 0.05).")


def _markdown(results: Mapping[str, EvalResult], reference: str | None, level: str = "##") -> list[str]:
    tables = card_tables(results, reference)
    if not tables:
        return []
    out = [f"{level} HumanEval by language (kizami's translations)", "", _LEGEND, ""]
    for title, header, rows in tables:
        out += [f"{level}# {title}", "",
                *md_table(header, [[f"**{t}**" if s else t for t, s in row] for row in rows]), ""]
    return out


def _worst_significant_drop(result: EvalResult, _ref: EvalResult | None) -> float | None:
    tests = [c["paired"] for by_lang in _cells(result).values() for c in by_lang.values() if c.get("paired")]
    if not tests:
        return None
    return max([0.0, *(-t["change_pts"] for t in tests if t["significant"] and t["change_pts"] < 0)])


class HumanEvalLangs(Metric):
    """pass@1 per programming language, with Japanese and English instructions: the card's table."""

    name: ClassVar[str] = "humaneval-langs"
    config_class: ClassVar[type[Any] | None] = LangsSettings
    columns: ClassVar[tuple[str, ...]] = ("langs pass@1",)
    terminal: ClassVar[tuple[str, ...] | None] = ()
    gates: ClassVar[Mapping[str, Gate]] = {
        "max_langs_significant_drop_pts": Gate(
            _worst_significant_drop,
            doc="the worst pass@1 drop vs bf16 in points over every (instruction, language) cell, counted only "
                "where the paired test finds one (p < 0.05)")}

    def check(self, config: Any, base: Path) -> Any:
        from kizami.runtime.sandbox import require_toolchain

        for lang in config.languages:  # a missing compiler is one line now, before any model loads
            if lang != "py":
                require_toolchain(lang)
        return config

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        from kizami.calib_data.problems import load_problems

        config: LangsSettings = ctx.config
        self.check(config, Path("."))  # also here: ``kizami eval`` and tests reach run without a recipe
        sets = {i: load_problems(INSTRUCTIONS[i])[: config.problems_limit or None] for i in config.instructions}
        gen = config.generation()
        total = sum(len(done) for done, _ in translate_sets(sets, config.languages).values()) * gen.samples
        journal = ctx.journal.with_name(ctx.journal.name.replace("fim-", "functional-")) if ctx.journal else None
        out = humaneval_langs(ctx.backend, sets, config.languages, gen,
                              sandbox=SandboxConfig(timeout_s=config.sandbox_timeout_s), journal=journal,
                              progress=ctx.count("HumanEval by language", total))
        return {"protocol": config.protocol, **out}

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        ref = reference.get("cells") or {}
        cells = {instr: {lang: ({**c, "paired": paired(c, ref[instr][lang])} if lang in ref.get(instr, {}) else c)
                         for lang, c in by_lang.items()}
                 for instr, by_lang in (section.get("cells") or {}).items()}
        return {**section, "cells": cells}

    def cells(self, result: EvalResult) -> list[str]:
        means = []
        for instr, by_lang in _cells(result).items():
            values = [c["pass@1"] for c in by_lang.values() if c.get("pass@1") is not None]
            if values:
                means.append(f"{instr} {sum(values) / len(values):.3f}")
        return [" · ".join(means) or "—"]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        rows = []
        for instr, by_lang in _cells(result).items():
            parts = []
            for lang, c in by_lang.items():
                text, sign = _cell_text(c, False)
                parts.append(f"{lang} {text}{' *' if sign else ''}")
            rows.append((f"HumanEval by language ({instr})", " · ".join(parts)))
        return rows

    def report(self, results: Mapping[str, EvalResult]) -> list[str]:
        return _markdown(results, "bf16")

    def html(self, results: Mapping[str, EvalResult]) -> str:
        tables = card_tables(results, "bf16")
        if not tables:
            return ""
        colour = {1: " style='background:#d9f2d9'", -1: " style='background:#f8d7d7'", 0: ""}
        parts = ["<h2>HumanEval by language (kizami's translations)</h2>",
                 f"<p class='muted'>{escape(_LEGEND.replace('**bold**', 'coloured'))}</p>"]
        for title, header, rows in tables:
            head = "".join(f"<th>{escape(h)}</th>" for h in header)
            body = "".join("<tr>" + "".join(f"<td{colour[s]}>{escape(t)}</td>" for t, s in row) + "</tr>"
                           for row in rows)
            parts.append(f"<h3>{escape(title)}</h3><table class='langs'><thead><tr>{head}</tr></thead>"
                         f"<tbody>{body}</tbody></table>")
        return "".join(parts)

    def card(self, result: EvalResult, reference: EvalResult | None) -> list[str]:
        pair = {"bf16 (reference)": reference, "this build": result} if reference else {"this build": result}
        return _markdown({k: v for k, v in pair.items() if v is not None}, "bf16 (reference)", level="###")

    def notes(self, result: EvalResult) -> list[str]:
        section = result.section(SECTION) or {}
        if not section.get("settings"):
            return []
        first: dict[str, Any] = next(iter((section.get("cells") or {}).values()), {})
        counts = ", ".join(f"{lang} {c.get('translated', 0)}" for lang, c in first.items())
        return [f"HumanEval by language: protocol {section.get('protocol')}, {section['settings']}; problems translated "
                f"per language: {counts}"]


HUMANEVAL_LANGS = HumanEvalLangs()
