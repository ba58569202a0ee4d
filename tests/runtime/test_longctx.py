"""Long-context checks against the deterministic fake: bucket means and retrieval accuracy computed by hand."""

from __future__ import annotations

import re

import numpy as np
import pytest

from kizami.core.errors import KizamiError
from kizami.runtime.metrics.longctx import LongCtxSettings, key_retrieval, loss_by_context
from tests.fakes import FakeBackend


def _fake(vocab: int = 16, seed: int = 0) -> FakeBackend:
    logits = np.random.default_rng(seed).normal(size=(vocab, vocab))
    return FakeBackend(logits - np.log(np.exp(logits).sum(1, keepdims=True)))


def test_loss_by_context_averages_each_position_once() -> None:
    fake = _fake()
    stream = np.random.default_rng(1).integers(0, 16, 64).tolist()
    out = loss_by_context(fake, stream, (16, 32, 64))
    nll = -fake.logp[np.asarray(stream[:-1]), np.asarray(stream[1:])]  # row i: token i+1
    assert [b["from"] for b in out["buckets"]] == [1, 16, 32] and [b["to"] for b in out["buckets"]] == [16, 32, 64]
    assert out["buckets"][0]["nll"] == pytest.approx(nll[0:15].mean(), rel=1e-6)
    assert out["buckets"][2]["nll"] == pytest.approx(nll[31:63].mean(), rel=1e-6)
    with pytest.raises(KizamiError, match="needs 128 tokens"):
        loss_by_context(fake, stream, (64, 128))


def test_key_retrieval_counts_only_the_planted_value() -> None:
    settings = LongCtxSettings(lengths=(16,), retrieval_lengths=(64,), depths=(0.0, 1.0), trials=2)
    fake = _fake()
    # the fake cannot read: answer with the value planted in the last prompt it was given, or a wrong one
    prompts: list[str] = []
    fake.tokenize = lambda texts: (prompts.extend(texts), [[1] * 8 for _ in texts])[1]  # type: ignore[method-assign]
    answers = iter([True, False, True, True])

    def generate(reqs):  # noqa: ANN001, ANN202
        value = re.search(r"return (\d+)", prompts[-1]).group(1)  # type: ignore[union-attr]
        fake.enqueue([f" {value}" if next(answers) else " 12"])
        return FakeBackend.generate(fake, reqs)

    fake.generate = generate  # type: ignore[method-assign]
    out = key_retrieval(fake, "x = 1\ny = 2\n", settings)
    assert out["accuracy"] == 0.75 and out["by_cell"] == {"64@0": 0.5, "64@1": 1.0}
    assert all(t["prompt_tokens"] == 8 for t in out["trials"])


def test_settings_refuse_bad_lengths_and_depths() -> None:
    with pytest.raises(KizamiError, match="must rise"):
        LongCtxSettings(lengths=(2048, 1024))
    with pytest.raises(KizamiError, match="depths"):
        LongCtxSettings(depths=(1.5,))
