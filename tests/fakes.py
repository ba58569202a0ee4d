"""A deterministic fake Backend for checking metrics against hand-computed values."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from kizami.runtime.backend import Caps, Generation, GenRequest, TokenScores
from kizami.runtime.decoding import run_generation


class FakeBackend:
    """Next-token log-probs come from a fixed table ``logp[prev_token]`` (a bigram model); generations are scripted
    with ``enqueue`` or, if nothing is queued, decoded greedily from the table."""

    name = "fake"

    def __init__(self, logp: np.ndarray, *, fim: bool = True, vocab: dict[str, int] | None = None) -> None:
        self.logp = logp.astype(np.float32)
        self.caps = Caps(full_logits=True, fim=fim)
        self.vocab = vocab or {}
        self.queue: list[str] = []
        self.threads = 1

    def enqueue(self, texts: Sequence[str]) -> None:
        self.queue.extend(texts)

    def token_id(self, token: str) -> int | None:
        return self.vocab.get(token)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [[ord(c) % self.logp.shape[0] for c in t] for t in texts]

    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: np.ndarray | None = None) -> TokenScores:
        rows = self.logp[np.asarray(ids[:-1])]
        target = rows[np.arange(len(rows)), np.asarray(ids[1:])]
        kw = {}
        if top_k:
            order = np.argsort(-rows, axis=1, kind="stable")[:, :top_k]
            kw = {"top_ids": order, "top_logprobs": np.take_along_axis(rows, order, 1)}
        if gather is not None:
            kw["gathered"] = np.take_along_axis(rows, gather, 1)
        return TokenScores(target=target, argmax=rows.argmax(1), **kw)

    def score_batch(self, windows: Sequence[Sequence[int]], *, top_k: int = 0,
                    gathers: Sequence[np.ndarray | None] | None = None) -> list[TokenScores]:
        gathers = gathers if gathers is not None else [None] * len(windows)
        return [self.score(w, top_k=top_k, gather=g) for w, g in zip(windows, gathers)]

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        out = []
        for r in reqs:
            if self.queue:
                out.append(Generation([], self.queue.pop(0), "stop-string", 0.01, 0.02))
                continue
            out.append(run_generation(r, start=lambda p: self.logp[p[-1]], step=lambda tok: self.logp[tok], stop_ids=(),
                                      decode=lambda ids: "".join(chr(97 + i % 26) for i in ids)))
        return out

    def memory(self) -> dict[str, float]:
        return {"peak_rss_mib": 1.0}

    def reset_memory(self) -> None:
        pass

    def close(self) -> None:
        pass


def random_logp(vocab: int, seed: int, sharpness: float = 3.0) -> np.ndarray:
    z = np.random.default_rng(seed).normal(size=(vocab, vocab)) * sharpness
    return z - np.log(np.exp(z).sum(1, keepdims=True))
