"""One check of batched generation and scoring, run on each engine's build (torch, llama.cpp, onnxruntime-genai).

Through the public protocol only: a backend's answers at ``batch_size`` 8 against its answers one sequence at a time.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kizami.runtime.backend import GenRequest

CODE = ("def add(a, b):\n    return a + b\n\n\nclass Stack:\n    def __init__(self):\n        self.items = []\n\n"
        "    def push(self, x):\n        self.items.append(x)\n\n    def pop(self):\n        return self.items.pop()\n\n\n"
        "def fib(n):\n    if n < 2:\n        return n\n    return fib(n - 1) + fib(n - 2)\n")


def check_batching(backend: Any, *, sampled_differing: int = 0) -> dict[str, Any]:
    """Greedy ids at batch 8 equal batch 1 (prompts of eight lengths); the card's sampling (T 0.2, top-p 0.95) draws
    the same samples per seed whatever the batch, but for at most ``sampled_differing`` of 8 (an engine whose batched
    kernels round differently); windows scored in a batch equal windows scored alone to 1e-5."""
    ids = backend.tokenize([CODE])[0]
    assert len(ids) > 80, len(ids)
    prompts = [ids[i * 5:i * 5 + 12 + 6 * i] for i in range(8)]
    greedy = [GenRequest(prompt=p, max_new_tokens=20) for p in prompts]
    sampled = [GenRequest(prompt=prompts[i % 2], max_new_tokens=20, temperature=0.2, top_p=0.95, seed=i) for i in range(8)]
    before = backend.batch_size
    try:
        backend.batch_size = 1
        one, one_sampled = backend.generate(greedy), backend.generate(sampled)
        backend.batch_size = 8
        many, many_sampled = backend.generate(greedy), backend.generate(sampled)
    finally:
        backend.batch_size = before
    assert sum(len(g.ids) for g in one) > 40, [g.ids for g in one]  # the check is not on empty generations
    assert [g.ids for g in many] == [g.ids for g in one]
    assert [g.text for g in many] == [g.text for g in one]
    differing = sum(a.ids != b.ids for a, b in zip(one_sampled, many_sampled))
    assert differing <= sampled_differing, differing
    windows = [ids[:48], ids[8:56], ids[16:64], ids[:30]]
    alone = [backend.score(w, top_k=4) for w in windows]
    together = backend.score_batch(windows, top_k=4)
    diff = max(float(np.abs(a.target - b.target).max()) for a, b in zip(alone, together))
    assert diff <= 1e-5, diff
    assert all((a.argmax == b.argmax).all() and (a.top_ids == b.top_ids).all() for a, b in zip(alone, together))
    return {"sampled_differing": differing, "score_diff": diff}
