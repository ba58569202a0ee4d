"""Functional correctness: the scorer is exact (canonical solutions 1.000, empty or wrong 0), pass@k and the interval
match hand-computed values, and generation goes through the Backend protocol with HumanEval's settings."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import pytest

from kizami.calib_data.problems import InfillConfig, Problem, load_problems, make_infill_tasks
from kizami.runtime.backend import Caps, Generation, GenRequest
from kizami.runtime.metrics.functional import (
    STOP_SEQUENCES,
    GenSettings,
    agreement,
    generate_completions,
    humaneval,
    infilling,
    mcnemar_exact,
    paired,
    pass_at_k,
    score_completions,
    score_infills,
    wilson_interval,
)
from kizami.runtime.sandbox import SandboxConfig

ADD = Problem(task_id="t/add", prompt="def add(a, b):\n    \"\"\"Add two numbers.\"\"\"\n",
              canonical_solution="    return a + b\n",
              test="def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(-1, 1) == 0\n",
              entry_point="add")
SUB = Problem(task_id="t/sub", prompt="def sub(a, b):\n", canonical_solution="    d = a - b\n    return d\n",
              test="def check(candidate):\n    assert candidate(3, 2) == 1\n", entry_point="sub")
FAST = SandboxConfig(timeout_s=1.0)


class ScriptedBackend:
    """Returns queued texts in order and records every request (a deterministic stand-in for any engine)."""

    name = "scripted"
    caps = Caps(full_logits=False, fim=True)

    def __init__(self, texts: Sequence[str], *, bos: int | None = 1, fail_after: int | None = None) -> None:
        self.texts, self.bos, self.fail_after = list(texts), bos, fail_after
        self.requests: list[GenRequest] = []

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) for c in t] for t in texts]

    def token_id(self, token: str) -> int | None:
        return self.bos if token == "<|begin_of_text|>" else None

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        if self.fail_after is not None and len(self.requests) >= self.fail_after:
            raise KeyboardInterrupt  # an interrupted pass
        self.requests += reqs
        return [Generation([7] * 3, self.texts.pop(0), "stop-string", 0.01, 0.02) for _ in reqs]


def test_pass_at_k_matches_hand_computed_values() -> None:
    assert pass_at_k(5, 2, 1) == pytest.approx(0.4)
    assert pass_at_k(5, 2, 2) == pytest.approx(1 - 3 / 10)  # 1 - C(3,2)/C(5,2)
    assert pass_at_k(5, 0, 3) == 0.0 and pass_at_k(5, 5, 1) == 1.0 and pass_at_k(5, 3, 3) == 1.0
    exact = 1 - math.comb(200 - 13, 100) / math.comb(200, 100)
    assert pass_at_k(200, 13, 100) == pytest.approx(exact, rel=1e-12)
    with pytest.raises(ValueError):
        pass_at_k(3, 4, 1)


def test_wilson_interval_matches_known_values() -> None:
    low, high = wilson_interval(5, 10)
    assert (round(low, 4), round(high, 4)) == (0.2366, 0.7634)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 10)[1] == pytest.approx(0.2775, abs=1e-4)
    assert wilson_interval(164, 164)[1] == 1.0 and wilson_interval(164, 164)[0] == pytest.approx(0.9771, abs=1e-4)


def test_mcnemar_exact_matches_hand_computed_values() -> None:
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 0) == pytest.approx(2 / 32)  # 5 discordant, all one way: 2 · (1/2)^5
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)
    assert mcnemar_exact(1, 4) == pytest.approx(2 * (1 + 5) / 32)  # 2 · P(X <= 1), X ~ B(5, 1/2)
    assert mcnemar_exact(3, 3) == 1.0  # capped
    assert mcnemar_exact(2, 12) == pytest.approx(2 * (1 + 14 + 91) / 2**14)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 2)


def _outcomes(passed: dict[str, int], n: int = 1) -> dict:
    return {"per_task": [{"task_id": k, "passed": v, "n": n} for k, v in passed.items()]}


def test_paired_names_the_problems_gained_and_lost_and_tests_only_the_discordant_ones() -> None:
    ref = _outcomes({f"t{i}": int(i < 20) for i in range(40)})  # bf16 solves t0..t19
    build = _outcomes({f"t{i}": int(2 <= i < 20 or i == 30) for i in range(40)})  # loses t0, t1; gains t30
    test = paired(build, ref)
    assert test is not None
    assert test["lost"] == ["t0", "t1"] and test["gained"] == ["t30"] and test["tasks"] == 40
    assert test["p"] == pytest.approx(1.0) and not test["significant"]  # 1 against 2: nothing to see
    assert test["change_pts"] == pytest.approx(-2.5)
    worse = _outcomes({f"t{i}": int(10 <= i < 20) for i in range(40)})  # loses 10 problems, gains none
    test = paired(worse, ref)
    assert test["p"] == pytest.approx(2 / 1024) and test["significant"]
    # several samples per problem: a sign test on the per-problem pass rates; only common problems count
    sampled = paired(_outcomes({"a": 3, "b": 10, "c": 5}, n=10), _outcomes({"a": 5, "b": 10, "z": 1}, n=10))
    assert sampled["lost"] == ["a"] and sampled["gained"] == [] and sampled["tasks"] == 2 and "sign test" in sampled["method"]
    assert paired(_outcomes({"a": 1}), _outcomes({"b": 1})) is None


def test_japanese_instructed_humaneval_keeps_every_canonical_solution_passing() -> None:
    english, japanese = load_problems("humaneval"), load_problems("humaneval-ja")
    assert [p.task_id for p in japanese] == [p.task_id for p in english]
    # only the natural language changed: the tests and solutions are the package's own, the prompts are translated
    assert all(j.test == e.test and j.canonical_solution == e.canonical_solution for j, e in zip(japanese, english))
    translated = [j for j, e in zip(japanese, english) if j.prompt != e.prompt]
    assert len(translated) == 164
    assert sum(any("\u3040" <= ch <= "\u30ff" or "\u4e00" <= ch <= "\u9fff" for ch in j.prompt) for j in japanese) == 164
    ok = score_completions(japanese, [[p.canonical_solution] for p in japanese], workers=2)
    assert ok["pass@1"] == 1.0, [t["task_id"] for t in ok["per_task"] if t["passed"] == 0]


def test_canonical_solutions_score_one_and_empty_or_wrong_completions_zero() -> None:
    probs = load_problems("humaneval")
    ok = score_completions(probs, [[p.canonical_solution] for p in probs], workers=2)
    assert ok["pass@1"] == 1.0 and ok["outcomes"]["passed"] == 164, [t for t in ok["per_task"] if t["passed"] == 0]
    bad = score_completions(probs, [["", "    return None\n"][i % 2:i % 2 + 1] for i in range(len(probs))], workers=2)
    assert bad["pass@1"] == 0.0, [t["task_id"] for t in bad["per_task"] if t["passed"]]
    assert agreement(bad, ok) == 0.0 and agreement(ok, ok) == 1.0
    tasks = make_infill_tasks(probs, InfillConfig(seed=1))
    fill = score_infills(tasks, [t.middle for t in tasks], workers=2)
    assert fill["pass@1"] == 1.0 and fill["exact_match"] == 1.0 and fill["tasks"] == len(tasks)
    assert set(fill["by_kind"]) == {"single-line", "multi-line", "random-span"}


def test_greedy_completion_uses_humanevals_stops_and_is_scored() -> None:
    backend = ScriptedBackend(["    return a + b\n\ndef extra():\n    pass", "    return a + b\n"])
    res = humaneval(backend, [ADD, SUB], sandbox=FAST, workers=2)
    req = backend.requests[0]
    assert tuple(req.stop_strings) == STOP_SEQUENCES and req.temperature == 0.0 and req.max_new_tokens == 512
    assert list(req.prompt) == [1] + [ord(c) for c in ADD.prompt]  # BOS, then the prompt
    assert res["per_task"][0]["completions"] == ["    return a + b\n"]  # cut at "\ndef" even if the backend did not
    assert [t["outcome"] for t in res["per_task"]] == ["passed", "failed"]
    assert res["pass@1"] == 0.5 and res["pass@k"] == {"1": 0.5}
    assert res["interval95"]["method"].startswith("wilson") and res["interval95"]["low"] < 0.5 < res["interval95"]["high"]
    assert res["generation"]["generated"] == 2 and res["generation"]["new_tokens"] == 6
    json.dumps(res)  # plain JSON


def test_sampled_completions_use_the_model_cards_setting_with_stable_seeds() -> None:
    settings = GenSettings(sampled=True, samples=3, seed=5)
    backend = ScriptedBackend(["    return a + b\n", "    return a * b\n", "    return b + a\n"] * 2)
    comps, _ = generate_completions(backend, [ADD, SUB], settings)
    reqs = backend.requests
    assert {(r.temperature, r.top_p) for r in reqs} == {(0.2, 0.95)}
    assert len({r.seed for r in reqs}) == 6
    again = ScriptedBackend(["x"] * 3)
    generate_completions(again, [SUB], settings)  # a subset draws the same seeds for the task it keeps
    assert [r.seed for r in again.requests] == [r.seed for r in reqs[3:]]
    res = score_completions([ADD, SUB], comps, ks=(1, 2, 3, 10), sandbox=FAST, workers=2)
    assert res["per_task"][0]["passed"] == 2 and res["per_task"][0]["n"] == 3
    assert res["pass@1"] == pytest.approx((2 / 3 + 0) / 2)
    assert res["pass@k"]["2"] == pytest.approx((1 - 0 / 3 + 0) / 2) and "10" not in res["pass@k"]
    with pytest.raises(ValueError, match="greedy"):
        GenSettings(samples=3)


def test_an_interrupted_generation_pass_resumes_from_its_journal(tmp_path: Path, monkeypatch) -> None:
    from kizami.runtime import generation

    monkeypatch.setattr(generation, "CHUNK", 1)  # one request per generate call: the interrupt falls between them
    journal = tmp_path / "gen.jsonl"
    texts = ["    return a + b\n", "    return a - b\n"]
    with pytest.raises(KeyboardInterrupt):
        generate_completions(ScriptedBackend(texts, fail_after=1), [ADD, SUB], journal=journal)
    assert len(journal.read_text().splitlines()) == 1
    backend = ScriptedBackend(texts[1:])
    comps, stats = generate_completions(backend, [ADD, SUB], journal=journal)
    assert comps == [[texts[0]], [texts[1]]] and len(backend.requests) == 1
    assert stats["from_journal"] == 1 and stats["generated"] == 1


def test_too_long_prompts_are_listed_not_scored() -> None:
    settings = GenSettings(max_new_tokens=8, max_context=len(SUB.prompt) + 9)
    comps, _ = generate_completions(ScriptedBackend([SUB.canonical_solution]), [ADD, SUB], settings)
    assert comps[0] is None
    res = score_completions([ADD, SUB], comps, sandbox=FAST)
    assert res["too_long"] == ["t/add"] and res["tasks"] == 1 and res["pass@1"] == 1.0


def test_infilling_scores_exact_match_and_execution_per_mode() -> None:
    tasks = make_infill_tasks([SUB], InfillConfig(kinds=("single-line", "multi-line")))
    assert [t.kind for t in tasks] == ["single-line", "multi-line"]
    seen: list[tuple[str, str, str]] = []

    def fim_prompt(prefix: str, suffix: str, mode: str) -> list[int]:
        seen.append((prefix, suffix, mode))
        return [9, len(prefix), len(suffix)]

    multi_equivalent = "    d = -(b - a)\n    return d"  # different text, same behaviour
    backend = ScriptedBackend([tasks[0].middle, multi_equivalent, "    d = a + b", "    return e"])
    res = infilling(backend, tasks, fim_prompt, sandbox=FAST, workers=2)
    assert [m for _, _, m in seen] == ["psm", "psm", "spm", "spm"]
    assert seen[0][:2] == (tasks[0].prefix, tasks[0].suffix)
    assert tuple(backend.requests[0].stop_strings) == ("\n",) and tuple(backend.requests[1].stop_strings) == ()
    assert backend.requests[0].max_new_tokens == 128
    psm, spm = res["psm"], res["spm"]
    assert [(t["match"], t["outcome"]) for t in psm["per_task"]] == [(True, "passed"), (False, "passed")]
    assert psm["exact_match"] == 0.5 and psm["pass@1"] == 1.0
    assert [(t["match"], t["outcome"]) for t in spm["per_task"]] == [(False, "failed"), (False, "error")]
    assert spm["pass@1"] == 0.0 and spm["by_kind"]["multi-line"] == {"tasks": 1, "exact_match": 0.0, "pass@1": 0.0}
    assert agreement(spm, psm) == 0.0
    json.dumps(res)


def test_chat_answers_are_extracted_and_run_with_the_prompt_in_front() -> None:
    from kizami.runtime.metrics.functional import CHAT_INSTRUCTION, extract_code, humaneval_chat

    assert extract_code("Sure:\n```python\ndef f():\n    return 1\n```\nDone.") == "\ndef f():\n    return 1\n"
    assert extract_code("```py\nx = 1\n") == "\nx = 1\n"  # an answer cut at the length limit
    answers = ["Here it is:\n```python\ndef add(a, b):\n    return a + b\n```", "I cannot do that."]
    backend = ScriptedBackend(answers)
    rendered: list[str] = []
    res = humaneval_chat(backend, [ADD, SUB], lambda t: rendered.append(t) or f"<user>{t}</user>",
                         sandbox=FAST, workers=2)
    assert rendered[0] == CHAT_INSTRUCTION.format(prompt=ADD.prompt)
    assert backend.requests[0].prompt == [ord(c) for c in f"<user>{rendered[0]}</user>"]
    assert backend.requests[0].stop_strings == ()  # the turn ends at the model's end-of-turn token
    assert [t["outcome"] for t in res["per_task"]] == ["passed", "error"] and res["pass@1"] == 0.5
