"""The llama.cpp backend (llama-cpp-python) for GGUF builds.

Scoring needs logits at every position, which llama.cpp keeps only with ``logits_all`` (n_ctx x vocab floats, ~1 GB
for a 128k vocab at 2k context), so scoring uses its own context sized to one window; generation uses a second
context without it, so prefill is timed as a user would see it. Only one of the two is open at a time: both map the
same GGUF file, but each keeps its own copy of the weights repacked for the CPU's kernels, so two open contexts held
the weights three times (measured at full width, docs/scale.md). Tokens come from a vocabulary-only instance.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kizami.errors import BackendUnavailable, KizamiError
from kizami.fim_dialects import detect
from kizami.gguf_header import gguf_file, read_metadata
from kizami.runtime.backend import STOP_TOKENS, Caps, Generation, GenRequest, TokenScores
from kizami.runtime.decoding import run_generation
from kizami.runtime.memory import peak_rss_mib, reset_peak_rss

__all__ = ["LlamaCppBackend"]

SCORE_CTX = 1024  # windows longer than this get a larger scoring context on demand
GEN_CTX = 4096
# KV-cache precisions (llama.cpp's ggml type ids), as `--cache-type-k/-v` takes them.
_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}



@contextlib.contextmanager
def _stderr_to_null() -> Iterator[None]:
    """File descriptor 2 to /dev/null for a moment: llama.cpp writes there from C, past Python's ``sys.stderr``."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


class LlamaCppBackend:
    name = "llama-cpp"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, gpu_layers: int | None = None,
                 kv_cache: str = "f16") -> None:
        try:
            import llama_cpp
        except ImportError:
            raise BackendUnavailable("the llama.cpp backend needs llama-cpp-python; run `bash scripts/setup.sh`") from None
        self._llama_cpp = llama_cpp
        if kv_cache not in _KV_TYPES:
            raise KizamiError(f"KV cache type {kv_cache!r} is not one of {', '.join(_KV_TYPES)}")
        self.kv_cache = kv_cache
        self._gen_n = GEN_CTX
        self.file = gguf_file(path)
        self.threads = threads or os.cpu_count() or 1
        self.gpu_layers = gpu_layers if gpu_layers is not None else (-1 if device.startswith("cuda") else 0)
        self._score_ctx: Any = None
        self._score_n = 0
        self._gen: Any = None
        read_metadata(self.file)  # a damaged header fails here with the file's name, not inside llama.cpp
        with _stderr_to_null():  # llama.cpp warns that a vocabulary has no training context; nothing to act on
            self._vocab = self._open(64, logits_all=False, vocab_only=True)  # llama-cpp-python makes a context even so
        self.n_vocab = self._vocab.n_vocab()
        self.caps = Caps(full_logits=True, fim=detect(self.token_id) is not None, device="cuda" if self.gpu_layers else "cpu",
                         kv_cache_types=tuple(_KV_TYPES))

    def _open(self, n_ctx: int, logits_all: bool, vocab_only: bool = False) -> Any:
        try:
            kv = _KV_TYPES[self.kv_cache]
            return self._llama_cpp.Llama(model_path=str(self.file), n_ctx=n_ctx, n_batch=min(n_ctx, 512), n_ubatch=min(n_ctx, 512),
                                         n_threads=self.threads, n_threads_batch=self.threads, logits_all=logits_all,
                                         n_gpu_layers=self.gpu_layers, verbose=False, seed=0, type_k=kv, type_v=kv,
                                         flash_attn=self.kv_cache != "f16",  # a quantized V cache needs flash attention
                                         vocab_only=vocab_only)
        except (ValueError, RuntimeError) as exc:
            raise KizamiError(f"llama.cpp could not load {self.file}: {exc}") from None

    def _scorer(self, n: int) -> Any:
        if self._score_ctx is None or n > self._score_n:
            self._close("_score_ctx", "_gen")
            self._score_n = max(n, SCORE_CTX)
            self._score_ctx = self._open(self._score_n, logits_all=True)
        return self._score_ctx

    def _generator(self, n: int = 0) -> Any:
        if self._gen is None or n > self._gen_n:  # a longer prompt than the open context: reopen larger
            self._close("_gen", "_score_ctx")
            self._gen_n = max(n, self._gen_n)
            self._gen = self._open(self._gen_n, logits_all=False)
        return self._gen

    def _close(self, *names: str) -> None:
        for name in names:
            if (llm := getattr(self, name)) is not None:
                llm.close()
                setattr(self, name, None)

    def token_id(self, token: str) -> int | None:
        ids = self._vocab.tokenize(token.encode(), add_bos=False, special=True)
        return ids[0] if len(ids) == 1 else None

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [self._vocab.tokenize(t.encode(), add_bos=False, special=True) for t in texts]

    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: np.ndarray | None = None) -> TokenScores:
        llm = self._scorer(len(ids))
        llm.reset()
        llm.eval(list(ids))
        return TokenScores.from_logits(llm.scores[: len(ids) - 1], ids, top_k=top_k, gather=gather)

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        out = []
        for req in reqs:
            llm = self._generator(len(req.prompt) + req.max_new_tokens)
            out.append(self._generate_one(llm, req))
        return out

    def _generate_one(self, llm: Any, req: GenRequest) -> Generation:
        stop_ids = {i for t in STOP_TOKENS if (i := self.token_id(t)) is not None} | {llm.token_eos()}

        def last_logits() -> np.ndarray:  # without logits_all, llama-cpp-python keeps no scores: read them directly
            ptr = self._llama_cpp.llama_get_logits_ith(llm.ctx, -1)
            return np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()

        def start(prompt: list[int]) -> np.ndarray:
            llm.reset()
            llm.eval(prompt)
            return last_logits()

        def step(token: int) -> np.ndarray:
            llm.eval([token])
            return last_logits()

        def decode(ids: list[int]) -> str:
            return str(self._vocab.detokenize(ids, special=True).decode("utf-8", errors="ignore"))

        return run_generation(req, start=start, step=step, decode=decode, stop_ids=stop_ids)

    def reset_memory(self) -> None:
        reset_peak_rss()

    def memory(self) -> dict[str, float]:
        return {"peak_rss_mib": peak_rss_mib()}

    def close(self) -> None:
        self._close("_score_ctx", "_gen", "_vocab")

