"""HumanEval by programming and instruction language (``humaneval-langs``), the card's protocol and the card's FIM
rules: a scripted backend checked against hand-computed values, and one end-to-end run on the stand-in."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from kizami.calib_data.fim import FimTask
from kizami.calib_data.problems import Problem, load_problems
from kizami.runtime.backend import Caps, Generation, GenRequest
from kizami.runtime.metrics import metrics
from kizami.runtime.metrics.fim import FimSettings, card_cut, card_prompts, fim_exact_match
from kizami.runtime.metrics.functional import GenSettings, HumanEvalSettings
from kizami.runtime.metrics.langs import HUMANEVAL_LANGS, LangsSettings, card_tables, humaneval_langs
from kizami.runtime.result import EvalResult
from tests.fakes import FakeBackend

# Bodies for six problems whose translation is plain in both languages: (Python, JavaScript)
BODIES = {
    "HumanEval/2": ("    return number % 1.0\n", "  return number % 1.0;"),
    "HumanEval/23": ("    return len(string)\n", "  return string.length;"),
    "HumanEval/28": ("    return ''.join(strings)\n", "  return strings.join('');"),
    "HumanEval/30": ("    return [e for e in l if e > 0]\n", "  return l.filter(e => e > 0);"),
    "HumanEval/35": ("    return max(l)\n", "  return Math.max(...l);"),
    "HumanEval/42": ("    return [e + 1 for e in l]\n", "  return l.map(e => e + 1);"),
}
WRONG = {"py": "    return None\n", "js": "  return null;"}


class ScriptedBackend:
    """Answers each prompt with a body chosen from its text: the problem (by entry point), the language (JavaScript
    prompts open a ``function``) and whether this build gets that language right (``wrong``: languages it fails)."""

    name = "scripted"

    def __init__(self, wrong: dict[str, set[str]] | None = None, *, alternate: bool = False) -> None:
        self.caps = Caps(full_logits=False, fim=False)
        self.wrong = wrong or {}  # instruction ("en" / "ja") -> languages answered wrongly
        self.alternate = alternate  # every other answer wrong (for the card protocol's 10 samples)
        self.calls = 0
        self.requests: list[GenRequest] = []

    def token_id(self, token: str) -> int | None:
        return None

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) for c in t] for t in texts]

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        out = []
        for r in reqs:
            self.requests.append(r)
            prompt = "".join(map(chr, r.prompt))
            lang = "js" if "\nfunction " in prompt else "py"
            instr = "ja" if re.search(r"[\u3040-\u30ff]", prompt) else "en"
            task = next(t for t, (py, _) in BODIES.items() if f" {_entry(t)}(" in prompt)
            bad = lang in self.wrong.get(instr, set()) or (self.alternate and self.calls % 2 == 1)
            self.calls += 1
            text = WRONG[lang] if bad else BODIES[task][lang == "js"]
            out.append(Generation([1] * 3, text, "stop-string", 0.0, 0.0))
        return out

    def close(self) -> None:
        pass


_ENTRIES: dict[str, str] = {}


def _entry(task_id: str) -> str:
    if not _ENTRIES:
        _ENTRIES.update({p.task_id: p.entry_point for p in load_problems("humaneval")})
    return _ENTRIES[task_id]


def _sets() -> dict[str, list[Problem]]:
    return {instr: [p for p in load_problems(name) if p.task_id in BODIES]
            for instr, name in (("ja", "humaneval-ja"), ("en", "humaneval"))}


def _result(name: str, section: dict[str, Any]) -> EvalResult:
    return EvalResult(build=name, format="gguf", name=name, reference=None, eval_set=None, settings={},
                      environment={}, sections={"humaneval_langs": section})


def test_per_cell_pass1_intervals_and_the_paired_test_against_a_fake_bf16() -> None:
    bf16 = humaneval_langs(ScriptedBackend(), _sets(), ("py", "js"), workers=2)
    build = humaneval_langs(ScriptedBackend(wrong={"en": {"js"}}), _sets(), ("py", "js"), workers=2)
    for instr in ("ja", "en"):
        for lang in ("py", "js"):
            cell = bf16["cells"][instr][lang]
            assert (cell["tasks"], cell["translated"], cell["skipped"]["count"]) == (6, 6, 0)
            assert cell["pass@1"] == 1.0, cell["per_task"]
            # Wilson at 6/6: low = 1 / (1 + z²/6) = 0.6097 by hand
            assert cell["interval95"]["low"] == pytest.approx(0.6097, abs=1e-4) and cell["interval95"]["high"] == 1.0
    assert build["cells"]["en"]["js"]["pass@1"] == 0.0 and build["cells"]["en"]["js"]["outcomes"]["failed"] == 6
    assert build["cells"]["en"]["py"]["pass@1"] == 1.0 and build["cells"]["ja"]["js"]["pass@1"] == 1.0
    # Wilson at 0/6: high = (z²/6) / (1 + z²/6) = 0.3903
    assert build["cells"]["en"]["js"]["interval95"]["high"] == pytest.approx(0.3903, abs=1e-4)

    compared = HUMANEVAL_LANGS.compare(build, bf16)
    lost = compared["cells"]["en"]["js"]["paired"]
    assert len(lost["lost"]) == 6 and lost["gained"] == [] and lost["change_pts"] == -100.0
    assert lost["p"] == pytest.approx(2 / 64) and lost["significant"]  # exact McNemar: 2 · ½⁶
    same = compared["cells"]["ja"]["js"]["paired"]
    assert (same["p"], same["change_pts"], same["significant"]) == (1.0, 0.0, False)

    results = {"bf16": _result("bf16", bf16), "gguf-q4": _result("gguf-q4", compared)}
    tables = card_tables(results)
    assert [t[0] for t in tables] == ["Japanese instructions", "English instructions"]
    title, header, rows = tables[1]
    assert header == ["build", "py", "js"]
    assert rows[0] == [("bf16", 0), ("1.000", 0), ("1.000", 0)]
    assert rows[1] == [("gguf-q4", 0), ("1.000 (+0.0)", 0), ("0.000 (−100.0)", -1)]  # only the significant cell
    md = "\n".join(HUMANEVAL_LANGS.report(results))
    assert "### English instructions" in md and "| gguf-q4 | 1.000 (+0.0) | **0.000 (−100.0)** |" in md
    html = HUMANEVAL_LANGS.html(results)
    assert html.count("background:#f8d7d7") == 1 and "<h3>Japanese instructions</h3>" in html
    assert HUMANEVAL_LANGS.cells(results["gguf-q4"]) == ["ja 1.000 · en 0.500"]
    gate = HUMANEVAL_LANGS.gates["max_langs_significant_drop_pts"]
    assert gate.value(results["gguf-q4"], None) == 100.0


def test_the_card_protocol_and_its_settings() -> None:
    card = LangsSettings(protocol="card").generation()
    assert card == GenSettings(max_new_tokens=512, samples=10, sampled=True, temperature=0.2, top_p=0.95)
    assert LangsSettings().generation() == GenSettings(max_new_tokens=512)  # greedy: the fast default
    assert LangsSettings(protocol="card", samples=20, max_new_tokens=64).generation().samples == 20
    assert HumanEvalSettings(protocol="card").generation() == card
    assert HumanEvalSettings(protocol="card", samples=20).generation().samples == 20
    with pytest.raises(ValueError, match="unknown protocol 'cards'; choose from greedy, card"):
        LangsSettings(protocol="cards")
    with pytest.raises(ValueError, match="languages must be distinct names from py, js"):
        LangsSettings(languages=("py", "cobol"))
    with pytest.raises(ValueError, match="set sampled=True"):
        LangsSettings(samples=4)  # greedy would give the same text 4 times

    # 10 samples per problem, every other one wrong: pass@1 is 5/10 per task by the unbiased estimator
    sets = {"en": [p for p in load_problems("humaneval") if p.task_id in ("HumanEval/2", "HumanEval/23")]}
    backend = ScriptedBackend(alternate=True)
    out = humaneval_langs(backend, sets, ("py",), card, workers=2)
    cell = out["cells"]["en"]["py"]
    assert [t["n"] for t in cell["per_task"]] == [10, 10] and cell["pass@1"] == 0.5
    assert out["settings"] == {"max_new_tokens": 512, "samples": 10, "sampled": True, "temperature": 0.2,
                               "top_p": 0.95, "seed": 0}
    assert {(r.temperature, r.top_p, r.max_new_tokens) for r in backend.requests} == {(0.2, 0.95, 512)}
    assert len({r.seed for r in backend.requests}) == 20  # each sample seeded by its task and number
    assert {r.stop_strings for r in backend.requests} == {("\nclass", "\ndef", "\n#", "\nif", "\nprint")}


def test_a_missing_toolchain_is_one_line_before_anything_is_generated(monkeypatch: pytest.MonkeyPatch) -> None:
    from kizami.core.errors import BackendUnavailable
    from kizami.core.progress import no_progress
    from kizami.runtime import sandbox
    from kizami.runtime.metrics import MetricContext

    monkeypatch.setattr(sandbox, "missing_tool", lambda lang: "rustc" if lang == "rs" else None)
    backend = ScriptedBackend()
    ctx = MetricContext(build=Path("."), backend=backend, reference=None, settings=None,  # type: ignore[arg-type]
                        n_params=0, progress=no_progress, config=LangsSettings(languages=("py", "rs")))
    with pytest.raises(BackendUnavailable, match=r"Rust programs need rustc, .*apt-get install rustc"):
        HUMANEVAL_LANGS.run(ctx)
    assert backend.requests == []
    assert "humaneval-langs" in metrics.names()


# --- the card's FIM rules -----------------------------------------------------------------------------------------
def test_card_cut_by_hand() -> None:
    # the suffix's first non-blank line, stripped, after its one leading newline is dropped
    assert card_cut("x = 1\n    return x\n", "\n    return x\n") == "x = 1\n    "  # cut at the stripped line
    assert card_cut("x = 1\n\n  y = 2", "\n\n  y = 2\n") == "x = 1\n\n  "  # blank lines skipped to find it
    assert card_cut("a = f(b)  # same", "}\n") == "a = f(b)  # same"  # absent: unchanged
    assert card_cut("x = 1", "\n\n") == "x = 1"  # a blank suffix cuts nothing


def test_fim_card_rules_exact_match_with_a_fake_backend() -> None:
    tasks = [FimTask("t0", "python", "def f():\n", "\n    return x\n", "    x = 1"),
             FimTask("t1", "java", "int f() {\n", "\n  return y;\n}\n", "  int y = 2;"),
             FimTask("t2", "javascript", "let a;\n", "\nfoo();\n", "a = 3;")]
    prompts = {"psm": [[1, 2, 3]] * 3, "spm": [[1, 2, 3]] * 3}
    backend = FakeBackend(np.zeros((8, 8)), fim=True)
    # PSM: the model writes the middle and runs on into the suffix; SPM: it writes the wrong line
    backend.enqueue(["    x = 1\n    return x\n", "  int y = 2;\n  return y;\n}", "a = 3;\nfoo();",
                     "    x = 2\n    return x", "  int y = 2;", "b = 3;\nfoo();"])
    out = fim_exact_match(backend, tasks, prompts, FimSettings(rules="card"))
    assert out["settings"]["rules"] == "card"
    assert out["psm"]["em"] == 1.0 and out["spm"]["em"] == pytest.approx(1 / 3)
    assert out["spm"]["by_language"] == {"java": 1.0, "javascript": 0.0, "python": 0.0}
    assert [g["generated"] for g in out["psm"]["generations"]] == ["    x = 1\n    ", "  int y = 2;\n  ", "a = 3;\n"]

    # single-line (the default) stops at the newline; the card's rules do not
    seen: list[GenRequest] = []
    real = backend.generate
    backend.generate = lambda reqs: (seen.extend(reqs), real(reqs))[1]  # type: ignore[method-assign]
    backend.enqueue(["x"] * 12)
    fim_exact_match(backend, tasks, prompts, FimSettings(rules="card"))
    fim_exact_match(backend, tasks, prompts, FimSettings())
    assert {r.stop_strings for r in seen[:6]} == {()} and {r.stop_strings for r in seen[6:]} == {("\n",)}
    with pytest.raises(ValueError, match="unknown FIM rules 'santa'; choose from single-line, card"):
        FimSettings(rules="santa")


def test_card_prompts_drop_one_leading_newline_in_a_dialect_that_keeps_it() -> None:
    from kizami.core import fim_dialects

    vocab = {"<fim_prefix>": 1, "<fim_suffix>": 2, "<fim_middle>": 3, "<|endoftext|>": 4}
    dialect = fim_dialects.get("starcoder")
    assert not dialect.drop_suffix_newline
    backend = FakeBackend(np.zeros((256, 256)), fim=True, vocab=vocab)
    task = FimTask("t", "python", "def f():\n", "\n\n    return x\n", "    x = 1")
    got = card_prompts(backend, dialect, [task], ["psm", "spm"])
    tok = backend.tokenize
    assert got["psm"][0] == [1, *tok(["def f():\n"])[0], 2, *tok(["\n    return x\n"])[0], 3]  # one newline gone
    assert got["spm"][0] == [1, 2, *tok(["\n    return x\n"])[0], 3, *tok(["def f():\n"])[0]]


# --- end to end on the stand-in -----------------------------------------------------------------------------------
def test_end_to_end_on_the_standin_through_evaluate_report_and_card(standin: Path, reference: Any,
                                                                     eval_settings: Any) -> None:
    from kizami.calib_data.multipl import translate
    from kizami.run.bundle import _metric_cards
    from kizami.run.report_html import html_report
    from kizami.run.report_text import markdown_report
    from kizami.run.summary import RunSummary
    from kizami.runtime.evaluate import evaluate

    config = LangsSettings(languages=("py", "js", "cpp"), problems_limit=2, max_new_tokens=12)
    settings = dataclasses.replace(eval_settings, metrics=("humaneval-langs",),
                                   per_metric={"humaneval-langs": config})
    bf16 = evaluate(standin, reference, settings, n_params=1, name="bf16")
    section = bf16.section("humaneval_langs")
    assert section["protocol"] == "greedy" and list(section["cells"]) == ["ja", "en"]
    for instr, name in (("ja", "humaneval-ja"), ("en", "humaneval")):
        assert list(section["cells"][instr]) == ["py", "js", "cpp"]
        for lang in ("py", "js", "cpp"):
            done, skipped = translate(load_problems(name)[:2], lang)
            cell = section["cells"][instr][lang]
            assert cell["tasks"] == cell["translated"] == len(done) == 2 and cell["skipped"]["count"] == len(skipped)
            assert sum(cell["outcomes"].values()) == cell["tasks"] == len(cell["per_task"])  # every program ran
            assert 0.0 <= cell["pass@1"] <= 1.0 and cell["interval95"]["low"] <= cell["pass@1"]
            assert cell["generation"]["generated"] == 2
    # a build identical to bf16 (the same model): the paired test sees no change in any cell
    build = bf16.replace(name="gguf-same").with_section(
        "humaneval_langs", HUMANEVAL_LANGS.compare(section, section))
    for by_lang in build.section("humaneval_langs")["cells"].values():
        for c in by_lang.values():
            assert (c["paired"]["tasks"], c["paired"]["p"], c["paired"]["significant"]) == (2, 1.0, False)
    summary = RunSummary(recipe={"name": "langs", "model": "stand-in"}, calibration=None,
                         results={"bf16": bf16, "gguf-same": build})
    md = markdown_report(summary)
    assert "## HumanEval by language (kizami's translations)" in md
    assert "### Japanese instructions" in md and "### English instructions" in md
    assert "| build | py | js | cpp |" in md and md.count("| gguf-same |") >= 2
    assert "langs pass@1" in md  # its column in the builds' table
    html = html_report(summary)
    assert "<h3>English instructions</h3>" in html and "background:#" not in html.split("HumanEval by language")[1]
    card = "\n".join(_metric_cards(build, bf16))
    assert "| bf16 (reference) |" in card and "| this build |" in card and "### English instructions" in card


def test_settings_from_the_command_line_and_the_task_name_with_did_you_mean() -> None:
    from kizami.core.errors import UnknownName
    from kizami.run.recipe import eval_settings, parse_sets
    from kizami.runtime.evaluate import EvalSettings

    sets = parse_sets(["humaneval-langs.languages=py,js", "humaneval-langs.instructions=ja",
                       "humaneval-langs.protocol=card", "humaneval-langs.problems_limit=8"])
    settings = eval_settings({"metrics": ["humaneval-langs"], **sets}, "kizami eval", Path("."))
    assert settings.of("humaneval-langs") == LangsSettings(languages=("py", "js"), instructions=("ja",),
                                                           protocol="card", problems_limit=8)
    with pytest.raises(UnknownName, match=r"Did you mean 'humaneval-langs'\?"):
        EvalSettings(metrics=("humaneval-lang",))
