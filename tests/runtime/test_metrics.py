"""Metrics against hand-computed values, on the deterministic FakeBackend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from kizami.calib_data.fim import FimTask
from kizami.runtime.decoding import first_stop, pick_token
from kizami.runtime.metrics.fim import fim_exact_match
from kizami.runtime.metrics.quality import kl_with_tail, quality
from kizami.runtime.reference import Reference, plan_windows
from tests.fakes import FakeBackend, random_logp


@pytest.mark.parametrize(("n", "ctx", "stride"), [(1000, 64, 32), (65, 64, 63), (10, 64, 16), (513, 128, 1)])
def test_windows_score_every_token_once(n: int, ctx: int, stride: int) -> None:
    scored = []
    for w in plan_windows(n, ctx, stride):
        assert w.end - w.start <= ctx
        rows = w.rows()
        scored.extend(range(w.start + 1 + rows.start, w.start + 1 + rows.stop))
        if w.start > 0:  # later windows keep at least ctx - stride tokens of context
            assert w.score_from - w.start >= ctx - stride
    assert scored == list(range(1, n))


def test_kl_with_tail_equals_exact_kl_when_k_covers_vocab() -> None:
    p, q = random_logp(50, 1)[:7], random_logp(50, 2)[:7]
    exact = np.sum(np.exp(p) * (p - q), axis=1)
    kl, tail = kl_with_tail(p, q)
    np.testing.assert_allclose(kl, exact, rtol=1e-6, atol=1e-9)
    assert np.all(tail < 1e-6)


def test_kl_with_tail_is_a_lower_bound_within_the_stated_gap() -> None:
    p, q = random_logp(50, 3, 1.0)[:9], random_logp(50, 4, 1.0)[:9]
    exact = np.sum(np.exp(p) * (p - q), axis=1)
    k = 8
    order = np.argsort(-p, axis=1)[:, :k]
    approx, p_tail = kl_with_tail(np.take_along_axis(p, order, 1), np.take_along_axis(q, order, 1))
    assert np.all(approx <= exact + 1e-9)
    assert np.all(p_tail > 0.05)  # the tail matters here, so the bound is being exercised
    # the gap is exactly p_tail * KL of the renormalized tails
    mask = np.ones_like(p, dtype=bool)
    np.put_along_axis(mask, order, False, 1)
    pt = np.where(mask, np.exp(p), 0)
    qt = np.where(mask, np.exp(q), 0)
    gap = np.sum(np.where(mask, pt * (np.log(np.where(mask, pt, 1) / pt.sum(1, keepdims=True))
                                      - np.log(np.where(mask, qt, 1) / qt.sum(1, keepdims=True))), 0), axis=1)
    np.testing.assert_allclose(exact - approx, gap, rtol=1e-6, atol=1e-9)


def _reference(backend: FakeBackend, n: int = 300) -> Reference:
    stream = (np.arange(n) * 7 + 3) % backend.logp.shape[0]
    return Reference.build(backend, {"code": "x"}, {"code": stream.tolist()}, [], {}, ctx=32, stride=16, top_k=40)


def test_quality_of_reference_against_itself_is_exact() -> None:
    fake = FakeBackend(random_logp(40, 5))
    ref = _reference(fake)
    q = quality(fake, ref)
    assert q["kld"]["all"]["max"] < 1e-6
    assert q["top1"]["all"] == 1.0
    assert q["ppl_ratio"]["code"] == pytest.approx(1.0, rel=1e-6)
    stream = ref.domains["code"].stream
    expected = np.exp(-np.mean(fake.logp[stream[:-1], stream[1:]]))
    assert q["ppl"]["code"] == pytest.approx(expected, rel=1e-5)


def test_the_reference_row_reuses_the_reference_pass_with_the_numbers_a_rescoring_gives() -> None:
    from kizami.runtime.metrics.quality import is_reference, of_reference

    fake = FakeBackend(random_logp(40, 5))
    ref = _reference(fake, n=600)
    scored, reused = quality(fake, ref), of_reference(ref)
    assert reused["from_reference"] and "from_reference" not in scored
    for domain in ref.domains:
        assert reused["ppl"][domain] == pytest.approx(scored["ppl"][domain], rel=1e-6)
        assert reused["ref_tail_mass"][domain] == pytest.approx(scored["ref_tail_mass"][domain], abs=1e-6)
    assert reused["kld"]["all"]["mean"] == 0.0 and scored["kld"]["all"]["max"] < 1e-6
    assert reused["top1"] == scored["top1"] and reused["positions"] == scored["positions"]
    # only the reference model itself, opened as the reference pass opened it, qualifies
    ref.meta.update(ref_model="/models/m", dtype="torch.bfloat16")
    fake.dtype = "torch.bfloat16"  # type: ignore[attr-defined]
    assert is_reference(Path("/models/m"), fake, ref)
    assert not is_reference(Path("/models/m-gguf"), fake, ref)
    fake.dtype = "torch.float32"  # type: ignore[attr-defined]
    assert not is_reference(Path("/models/m"), fake, ref)


def test_quality_kld_matches_hand_computed_value() -> None:
    ref_fake, cand = FakeBackend(random_logp(40, 6)), FakeBackend(random_logp(40, 7))
    ref = _reference(ref_fake)
    q = quality(cand, ref)
    stream = ref.domains["code"].stream
    p, c = ref_fake.logp[stream[:-1]], cand.logp[stream[:-1]]
    exact = np.sum(np.exp(p) * (p - c), axis=1)  # top_k == vocab, so the tail is empty
    assert q["kld"]["all"]["mean"] == pytest.approx(exact.mean(), rel=1e-4)
    assert q["top1"]["all"] == pytest.approx(np.mean(p.argmax(1) == c.argmax(1)))


def test_fim_prompts_follow_the_model_card() -> None:
    from kizami.core.fim_dialects import get

    llama3 = get("llama3-fim")
    assert llama3.template("psm") == "<|fim_prefix|><|begin_of_text|>{prefix}<|fim_suffix|>{suffix}<|fim_middle|>"
    assert llama3.template("spm") == "<|fim_prefix|><|fim_suffix|>{suffix}<|fim_middle|><|begin_of_text|>{prefix}"
    assert llama3.drop_suffix_newline


def test_fim_exact_match_counts_strip_equality_per_language() -> None:
    tasks = [FimTask("a", "python", "p", "s", "x = 1"), FimTask("b", "python", "p", "s", "y = 2"),
             FimTask("c", "go", "p", "s", "z := 3", "ja-comment")]
    fake = FakeBackend(random_logp(10, 0))
    fake.enqueue(["  x = 1  ", "y = 3", "z := 3"])
    res = fim_exact_match(fake, tasks, {"psm": [[1], [1], [1]]})
    assert res["psm"]["em"] == pytest.approx(2 / 3)
    assert res["psm"]["by_language"] == {"go": 1.0, "python": 0.5}
    assert res["psm"]["by_kind"] == {"code": 0.5, "ja-comment": 1.0}


class _Crash(Exception):
    pass


def test_fim_journal_resumes_after_a_crash_losing_only_the_chunk_in_flight(tmp_path, monkeypatch) -> None:
    from kizami.runtime import generation

    monkeypatch.setattr(generation, "CHUNK", 4)  # 24 completions in 6 generate calls
    tasks = [FimTask(f"t{i}", "python", "p", "s", "ab") for i in range(12)]
    prompts = {"psm": [[i % 10, 3] for i in range(12)], "spm": [[3, i % 10] for i in range(12)]}
    whole = fim_exact_match(FakeBackend(random_logp(10, 1)), tasks, prompts)

    class Dying(FakeBackend):
        """Generates normally, then dies (as a killed process would) on call number ``die_at``."""

        def __init__(self, die_at: int) -> None:
            super().__init__(random_logp(10, 1))
            self.calls, self.asked, self.die_at = 0, 0, die_at

        def generate(self, reqs):
            self.calls += 1
            if self.calls == self.die_at:
                raise _Crash
            self.asked += len(reqs)
            return super().generate(reqs)

    journal = tmp_path / "fim.jsonl"
    with pytest.raises(_Crash):
        fim_exact_match(Dying(die_at=5), tasks, prompts, journal=journal)  # dies in spm, on tasks 4-7
    with open(journal, "a") as fh:
        fh.write('{"mode": "spm", "i": 4, "name": "t4", "gen')  # torn line: killed mid-write
    resumed = Dying(die_at=0)
    again = fim_exact_match(resumed, tasks, prompts, journal=journal)
    assert resumed.asked == 24 - 16  # only the chunk in flight and those after it were generated again
    assert again["generation"]["from_journal"] == 16 and whole["generation"]["generated"] == 24
    assert {k: v for k, v in again.items() if k != "generation"} == {k: v for k, v in whole.items() if k != "generation"}


def test_fim_without_fim_tokens_is_skipped_not_crashed() -> None:
    res = fim_exact_match(FakeBackend(random_logp(10, 0), fim=False), [FimTask("a", "py", "p", "s", "x")], {"psm": [[1]]})
    assert res == {"skipped": "no FIM tokens"}


def test_generation_stops_at_stop_string_and_length() -> None:
    from kizami.runtime.backend import GenRequest

    logp = np.full((26, 26), -10.0)
    for i in range(26):
        logp[i, (i + 1) % 26] = 0.0  # a -> b -> c ...
    fake = FakeBackend(logp)
    (g,) = fake.generate([GenRequest(prompt=[0], max_new_tokens=10, stop_strings=("e",))])
    assert (g.text, g.stop_reason) == ("bcd", "stop-string")
    (g,) = fake.generate([GenRequest(prompt=[0], max_new_tokens=3)])
    assert (g.text, g.stop_reason, len(g.ids)) == ("bcd", "length", 3)


def test_sampling_is_seeded_and_top_p_keeps_the_head() -> None:
    logits = np.log(np.array([0.5, 0.3, 0.15, 0.05]))
    draws = {pick_token(logits, 1.0, 0.7, np.random.default_rng(s)) for s in range(200)}
    assert draws == {0, 1}  # 0.5 + 0.3 reaches 0.7; tokens 2 and 3 are cut
    a = [pick_token(logits, 0.2, 0.95, np.random.default_rng(7)) for _ in range(5)]
    b = [pick_token(logits, 0.2, 0.95, np.random.default_rng(7)) for _ in range(5)]
    assert a == b
    assert pick_token(logits, 0.0, 1.0, np.random.default_rng(0)) == 0
    assert first_stop("ab\ncd", ["\n", "c"]) == 2
