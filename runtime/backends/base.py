"""What the engine backends share around their own decoder and scorer: the opening of ``generate`` (stop ids, how
many sequences run at once, the record of it), scoring windows in equal-length batches, the shared-prompt grouping
their decoders use, and a CPU engine's memory figures.

An engine subclasses ``EngineBackend`` and supplies what differs: its end tokens, the bytes one sequence needs, the
loop that runs a batch of requests (``_generate``) and how one batch of equal-length windows is scored
(``_score_chunk``).
"""

from __future__ import annotations

import contextlib
import resource
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy.typing as npt

from kizami.runtime.backend import STOP_TOKENS, Generation, GenRequest, TokenScores
from kizami.runtime.decoding import auto_batch_size, available_memory, equal_length_chunks

__all__ = ["EngineBackend", "distinct_prompts", "longest_sequence", "reset_peak_rss", "peak_rss_mib"]


def reset_peak_rss() -> bool:
    """Reset the kernel's high-water mark; False where the platform cannot (then peaks are process-wide)."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def peak_rss_mib() -> float:
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def longest_sequence(reqs: Sequence[GenRequest]) -> int:
    """Tokens the longest request can reach: its prompt and all its new tokens."""
    return max(len(r.prompt) + r.max_new_tokens for r in reqs)


def distinct_prompts(prompts: Mapping[int, Sequence[int]]) -> dict[tuple[int, ...], int]:
    """Each distinct prompt → the first slot asking for it, in slot order: a decoder prefills a prompt asked for
    several times (the n samples of a problem) once and copies its cache to the other slots."""
    first: dict[tuple[int, ...], int] = {}
    for slot, prompt in prompts.items():
        first.setdefault(tuple(prompt), slot)
    return first


class EngineBackend:
    """The Backend protocol's shared half. ``batch_size`` (0 = as many as fit, up to 16) caps the sequences decoded
    and the windows scored at once; ``last_batch`` records what the last ``generate`` ran at once (results keep it)."""

    name: str
    batch_size: int = 0
    last_batch: int = 0

    # ---- what each engine supplies ----
    def token_id(self, token: str) -> int | None:
        raise NotImplementedError

    def _eos_ids(self) -> set[int]:
        """The engine's own end tokens, besides the chat end tokens of ``STOP_TOKENS``."""
        return set()

    def _sequence_bytes(self, tokens: int) -> int:
        """Memory one sequence of ``tokens`` needs while generating (its KV cache and share of the activations)."""
        raise NotImplementedError

    def _generate(self, reqs: Sequence[GenRequest], capacity: int, stop_ids: set[int]) -> list[Generation]:
        raise NotImplementedError

    def _score_token_bytes(self) -> int:
        """Memory one scored position needs (its logits and activations): how many windows share a pass."""
        raise NotImplementedError

    def _score_chunk(self, windows: list[Sequence[int]], top_k: int, gathers: list[Any]) -> list[TokenScores]:
        raise NotImplementedError

    def _free_bytes(self) -> int:
        return available_memory()

    # ---- the shared half ----
    def stop_ids(self) -> set[int]:
        return {i for t in STOP_TOKENS if (i := self.token_id(t)) is not None} | self._eos_ids()

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        if not reqs:
            return []
        capacity = auto_batch_size(self.batch_size, self._sequence_bytes(longest_sequence(reqs)), self._free_bytes(),
                                   len(reqs))
        self.last_batch = capacity
        return self._generate(reqs, capacity, self.stop_ids())

    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: npt.NDArray[Any] | None = None) -> TokenScores:
        return self.score_batch([ids], top_k=top_k, gathers=[gather])[0]

    def score_batch(self, windows: Sequence[Sequence[int]], *, top_k: int = 0,
                    gathers: Sequence[npt.NDArray[Any] | None] | None = None) -> list[TokenScores]:
        """Windows of one length share a pass (no padding, so each row's sums are the rows a batch of one
        computes); at most as many as half the free memory holds."""
        gathers = list(gathers) if gathers is not None else [None] * len(windows)
        out: list[TokenScores | None] = [None] * len(windows)
        for chunk in equal_length_chunks(windows, self.batch_size, self._score_token_bytes(), self._free_bytes()):
            for i, scores in zip(chunk, self._score_chunk([windows[i] for i in chunk], top_k, [gathers[i] for i in chunk])):
                out[i] = scores
        return [s for s in out if s is not None]

    # CPU engines: the memory is this process's (torch on CUDA overrides these)
    def reset_memory(self) -> None:
        reset_peak_rss()

    def memory(self) -> dict[str, float]:
        return {"peak_rss_mib": peak_rss_mib()}
