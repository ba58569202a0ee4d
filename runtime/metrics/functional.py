"""Functional correctness: does the build's code run? HumanEval pass@k and infilling checked by execution.

Written once against the Backend protocol. Generated code is only ever run in ``kizami.runtime.sandbox`` (a child
process per program), never in this process.

* Completion: the problem's prompt (after ``<|begin_of_text|>`` when the vocabulary has it), HumanEval's stop
  sequences, greedy by default or the model card's sampling (temperature 0.2, top-p 0.95, ``samples`` per problem,
  each seeded by its task id and sample number), scored with the unbiased pass@k estimator.
* Infilling: prompts from a caller-supplied ``fim_prompt(prefix, suffix, mode) -> ids`` (the FIM dialect lives
  elsewhere), single-line tasks stop at the first newline; each answer is scored by exact match (whitespace-stripped,
  as kizami's FIM EM) and by running the problem's tests on prefix + answer + suffix.
* The 95 % interval for pass@1 is Wilson's score interval with the number of problems as the sample size
  (pass@1 × N successes): with several samples per problem it ignores the extra samples, so it is conservative.

Results are plain JSON-able dicts with each task's outcome, so builds can be compared task by task (``agreement``).
With a ``journal`` (JSONL, the FIM journal's format) every generation is appended as it is made and a re-run
reads it back instead of generating again.
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from kizami.calib_data.problems import InfillTask, Problem
from kizami.core.progress import Advance, no_advance
from kizami.runtime.backend import Backend, GenRequest
from kizami.runtime.decoding import first_stop
from kizami.runtime.generation import Job, generate_all
from kizami.runtime.metrics import Gate, Metric, MetricContext, cell, dig, num
from kizami.runtime.result import EvalResult
from kizami.runtime.sandbox import OUTCOMES, Program, RunResult, SandboxConfig, run_programs

__all__ = ["STOP_SEQUENCES", "GenSettings", "HumanEvalSettings", "InfillSettings", "pass1", "pass_at_k", "wilson_interval", "generate_completions",
           "score_completions", "humaneval", "generate_infills", "score_infills", "infilling", "check_problems",
           "agreement", "mcnemar_exact", "paired", "paired_text", "CHAT_INSTRUCTION", "extract_code", "humaneval_chat", "HUMANEVAL", "HUMANEVAL_CHAT",
           "HUMANEVAL_INFILL"]

STOP_SEQUENCES = ("\nclass", "\ndef", "\n#", "\nif", "\nprint")  # HumanEval's, from its paper and harness
FimPrompt = Callable[[str, str, str], Sequence[int]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GenSettings:
    version: int = 1
    max_new_tokens: int = 512
    max_context: int = 4096  # prompt + max_new_tokens beyond this: listed as too long, not run
    samples: int = 1  # completions per task (n of pass@k)
    sampled: bool = False  # False = greedy
    temperature: float = 0.2  # the model card's sampling, used when sampled
    top_p: float = 0.95
    seed: int = 0

    def __post_init__(self) -> None:
        if self.samples < 1 or self.max_new_tokens < 1:
            raise ValueError(f"samples and max_new_tokens must be >= 1, got {self.samples}, {self.max_new_tokens}")
        if self.samples > 1 and not self.sampled:
            raise ValueError(f"greedy decoding gives the same text {self.samples} times; set sampled=True")

    def to_dict(self) -> dict[str, Any]:
        return {"max_new_tokens": self.max_new_tokens, "samples": self.samples, "sampled": self.sampled,
                "temperature": self.temperature if self.sampled else 0.0,
                "top_p": self.top_p if self.sampled else 1.0, "seed": self.seed}


# The decoding protocols a HumanEval-style metric offers: greedy (fast, the default) and the model card's (n = 10
# samples at temperature 0.2, top-p 0.95, 512 new tokens; pass@1 estimated from the 10 by the unbiased estimator).
PROTOCOLS: dict[str, GenSettings] = {
    "greedy": GenSettings(max_new_tokens=512),
    "card": GenSettings(max_new_tokens=512, samples=10, sampled=True, temperature=0.2, top_p=0.95)}


def protocol_settings(protocol: str, **overrides: Any) -> GenSettings:
    """The generation settings of ``protocol`` (``PROTOCOLS``), with the keys given (not None) in place of its own."""
    from dataclasses import replace

    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
    return replace(PROTOCOLS[protocol], **{k: v for k, v in overrides.items() if v is not None})


@dataclass(frozen=True, slots=True, kw_only=True)
class HumanEvalSettings:
    """``[eval.humaneval]`` and ``[eval.humaneval-chat]``: which problems, and how the answers are generated and run."""

    problems: str = "humaneval"  # HumanEval-format problems: the built-in set or a JSONL file
    problems_limit: int = 0  # the first N problems (0 = all; HumanEval has 164)
    max_new_tokens: int = 512  # the model card's setting
    samples: int = 1  # > 1 with sampled: the card's T 0.2 / top-p 0.95, for pass@k
    sampled: bool = False
    sandbox_timeout_s: float = 3.0  # wall clock per program
    protocol: str = "greedy"  # or "card": 10 samples (unless samples says more), T 0.2, top-p 0.95
    version: int = 1

    def __post_init__(self) -> None:
        if self.problems_limit < 0 or self.sandbox_timeout_s <= 0:
            raise ValueError(f"problems_limit must be 0 (all) or more and sandbox_timeout_s above 0, got "
                             f"{self.problems_limit}, {self.sandbox_timeout_s}")
        self.generation()

    def generation(self) -> GenSettings:
        if self.protocol != "greedy":
            return protocol_settings(self.protocol, max_new_tokens=self.max_new_tokens,
                                     samples=self.samples if self.samples > 1 else None)
        return GenSettings(max_new_tokens=self.max_new_tokens, samples=self.samples, sampled=self.sampled)


@dataclass(frozen=True, slots=True, kw_only=True)
class InfillSettings:
    """``[eval.humaneval-infill]``: the problems whose solutions are cut, how many tasks per kind, the answer's length."""

    problems: str = "humaneval"
    problems_limit: int = 0
    limit: int = 0  # the first N infilling tasks per kind (0 = all)
    max_new_tokens: int = 128
    sandbox_timeout_s: float = 3.0
    version: int = 1

    def __post_init__(self) -> None:
        if self.problems_limit < 0 or self.limit < 0 or self.max_new_tokens < 1 or self.sandbox_timeout_s <= 0:
            raise ValueError("problems_limit and limit must be 0 (all) or more, max_new_tokens 1 or more and "
                             "sandbox_timeout_s above 0")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Unbiased pass@k from n samples of which c passed: 1 - C(n-c, k) / C(n, k), as a product (no huge binomials)."""
    if not 0 <= c <= n or k < 1 or k > n:
        raise ValueError(f"pass@k needs 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def wilson_interval(successes: float, trials: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval for a proportion (95 % by default); well behaved at 0 and 1, unlike the normal one."""
    if trials <= 0:
        return (0.0, 1.0)
    p = successes / trials
    centre = (p + z * z / (2 * trials)) / (1 + z * z / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / (1 + z * z / trials)
    return (max(0.0, centre - half), min(1.0, centre + half))


def _seed(settings: GenSettings, task_id: str, sample: int) -> int:
    # depends on the task, not its position, so subsets and re-orderings draw the same samples
    return (settings.seed + zlib.crc32(f"{task_id}/{sample}".encode())) % (2**31)


def _generate(backend: Backend, jobs: Sequence[tuple[str, int, Sequence[int], tuple[str, ...]]],
              settings: GenSettings, mode: str, journal: Path | None,
              progress: Advance) -> tuple[list[str | None], dict[str, Any]]:
    """One text per job ``(task_id, sample, prompt ids, stop strings)``; None when the prompt is too long."""
    requests = [Job((mode, sample, task_id), None if len(ids) + settings.max_new_tokens > settings.max_context else
                    GenRequest(prompt=list(ids), max_new_tokens=settings.max_new_tokens, stop_strings=stops,
                               temperature=settings.temperature if settings.sampled else 0.0,
                               top_p=settings.top_p if settings.sampled else 1.0,
                               seed=_seed(settings, task_id, sample)))
                for task_id, sample, ids, stops in jobs]
    texts, stats = generate_all(backend, requests, journal=journal, progress=progress)
    # a backend that ignores stop strings is cut here too
    return [t if t is None or (hit := first_stop(t, job[3])) is None else t[:hit] for t, job in zip(texts, jobs)], stats


def _prompt_ids(backend: Backend, text: str) -> list[int]:
    bos = backend.token_id("<|begin_of_text|>")
    ids = backend.tokenize([text])[0]
    return ([bos] if bos is not None else []) + list(ids)


def generate_completions(backend: Backend, problems: Sequence[Problem], settings: GenSettings = GenSettings(), *,
                         journal: Path | None = None, progress: Advance = no_advance,
                         mode: str = "completion") -> tuple[list[list[str] | None], dict[str, Any]]:
    """``settings.samples`` completions per problem (None for a prompt that does not fit), and generation stats.
    Each problem stops at its own ``stop_sequences`` (a translated one's) or HumanEval's; ``mode`` keys the journal."""
    jobs = []
    for p in problems:
        ids = _prompt_ids(backend, p.prompt)
        jobs += [(p.task_id, s, ids, p.stop_sequences or STOP_SEQUENCES) for s in range(settings.samples)]
    texts, stats = _generate(backend, jobs, settings, mode, journal, progress)
    n = settings.samples
    grouped = [texts[i * n:(i + 1) * n] for i in range(len(problems))]
    return [None if any(t is None for t in g) else [t for t in g if t is not None] for g in grouped], stats


def score_completions(problems: Sequence[Problem], completions: Sequence[Sequence[str] | None], *,
                      ks: Sequence[int] = (1, 10, 100), sandbox: SandboxConfig = SandboxConfig(),
                      workers: int | None = None, progress: Advance = no_advance) -> dict[str, Any]:
    """Run every completion against its problem's tests; pass@k for each k not above the samples per problem."""
    if len(problems) != len(completions):
        raise ValueError(f"{len(problems)} problems but {len(completions)} completion lists")
    kept = [(p, list(c)) for p, c in zip(problems, completions) if c is not None]
    programs = [Program(p.program(text), p.language) for p, cs in kept for text in cs]
    results = iter(run_programs(programs, workers=workers, config=sandbox, progress=progress))
    per_task: list[dict[str, Any]] = []
    counts = Counter[str]()
    for p, cs in kept:
        runs = [next(results) for _ in cs]
        counts.update(r.outcome for r in runs)
        per_task.append({"task_id": p.task_id, "outcome": runs[0].outcome,
                         "passed": sum(r.outcome == "passed" for r in runs), "n": len(runs),
                         "outcomes": [r.outcome for r in runs], "details": [r.detail for r in runs],
                         "completions": cs})
    out: dict[str, Any] = {"tasks": len(per_task), "too_long": [p.task_id for p, c in zip(problems, completions)
                                                              if c is None]}
    out.update(_summary(per_task, counts))
    n_min = min((t["n"] for t in per_task), default=0)
    out["pass@k"] = {str(k): _mean([pass_at_k(t["n"], t["passed"], k) for t in per_task])
                     for k in ks if 1 <= k <= n_min}
    out["per_task"] = per_task
    return out


def _mean(xs: Sequence[float]) -> float | None:
    return sum(xs) / len(xs) if xs else None


def _summary(per_task: Sequence[dict[str, Any]], counts: Counter[str]) -> dict[str, Any]:
    p1 = _mean([t["passed"] / t["n"] for t in per_task])
    low, high = wilson_interval((p1 or 0.0) * len(per_task), len(per_task))
    return {"pass@1": p1, "interval95": {"method": "wilson, N = tasks", "low": low, "high": high},
            "outcomes": {o: counts.get(o, 0) for o in OUTCOMES}}


def humaneval(backend: Backend, problems: Sequence[Problem], settings: GenSettings = GenSettings(), *,
              sandbox: SandboxConfig = SandboxConfig(), workers: int | None = None, journal: Path | None = None,
              progress: Advance = no_advance) -> dict[str, Any]:
    """Generate and score: the completion pass@k of one build."""
    completions, stats = generate_completions(backend, problems, settings, journal=journal, progress=progress)
    out = score_completions(problems, completions, sandbox=sandbox, workers=workers)
    return {"settings": settings.to_dict(), "generation": stats, **out}


# The chat path: the instruction the model's chat template wraps, and where the code is taken from in the answer.
CHAT_INSTRUCTION = ("Complete the following Python function. Reply with the complete function in one ```python code "
                    "block.\n\n```python\n{prompt}```")
_CODE_BLOCK = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)


def extract_code(answer: str) -> str:
    """The first fenced code block of a chat answer (an unclosed one runs to the end), else the whole answer.

    The program is the problem's prompt followed by this code: a complete function in the answer redefines the
    prompt's (which holds only its signature and docstring), and the prompt keeps its imports and helpers."""
    match = _CODE_BLOCK.search(answer + ("```" if answer.count("```") % 2 else ""))
    return "\n" + (match.group(1) if match else answer)


def humaneval_chat(backend: Backend, problems: Sequence[Problem], render: Callable[[str], str],
                   settings: GenSettings = GenSettings(), *, sandbox: SandboxConfig = SandboxConfig(),
                   workers: int | None = None, journal: Path | None = None,
                   progress: Advance = no_advance) -> dict[str, Any]:
    """pass@k through the chat template: ``render(instruction)`` gives the prompt text of one user turn (the source
    model's template, rendered in the sandbox); generation runs to the end of the turn; the code is extracted."""
    jobs = []
    for p in problems:
        ids = backend.tokenize([render(CHAT_INSTRUCTION.format(prompt=p.prompt))])[0]
        jobs += [(p.task_id, s, ids, ()) for s in range(settings.samples)]
    answers, stats = _generate(backend, jobs, settings, "chat", journal, progress)
    n = settings.samples
    grouped = [answers[i * n:(i + 1) * n] for i in range(len(problems))]
    completions = [None if any(a is None for a in g) else [extract_code(a) for a in g if a is not None] for g in grouped]
    out = score_completions(problems, completions, sandbox=sandbox, workers=workers)
    return {"settings": settings.to_dict(), "instruction": CHAT_INSTRUCTION, "generation": stats, **out}


def generate_infills(backend: Backend, tasks: Sequence[InfillTask], fim_prompt: FimPrompt, mode: str,
                     settings: GenSettings = GenSettings(max_new_tokens=128), *, journal: Path | None = None,
                     progress: Advance = no_advance) -> tuple[list[str | None], dict[str, Any]]:
    """One middle per task (the first sample only); single-line tasks stop at the first newline."""
    jobs = [(t.task_id, 0, fim_prompt(t.prefix, t.suffix, mode), ("\n",) if t.kind == "single-line" else ())
            for t in tasks]
    return _generate(backend, jobs, settings, f"infill-{mode}", journal, progress)


def score_infills(tasks: Sequence[InfillTask], middles: Sequence[str | None], *,
                  sandbox: SandboxConfig = SandboxConfig(), workers: int | None = None,
                  progress: Advance = no_advance) -> dict[str, Any]:
    """Exact match and execution pass@1, overall and per kind, with each task's outcome."""
    if len(tasks) != len(middles):
        raise ValueError(f"{len(tasks)} tasks but {len(middles)} middles")
    kept = [(t, m) for t, m in zip(tasks, middles) if m is not None]
    runs: list[RunResult] = run_programs([t.program(m) for t, m in kept], workers=workers, config=sandbox,
                                         progress=progress)
    per_task: list[dict[str, Any]] = [
                {"task_id": t.task_id, "kind": t.kind, "outcome": r.outcome, "passed": int(r.outcome == "passed"),
                 "n": 1, "match": m.strip() == t.middle.strip(), "detail": r.detail, "generated": m}
                for (t, m), r in zip(kept, runs)]
    out: dict[str, Any] = {"tasks": len(per_task), "too_long": [t.task_id for t, m in zip(tasks, middles) if m is None],
                           "exact_match": _mean([float(r["match"]) for r in per_task])}
    out.update(_summary(per_task, Counter(r["outcome"] for r in per_task)))
    out["by_kind"] = {}
    for kind in dict.fromkeys(t["kind"] for t in per_task):
        rows = [r for r in per_task if r["kind"] == kind]
        out["by_kind"][kind] = {"tasks": len(rows), "exact_match": _mean([float(r["match"]) for r in rows]),
                                "pass@1": _mean([float(r["passed"]) for r in rows])}
    out["per_task"] = per_task
    return out


def infilling(backend: Backend, tasks: Sequence[InfillTask], fim_prompt: FimPrompt, *,
              modes: Sequence[str] = ("psm", "spm"), settings: GenSettings = GenSettings(max_new_tokens=128),
              sandbox: SandboxConfig = SandboxConfig(), workers: int | None = None, journal: Path | None = None,
              progress: Advance = no_advance) -> dict[str, Any]:
    """Per FIM mode: generate the middles, then score them by exact match and by execution."""
    out: dict[str, Any] = {"settings": settings.to_dict()}
    for mode in modes:
        middles, stats = generate_infills(backend, tasks, fim_prompt, mode, settings, journal=journal,
                                          progress=progress)
        out[mode] = {"generation": stats, **score_infills(tasks, middles, sandbox=sandbox, workers=workers)}
    return out


def check_problems(problems: Sequence[Problem], *, sandbox: SandboxConfig = SandboxConfig(),
                   workers: int | None = None, progress: Advance = no_advance) -> list[dict[str, Any]]:
    """Run each problem's canonical solution: a sound problem set gives ``passed`` for every task."""
    runs = run_programs([p.program(p.canonical_solution) for p in problems], workers=workers, config=sandbox,
                        progress=progress)
    return [{"task_id": p.task_id, "outcome": r.outcome, "detail": r.detail, "returncode": r.returncode,
             "duration_s": r.duration_s} for p, r in zip(problems, runs)]


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value from the discordant pairs: ``b`` tasks only one side solved, ``c`` only the
    other. Under no difference each discordant task falls either way with probability ½: p = 2 · P(X ≤ min(b, c))
    for X ~ Binomial(b + c, ½), capped at 1."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got {b}, {c}")
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, i) for i in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2.0 * tail)


def paired(result: dict[str, Any], reference: dict[str, Any], alpha: float = 0.05) -> dict[str, Any] | None:
    """A build against the reference on the problems both ran: which it gains and loses, and whether that differs.

    With one sample per task this is McNemar's exact test. With several, a task counts as gained (lost) when the build
    passed more (fewer) of its samples than the reference did: the sign test on per-task pass rates, of which
    McNemar's is the one-sample case. ``change_pts`` is the pass@1 change over the common tasks, in points.
    """
    def rates(section: dict[str, Any]) -> dict[str, float]:
        return {t["task_id"]: t["passed"] / t["n"] for t in section.get("per_task", []) if t.get("n")}

    mine, ref = rates(result), rates(reference)
    common = sorted(mine.keys() & ref.keys())
    if not common:
        return None
    gained = [k for k in common if mine[k] > ref[k]]
    lost = [k for k in common if mine[k] < ref[k]]
    p = mcnemar_exact(len(gained), len(lost))
    change = sum(mine[k] - ref[k] for k in common) / len(common) * 100
    return {"method": "exact McNemar on discordant tasks" + (" (sign test on pass rates)" if any(
                t.get("n", 1) > 1 for t in result.get("per_task", [])) else ""),
            "tasks": len(common), "gained": gained, "lost": lost, "p": p, "change_pts": change,
            "significant": p < alpha, "alpha": alpha}


def agreement(result: dict[str, Any], reference: dict[str, Any]) -> float | None:
    """Share of the tasks both results ran whose outcome equals the reference's (e.g. a build's vs bf16's).

    Takes the dicts of ``score_completions``/``humaneval`` or one mode of ``score_infills``/``infilling``. Unlike
    pass@1 it still says something when a small model's pass@1 is near zero.
    """
    mine = {t["task_id"]: t["outcome"] for t in result.get("per_task", [])}
    ref = {t["task_id"]: t["outcome"] for t in reference.get("per_task", [])}
    common = mine.keys() & ref.keys()
    return sum(mine[k] == ref[k] for k in common) / len(common) if common else None


def _journal(ctx: MetricContext) -> Path | None:
    return ctx.journal.with_name(ctx.journal.name.replace("fim-", "functional-")) if ctx.journal else None


def _problems(ctx: MetricContext) -> list[Problem]:
    from kizami.calib_data.problems import load_problems

    return load_problems(ctx.config.problems)[: ctx.config.problems_limit or None]


def pass1(result: EvalResult) -> float | None:
    """HumanEval pass@1 (completion), or None when not measured."""
    return num(dig(result.section("humaneval"), "pass@1"))


def _pass1_drop(result: EvalResult, ref: EvalResult | None) -> float | None:
    mine, theirs = pass1(result), pass1(ref) if ref is not None else None
    if mine is None or theirs is None:
        return None
    return (theirs - mine) * 100


def _pass1_cell(result: EvalResult) -> str:
    """pass@1 with its 95 % interval: ``0.183 [0.13–0.25]``."""
    p1 = pass1(result)
    if p1 is None:
        return "—"
    iv = dig(result.section("humaneval"), "interval95")
    low, high = (float(iv["low"]), float(iv["high"])) if iv else (p1, p1)
    return f"{p1:.3f} [{low:.2f}–{high:.2f}]"


def _significant_drop(key: str) -> Callable[[EvalResult, EvalResult | None], float | None]:
    """The pass@1 drop in points where the paired test calls it one (p < alpha), else 0; None when not paired."""
    def value(result: EvalResult, _ref: EvalResult | None) -> float | None:
        test = (result.section(key) or {}).get("paired")
        if not test:
            return None
        return max(0.0, -test["change_pts"]) if test["significant"] and test["change_pts"] < 0 else 0.0
    return value


def paired_text(test: dict[str, Any] | None) -> str:
    """``+2 / −5, p 0.45``: problems gained and lost against bf16 and the paired test's p-value (``*`` below alpha)."""
    if not test:
        return "—"
    return f"+{len(test['gained'])} / −{len(test['lost'])}, p {test['p']:.2g}" + (" *" if test["significant"] else "")


def _pass_summary(label: str, section: dict[str, Any] | None) -> list[tuple[str, str]]:
    if not section:
        return []
    if "skipped" in section:
        return [(label, f"skipped: {section['skipped']}")]
    p1, iv = section.get("pass@1"), section.get("interval95") or {}
    rows = [(f"{label} pass@1", "—" if p1 is None else
             f"{p1:.3f} [{iv.get('low', p1):.2f}–{iv.get('high', p1):.2f}] ({section.get('tasks', 0)} tasks)")]
    rows += [(f"{label} pass@{k}", f"{v:.3f}") for k, v in (section.get("pass@k") or {}).items() if k != "1" and v is not None]
    if section.get("agreement") is not None:
        rows.append((f"{label} outcome = bf16", f"{section['agreement']:.0%}"))
    if section.get("paired"):
        rows.append((f"{label} vs bf16 (paired)", paired_text(section["paired"]) + (
            " — a significant change" if section["paired"]["significant"] else " — no significant change")))
    if (gen := section.get("generation")) and gen.get("tok_s"):
        rows.append((f"{label} generation", f"{gen['new_tokens']} tokens at {gen['tok_s']:.1f} tok/s, "
                                            f"{gen['ran_at_once']} at once"))
    return rows


class _Problems(Metric):
    """What the three share: a problem set, checked (and a file's path resolved) before anything runs."""

    def check(self, config: Any, base: Path) -> Any:
        from dataclasses import replace

        from kizami.calib_data.problems import load_problems

        path = Path(config.problems) if Path(config.problems).is_absolute() else base / config.problems
        if not path.exists():  # a built-in set's name (or a missing file, which load_problems names)
            load_problems(config.problems)
            return config
        load_problems(path.absolute())  # a bad problem file fails now, before any model loads
        return replace(config, problems=str(path.absolute()))


_LEGACY = {"problems": "problems", "problems_limit": "problems_limit", "sandbox_timeout_s": "sandbox_timeout_s"}


class HumanEval(_Problems):
    """Completion pass@k: the model completes each problem's prompt, the program runs in the sandbox."""

    name: ClassVar[str] = "humaneval"
    config_class: ClassVar[type[Any] | None] = HumanEvalSettings
    legacy: ClassVar[Mapping[str, str]] = {**_LEGACY, "humaneval_max_new_tokens": "max_new_tokens",
                                           "humaneval_samples": "samples", "humaneval_sampled": "sampled"}
    columns: ClassVar[tuple[str, ...]] = ("pass@1", "HE = bf16", "HE vs bf16")
    terminal: ClassVar[tuple[str, ...] | None] = ("pass@1",)
    gates: ClassVar[Mapping[str, Gate]] = {
        "max_pass1_drop_pts": Gate(_pass1_drop, doc="HumanEval pass@1 drop vs bf16, in percentage points"),
        "max_pass1_significant_drop_pts": Gate(
            _significant_drop("humaneval"),
            doc="HumanEval pass@1 drop vs bf16 in points, counted only where the paired test finds one (p < 0.05)")}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        problems, gen = _problems(ctx), ctx.config.generation()
        return humaneval(ctx.backend, problems, gen, sandbox=SandboxConfig(timeout_s=ctx.config.sandbox_timeout_s),
                         journal=_journal(ctx), progress=ctx.count("HumanEval completions", len(problems) * gen.samples))

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        return {**section, "agreement": agreement(section, reference), "paired": paired(section, reference)}

    def cells(self, result: EvalResult) -> list[str]:
        section = result.section("humaneval") or {}
        return [_pass1_cell(result), cell(num(dig(section, "agreement")), ".0%"),
                paired_text(section.get("paired")) if section.get("paired") else "—"]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        return _pass_summary("HumanEval", result.section("humaneval"))


class HumanEvalChat(_Problems):
    """The same problems asked through the source model's chat template; the answer's code block is run."""

    name: ClassVar[str] = "humaneval-chat"
    config_class: ClassVar[type[Any] | None] = HumanEvalSettings
    legacy: ClassVar[Mapping[str, str]] = HumanEval.legacy

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        from kizami.core.checkpoint import chat_template, render_chat

        ref_model = ctx.reference.meta.get("ref_model")
        template = chat_template(Path(ref_model)) if ref_model else ""
        if not template:
            return {"skipped": "the source model has no chat template"}
        problems, gen = _problems(ctx), ctx.config.generation()
        return humaneval_chat(ctx.backend, problems, lambda text: render_chat(template, [{"role": "user", "content": text}]),
                              gen, sandbox=SandboxConfig(timeout_s=ctx.config.sandbox_timeout_s), journal=_journal(ctx),
                              progress=ctx.count("HumanEval chat", len(problems) * gen.samples))

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        if "skipped" in section or "skipped" in reference:
            return section
        return {**section, "agreement": agreement(section, reference), "paired": paired(section, reference)}

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        return _pass_summary("HumanEval chat", result.section("humaneval_chat"))


class HumanEvalInfill(_Problems):
    """Execution-checked infilling: a span of each canonical solution removed, the middle generated and run."""

    name: ClassVar[str] = "humaneval-infill"
    config_class: ClassVar[type[Any] | None] = InfillSettings
    legacy: ClassVar[Mapping[str, str]] = {**_LEGACY, "infill_limit": "limit"}

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        from kizami.calib_data.problems import InfillConfig, make_infill_tasks
        from kizami.runtime.metrics.parity import fim_prompter

        if not ctx.backend.caps.fim or ctx.dialect is None:
            return {"skipped": "no FIM tokens"}
        tasks, per_kind = [], Counter[str]()
        for task in make_infill_tasks(_problems(ctx), InfillConfig()):
            per_kind[task.kind] += 1
            if not ctx.config.limit or per_kind[task.kind] <= ctx.config.limit:
                tasks.append(task)
        modes = [m for m in ctx.settings.fim_modes if m in ctx.dialect.modes]
        return infilling(ctx.backend, tasks, fim_prompter(ctx.backend, ctx.dialect), modes=modes,
                         settings=GenSettings(max_new_tokens=ctx.config.max_new_tokens),
                         sandbox=SandboxConfig(timeout_s=ctx.config.sandbox_timeout_s), journal=_journal(ctx),
                         progress=ctx.count("HumanEval infilling", len(tasks) * len(modes)))

    def compare(self, section: dict[str, Any], reference: dict[str, Any]) -> dict[str, Any]:
        if "skipped" in section or "skipped" in reference:
            return section
        return {**section, **{mode: {**section[mode], "agreement": agreement(section[mode], reference[mode]),
                                     "paired": paired(section[mode], reference[mode])}
                              for mode in ("psm", "spm") if mode in section and mode in reference}}

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        section = result.section("humaneval_infill") or {}
        if "skipped" in section:
            return [("HumanEval infilling", f"skipped: {section['skipped']}")]
        return [row for mode in ("psm", "spm") if mode in section
                for row in [(f"infilling {mode.upper()} exact match", f"{section[mode].get('exact_match') or 0:.3f}"),
                            *_pass_summary(f"infilling {mode.upper()}", section[mode])[:1]]]


HUMANEVAL, HUMANEVAL_CHAT, HUMANEVAL_INFILL = HumanEval(), HumanEvalChat(), HumanEvalInfill()
