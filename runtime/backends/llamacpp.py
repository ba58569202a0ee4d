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
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kizami.core.errors import BackendUnavailable, KizamiError
from kizami.core.fim_dialects import detect
from kizami.core.gguf_header import gguf_file, read_metadata
from kizami.runtime.backend import Caps, Generation, GenRequest, TokenScores
from kizami.runtime.backends.base import EngineBackend, distinct_prompts, longest_sequence
from kizami.runtime.decoding import BatchRetry, run_generations

__all__ = ["LlamaCppBackend"]

SCORE_CTX = 1024  # windows longer than this get a larger scoring context on demand
HOLDER_CTX = 64  # the generation model's own context; generation runs in contexts of its own size (_LlamaCppDecoder)
N_BATCH = 512  # tokens per llama_decode call
# KV-cache precisions (llama.cpp's ggml type ids), as `--cache-type-k/-v` takes them.
_KV_TYPES = {"f16": 1, "q8_0": 8, "q4_0": 2}
_KV_BYTES = {"f16": 2.0, "q8_0": 34 / 32, "q4_0": 18 / 32}


def _kv_bytes_per_token(meta: dict[str, Any], kv_cache: str) -> int:
    """K and V of one token in every layer, from the GGUF header (0 where the header lacks the sizes)."""
    arch = meta.get("general.architecture", "llama")
    layers, heads = meta.get(f"{arch}.block_count", 0), meta.get(f"{arch}.attention.head_count", 0)
    kv_heads = meta.get(f"{arch}.attention.head_count_kv", heads)
    head_dim = meta.get(f"{arch}.attention.key_length") or (meta.get(f"{arch}.embedding_length", 0) // max(heads, 1))
    return int(2 * layers * kv_heads * head_dim * _KV_BYTES[kv_cache])



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


class LlamaCppBackend(EngineBackend):
    name = "llama-cpp"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, gpu_layers: int | None = None,
                 kv_cache: str = "f16", batch_size: int = 0) -> None:
        try:
            import llama_cpp
        except ImportError:
            raise BackendUnavailable("the llama.cpp backend needs llama-cpp-python; run `bash scripts/setup.sh`") from None
        self._llama_cpp = llama_cpp
        if kv_cache not in _KV_TYPES:
            raise KizamiError(f"KV cache type {kv_cache!r} is not one of {', '.join(_KV_TYPES)}")
        self.kv_cache = kv_cache
        self.file = gguf_file(path)
        self.threads = threads or os.cpu_count() or 1
        self.gpu_layers = gpu_layers if gpu_layers is not None else (-1 if device.startswith("cuda") else 0)
        self._score_ctx: Any = None
        self._score_n = 0
        self._gen: Any = None
        self._decoder: _LlamaCppDecoder | None = None
        self.batch_size = batch_size
        meta = read_metadata(self.file)  # a damaged header fails here with the file's name, not inside llama.cpp
        self._kv_bytes_per_token = _kv_bytes_per_token(meta, kv_cache)
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

    def _generator(self) -> Any:
        """The model that generation contexts are made from (its own context is a small one, unused)."""
        if self._gen is None:
            self._close("_gen", "_score_ctx")
            self._gen = self._open(HOLDER_CTX, logits_all=False)
        return self._gen

    def _close(self, *names: str) -> None:
        if "_gen" in names and self._decoder is not None:  # a context made from the generation model goes before it
            self._decoder.close()
            self._decoder = None
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

    def score_batch(self, windows: Sequence[Sequence[int]], *, top_k: int = 0,
                    gathers: Sequence[np.ndarray | None] | None = None) -> list[TokenScores]:
        # one window at a time: the scoring context keeps every position's logits, for one window
        gathers = list(gathers) if gathers is not None else [None] * len(windows)
        return [self.score(w, top_k=top_k, gather=g) for w, g in zip(windows, gathers)]

    def _eos_ids(self) -> set[int]:
        return {self._vocab.token_eos()}

    @staticmethod
    def _context_per_sequence(tokens: int) -> int:
        return -(-tokens // 256) * 256  # a sequence's context, rounded up so that a decoder is reused while it fits

    def _sequence_bytes(self, tokens: int) -> int:
        return self._context_per_sequence(tokens) * self._kv_bytes_per_token

    def _generate(self, reqs: Sequence[GenRequest], capacity: int, stop_ids: set[int]) -> list[Generation]:
        llm = self._generator()
        per_sequence = self._context_per_sequence(longest_sequence(reqs))
        shared = len({tuple(r.prompt) for r in reqs}) < len(reqs)

        def decoder(n: int) -> _LlamaCppDecoder:
            d = self._decoder
            if d is None or (d.capacity, d.shared) != (n, shared) or d.per_sequence < per_sequence:
                if d is not None:  # its KV cache goes before the next one is made
                    d.close()
                    self._decoder = None
                d = self._decoder = _LlamaCppDecoder(self._llama_cpp, llm, n, per_sequence, shared, self.n_vocab)
            return d

        def decode(ids: list[int]) -> str:
            return str(self._vocab.detokenize(ids, special=True).decode("utf-8", errors="ignore"))

        return run_generations(reqs, decoder, capacity, decode=decode, stop_ids=stop_ids)

    def close(self) -> None:
        self._close("_score_ctx", "_gen", "_vocab")


class _LlamaCppDecoder:
    """Up to ``capacity`` sequences in one llama.cpp context, each its own sequence id (llama.cpp's multi-sequence
    batches): every step is one ``llama_decode`` of one token per running sequence, a new prompt joins while the
    others decode, and a prompt asked for several times is prefilled once and its cache copied (``seq_cp``) into the
    other slots. A KV cache unified across sequences is what lets copies share cells, so it is used only then."""

    continuous = True

    def __init__(self, llama_cpp: Any, llm: Any, capacity: int, per_sequence: int, shared: bool, n_vocab: int) -> None:
        from llama_cpp import _internals

        self._lib, self.capacity, self.n_vocab = llama_cpp, capacity, n_vocab
        self.per_sequence, self.shared = per_sequence, shared
        params = type(llm.context_params).from_buffer_copy(llm.context_params)
        params.n_ctx = capacity * per_sequence
        params.n_seq_max = capacity
        params.kv_unified = shared
        params.n_batch = params.n_ubatch = N_BATCH
        try:
            with _stderr_to_null():  # llama.cpp warns of a context longer than a stand-in's training: nothing to act on
                self._ctx = _internals.LlamaContext(model=llm._model, params=params, verbose=False)
        except ValueError:
            raise BatchRetry(f"llama.cpp could not make a context for {capacity} sequences of {per_sequence} "
                                "tokens") from None
        self._batch = _internals.LlamaBatch(n_tokens=N_BATCH, embd=0, n_seq_max=1, verbose=False)
        self._pos: dict[int, int] = {}

    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        first = distinct_prompts(prompts)
        feed = [(slot, pos, tok, pos == len(p) - 1) for p, slot in first.items() for pos, tok in enumerate(p)]
        logits = self._run(feed)
        for slot, prompt in prompts.items():
            src = first[tuple(prompt)]
            self._pos[slot] = len(prompt)
            if src != slot:
                self._lib.llama_memory_seq_cp(self._ctx.memory, src, slot, -1, -1)
                logits[slot] = logits[src].copy()
        return logits

    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        logits = self._run([(slot, self._pos[slot], tok, True) for slot, tok in tokens.items()])
        for slot in tokens:
            self._pos[slot] += 1
        return logits

    def close(self) -> None:
        self._batch.close()
        self._ctx.close()

    def release(self, slot: int) -> None:
        self._lib.llama_memory_seq_rm(self._ctx.memory, slot, -1, -1)
        self._pos.pop(slot, None)

    def _run(self, feed: list[tuple[int, int, int, bool]]) -> dict[int, np.ndarray]:
        """``(slot, position, token, wants logits)`` rows, in llama_decode calls of at most N_BATCH tokens."""
        out: dict[int, np.ndarray] = {}
        b = self._batch.batch
        for at in range(0, len(feed), N_BATCH):
            chunk = feed[at:at + N_BATCH]
            for i, (slot, pos, tok, want) in enumerate(chunk):
                b.token[i], b.pos[i], b.n_seq_id[i], b.logits[i] = tok, pos, 1, want
                b.seq_id[i][0] = slot
            b.n_tokens = len(chunk)
            code = self._lib.llama_decode(self._ctx.ctx, b)
            if code == 1:  # no room in the KV cache for this batch
                raise BatchRetry(f"llama.cpp's KV cache is full with {len(self._pos)} sequences")
            if code != 0:
                raise KizamiError(f"llama_decode failed (code {code})")
            for i, (slot, _pos, _tok, want) in enumerate(chunk):
                if want:
                    ptr = self._lib.llama_get_logits_ith(self._ctx.ctx, i)
                    out[slot] = np.ctypeslib.as_array(ptr, shape=(self.n_vocab,)).copy()
        return out
