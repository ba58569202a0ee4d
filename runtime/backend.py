"""The one Backend protocol every engine implements, and the small value types it speaks in.

Metrics (``kizami.runtime.metrics``) are written once against this protocol and never look at which engine is
behind it. A backend that lacks something a metric needs raises ``Unsupported``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

__all__ = ["Caps", "TokenScores", "GenRequest", "Generation", "Backend", "STOP_TOKENS"]

STOP_TOKENS = ("<|end_of_text|>", "<|eot_id|>", "<|eom_id|>")


@dataclass(frozen=True, slots=True)
class Caps:
    full_logits: bool = True  # can score every position of a window
    fim: bool = False  # has the FIM tokens of a known dialect (kizami.core.fim_dialects)
    kv_cache_types: tuple[str, ...] = ()  # KV-cache precisions the engine can open a build with (``kv_cache=``)
    device: str = "cpu"


@dataclass(frozen=True, slots=True)
class TokenScores:
    """Scores for the predictions of positions 1..n-1 of an n-token window (row i predicts token i+1)."""

    target: npt.NDArray[Any]  # (n-1,) float32: log p(ids[i+1] | ids[:i+1])
    argmax: npt.NDArray[Any]  # (n-1,) int64: the backend's own top-1 token
    top_ids: npt.NDArray[Any] | None = None  # (n-1, k) int64, best first
    top_logprobs: npt.NDArray[Any] | None = None  # (n-1, k) float32
    gathered: npt.NDArray[Any] | None = None  # (n-1, g) float32: log-probs of the token ids asked for in ``gather``

    @classmethod
    def from_logits(cls, logits: npt.NDArray[Any], ids: Sequence[int], *, top_k: int = 0,
                    gather: npt.NDArray[Any] | None = None) -> TokenScores:
        """Scores from an engine's (n-1, vocab) logits for the window ``ids`` (row i predicts ``ids[i+1]``)."""
        logits = np.asarray(logits, dtype=np.float32)
        m = logits.max(axis=1, keepdims=True)
        logp = logits - (m + np.log(np.exp(logits - m).sum(axis=1, keepdims=True)))
        targets = np.asarray(ids[1:])
        out: dict[str, npt.NDArray[Any]] = {"target": logp[np.arange(len(targets)), targets], "argmax": logp.argmax(1)}
        if top_k:
            idx = np.argpartition(-logp, top_k, axis=1)[:, :top_k]
            order = np.argsort(-np.take_along_axis(logp, idx, 1), axis=1, kind="stable")
            out["top_ids"] = np.take_along_axis(idx, order, 1)
            out["top_logprobs"] = np.take_along_axis(logp, out["top_ids"], 1)
        if gather is not None:
            out["gathered"] = np.take_along_axis(logp, np.asarray(gather), 1)
        return cls(**out)


@dataclass(frozen=True, slots=True, kw_only=True)
class GenRequest:
    prompt: Sequence[int]
    max_new_tokens: int = 64
    stop_ids: Sequence[int] = ()
    stop_strings: Sequence[str] = ()  # e.g. "\n" for single-line FIM
    ignore_stops: bool = False  # speed runs decode exactly max_new_tokens
    temperature: float = 0.0  # 0 = greedy
    top_p: float = 1.0
    seed: int = 0


@dataclass(frozen=True, slots=True)
class Generation:
    ids: list[int]
    text: str  # decoded with the backend's own tokenizer, cut before the first stop string
    stop_reason: str  # "eos" | "stop-string" | "length"
    ttft_s: float  # from the call to the first new token (prefill + one step)
    total_s: float
    extra: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Backend(Protocol):
    name: str
    caps: Caps

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        """The backend's own tokenization (no special tokens added), for the parity check."""
        ...

    def token_id(self, token: str) -> int | None:
        """Id of a special token by its text, or None if the vocabulary lacks it."""
        ...

    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: npt.NDArray[Any] | None = None) -> TokenScores: ...

    def score_batch(self, windows: Sequence[Sequence[int]], *, top_k: int = 0,
                    gathers: Sequence[npt.NDArray[Any] | None] | None = None) -> list[TokenScores]:
        """``score`` for many windows (``gathers``: one array or None per window), in as few passes as the engine
        allows; the same numbers as scoring them one by one, to float round-off."""
        ...

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        """One generation per request, in order. Engines run many requests at once (their ``batch_size``); each
        request's result does not depend on which others share its batch."""
        ...

    def memory(self) -> dict[str, float]:
        """Peak memory since the last ``reset_memory``: ``{"peak_rss_mib": ...}`` or ``{"peak_gpu_mib": ...}``."""
        ...

    def reset_memory(self) -> None: ...

    def close(self) -> None: ...
