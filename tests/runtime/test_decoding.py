"""The batched decoding loop (runtime/decoding.py) against a scripted engine: order, stop rules, refill, retries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from kizami.runtime.backend import GenRequest
from kizami.runtime.decoding import BatchRetry, auto_batch_size, run_generation, run_generations

V = 16


def _next(tok: int) -> np.ndarray:
    """A bigram engine: after token t the most likely token is t + 1 (mod V), then t + 2."""
    logits = np.full(V, -5.0)
    logits[(tok + 1) % V], logits[(tok + 2) % V] = 2.0, 1.0
    return logits


class CountingDecoder:
    """Slots over the bigram engine; records every call so the tests see how the loop batches."""

    def __init__(self, capacity: int, continuous: bool, fail_above: int = 0) -> None:
        self.capacity, self.continuous, self.fail_above = capacity, continuous, fail_above
        self.last: dict[int, int] = {}
        self.calls: list[tuple[str, int]] = []  # (kind, how many sequences)

    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        assert set(prompts).isdisjoint(self.last), "a slot was reused before its release"
        if not self.continuous:
            assert not self.last, "a static batch was refilled while it ran"
        self.calls.append(("prefill", len(prompts)))
        self.last |= {s: p[-1] for s, p in prompts.items()}
        return {s: _next(p[-1]) for s, p in prompts.items()}

    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        if self.fail_above and len(self.last) > self.fail_above:
            raise BatchRetry(f"{len(self.last)} sequences do not fit")
        assert set(tokens) == set(self.last), "a running slot was skipped, or a released one fed"
        self.calls.append(("decode", len(tokens)))
        self.last |= dict(tokens)
        return {s: _next(t) for s, t in tokens.items()}

    def release(self, slot: int) -> None:
        del self.last[slot]


def _decode(ids: list[int]) -> str:
    return "".join(chr(97 + i) for i in ids)


def _reqs() -> list[GenRequest]:
    return [GenRequest(prompt=[i], max_new_tokens=2 + i % 5, stop_ids=(9,)) for i in range(10)]


def _one_by_one(reqs: list[GenRequest]) -> list[list[int]]:
    return [run_generation(r, start=lambda p: _next(p[-1]), step=_next, decode=_decode, stop_ids=()).ids for r in reqs]


@pytest.mark.parametrize("continuous", [True, False])
def test_batches_give_batch_one_answers_in_order(continuous: bool) -> None:
    reqs = _reqs()
    made: list[CountingDecoder] = []

    def decoder_for(n: int) -> CountingDecoder:
        made.append(CountingDecoder(n, continuous))
        return made[-1]

    gens = run_generations(reqs, decoder_for, 4, decode=_decode, stop_ids=())
    assert [g.ids for g in gens] == _one_by_one(reqs)
    assert [g.ids for g in gens][3] == [4, 5, 6, 7, 8] and gens[3].stop_reason == "length"
    assert gens[7].ids == [8] and gens[7].stop_reason == "eos"  # 8 -> 9 is a stop id of the request
    assert max(n for _kind, n in made[0].calls) == 4 and not made[0].last  # every slot released at the end
    prefills = [n for kind, n in made[0].calls if kind == "prefill"]
    if continuous:
        assert len(prefills) > 3  # freed slots took new prompts one by one
    else:
        assert prefills == [4, 4, 2]  # whole batches only


def test_a_batch_that_does_not_fit_is_split_not_a_crash() -> None:
    reqs = _reqs()
    sizes: list[int] = []

    def decoder_for(n: int) -> CountingDecoder:
        sizes.append(n)
        return CountingDecoder(n, True, fail_above=3)

    gens = run_generations(reqs, decoder_for, 8, decode=_decode, stop_ids=())
    assert sizes == [8, 4, 2] and [g.ids for g in gens] == _one_by_one(reqs)


def test_sampling_depends_on_the_seed_not_on_the_batch() -> None:
    reqs = [GenRequest(prompt=[i % 3], max_new_tokens=6, temperature=1.5, seed=100 + i) for i in range(9)]
    alone = [run_generations([r], lambda n: CountingDecoder(n, True), 1, decode=_decode, stop_ids=())[0].ids for r in reqs]
    together = [g.ids for g in run_generations(reqs, lambda n: CountingDecoder(n, False), 9, decode=_decode, stop_ids=())]
    assert together == alone and len({tuple(a) for a in alone}) > 3  # sampled, and each draw its own


def test_stop_strings_and_ignore_stops_hold_per_sequence() -> None:
    reqs = [GenRequest(prompt=[0], max_new_tokens=8, stop_strings=("d",)),
            GenRequest(prompt=[7], max_new_tokens=4, stop_ids=(9,), ignore_stops=True)]
    a, b = run_generations(reqs, lambda n: CountingDecoder(n, False), 2, decode=_decode, stop_ids=(9,))
    assert (a.text, a.stop_reason) == ("bc", "stop-string")
    assert b.ids == [8, 9, 10, 11] and b.stop_reason == "length"


def test_auto_batch_size_fits_the_free_memory() -> None:
    gib = 1 << 30
    assert auto_batch_size(0, gib, 64 * gib, 100) == 16  # automatic: up to 16
    assert auto_batch_size(0, gib, 8 * gib, 100) == 4  # half the free memory
    assert auto_batch_size(32, gib, 8 * gib, 100) == 4  # asked for more than fits: split
    assert auto_batch_size(8, gib, 64 * gib, 3) == 3  # never more than there is work
    assert auto_batch_size(0, 64 * gib, 8 * gib, 10) == 1


def test_progress_moves_with_each_finished_sequence_inside_one_generate_call(monkeypatch) -> None:
    """A chunk of many sequences is one ``generate`` call; the progress line must not stand still until it returns."""
    from kizami.core.progress import counter
    from kizami.runtime import generation
    from kizami.runtime.generation import Job, generate_all

    class LoopBackend:  # any engine on the shared loop: here the bigram engine, 4 sequences at a time
        def generate(self, reqs: Sequence[GenRequest]):
            return run_generations(reqs, lambda n: CountingDecoder(n, continuous=True), 4, decode=_decode, stop_ids=())

    seen: list[tuple[str, int, int]] = []
    monkeypatch.setattr("kizami.core.progress.NOTE_EVERY_S", 0.0)  # every token-note update shows (the default is 10 s)
    reqs = _reqs()
    texts, stats = generate_all(LoopBackend(), [Job(("m", i, "t"), r) for i, r in enumerate(reqs)],
                                progress=counter(lambda *e: seen.append(e), "gen", len(reqs)))
    assert generation.CHUNK >= len(reqs)  # so all of them went through one generate call
    done = [d for _, d, _ in seen]
    assert done[0] == 0 and done[-1] == len(reqs) and done == sorted(done)
    assert len(set(done)) > 3  # counted as sequences finished, not once at the chunk's end
    assert any("tokens" in m and "tok/s" in m for m, _, _ in seen[1:])
    assert stats["new_tokens"] == sum(len(t or "") for t in texts) > len(reqs)  # one letter a token
