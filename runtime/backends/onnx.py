"""The onnxruntime-genai backend for ONNX builds made by its model builder.

Scoring appends a whole window to a fresh generator and reads ``get_output("logits")``, which after a multi-token
append holds every position's logits (1, n, vocab); generation appends one token at a time and reads the last row.
Each call gets its own generator sized to what it needs, as the KV cache is allocated for ``max_length`` up front.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kizami.core.errors import BackendUnavailable, KizamiError
from kizami.core.fim_dialects import detect
from kizami.runtime.backend import Caps, Generation, GenRequest, TokenScores
from kizami.runtime.backends.base import EngineBackend
from kizami.runtime.decoding import BatchRetry, run_generations

__all__ = ["OnnxBackend"]


class OnnxBackend(EngineBackend):
    name = "onnx"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, provider: str | None = None,
                 batch_size: int = 0) -> None:
        try:
            import onnxruntime_genai as og
        except ImportError:
            raise BackendUnavailable("the ONNX backend needs onnxruntime-genai; run `bash scripts/setup.sh`") from None
        self._og = og
        self.path = Path(path)
        if not (self.path / "genai_config.json").is_file():
            raise KizamiError(f"{self.path} has no genai_config.json; is it an ONNX build made by `kizami export onnx`?")
        self.threads = threads or os.cpu_count() or 1
        # A build made for cuda still runs on the CPU provider; the provider is the caller's choice, not the build's.
        self.provider = provider or ("cuda" if device.startswith("cuda") else "cpu")
        cfg = og.Config(str(self.path))
        cfg.overlay(json.dumps({"model": {"decoder": {"session_options": {
            "intra_op_num_threads": self.threads, "inter_op_num_threads": 1}}}}))
        cfg.clear_providers()
        if self.provider != "cpu":
            cfg.append_provider(self.provider)
        try:
            self.model = og.Model(cfg)
        except RuntimeError as exc:
            raise KizamiError(f"onnxruntime-genai could not load {self.path} on {self.provider}: {exc}") from None
        self.tokenizer = og.Tokenizer(self.model)
        # Explicit, not the tokenizer_config defaults: the parity check wants bare ids, generations keep special text.
        self.tokenizer.update_options(add_special_tokens="false", skip_special_tokens="false")
        genai = json.loads((self.path / "genai_config.json").read_text(encoding="utf-8"))["model"]
        self.context_length = int(genai.get("context_length", 4096))
        self.eos_ids = {int(i) for i in np.atleast_1d(genai.get("eos_token_id", []))}
        # padding for a batch of prompts of different lengths: onnxruntime-genai masks this id out of its attention
        self.pad_id = int(genai.get("pad_token_id", min(self.eos_ids, default=0)))
        self.batch_size = batch_size
        decoder = genai.get("decoder", {})
        width = 4 if self.provider == "cpu" else 2  # the builder's KV cache: fp32 on the CPU, fp16 on a GPU
        self._kv_bytes_per_token = (2 * int(decoder.get("num_hidden_layers", 0)) * int(decoder.get("num_key_value_heads", 0))
                                    * int(decoder.get("head_size", 0)) * width)
        self._vocab_size = int(genai.get("vocab_size", 0))
        self.caps = Caps(full_logits=True, fim=detect(self.token_id) is not None,
                         device="cpu" if self.provider == "cpu" else self.provider)

    def _generator(self, max_length: int, batch_size: int = 1) -> Any:
        if max_length > self.context_length:
            raise KizamiError(f"{max_length} tokens exceed this ONNX build's context length ({self.context_length})")
        params = self._og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length, batch_size=batch_size)
        try:
            return self._og.Generator(self.model, params)
        except RuntimeError as exc:
            if batch_size > 1 and "alloc" in str(exc).lower():
                raise BatchRetry(f"onnxruntime could not allocate {batch_size} sequences of {max_length} tokens") from None
            raise

    def token_id(self, token: str) -> int | None:
        i = int(self.tokenizer.to_token_id(token))
        return i if i >= 0 else None  # og answers -1 for text that is not one token

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer.encode(t).tolist() for t in texts]

    def _score_token_bytes(self) -> int:
        return self._vocab_size * 4 * 3 + self._kv_bytes_per_token

    def _score_chunk(self, windows: list[Sequence[int]], top_k: int, gathers: list[np.ndarray | None]) -> list[TokenScores]:
        """Windows of one length in one generator (batch_size rows, no padding)."""
        n = len(windows[0])
        gen = self._generator(n, len(windows))
        gen.append_tokens(np.asarray(windows, dtype=np.int32))
        logits = gen.get_output("logits")
        if logits.shape[:2] != (len(windows), n):
            raise KizamiError(f"onnxruntime-genai returned logits of shape {logits.shape} for {len(windows)} "
                              f"windows of {n} tokens")
        # cuda builds give fp16
        return [TokenScores.from_logits(logits[row, :-1].astype(np.float32), w, top_k=top_k, gather=g)
                for row, (w, g) in enumerate(zip(windows, gathers))]

    def _eos_ids(self) -> set[int]:
        return self.eos_ids

    def _sequence_bytes(self, tokens: int) -> int:
        return tokens * (self._kv_bytes_per_token + self._vocab_size * 4)

    def _generate(self, reqs: Sequence[GenRequest], capacity: int, stop_ids: set[int]) -> list[Generation]:
        max_new = max(r.max_new_tokens for r in reqs)

        def decode(ids: list[int]) -> str:
            return self.tokenizer.decode(np.asarray(ids, dtype=np.int32))

        # a batched generator ends a row at an end token: requests that must run past one go one at a time
        batched = [i for i, r in enumerate(reqs) if not r.ignore_stops]
        alone = [i for i in range(len(reqs)) if i not in set(batched)]
        out: dict[int, Generation] = {}
        for group, n in ((batched, capacity), (alone, 1)):
            gens = run_generations([reqs[i] for i in group], lambda k: _OnnxDecoder(self, k, max_new), n,
                                   decode=decode, stop_ids=stop_ids)
            out |= dict(zip(group, gens))
        return [out[i] for i in range(len(reqs))]

    def close(self) -> None:
        self.tokenizer = self.model = None


class _OnnxDecoder:
    """Up to ``capacity`` sequences in one onnxruntime-genai generator (``batch_size``).

    A generator holding several sequences takes tokens from outside only once (the prompts, right-padded with the
    build's pad id: it attends to each row's real length, measured equal to a batch of one); after that its own search
    appends the next tokens. So kizami reads each step's logits (``get_logits``), picks its tokens, and hands the
    generator logits that leave it only those picks (``set_logits``) before it appends them. A sequence that must run
    past an end token (``ignore_stops``) would be ended by the generator: it runs alone, fed with ``append_tokens``."""

    continuous = False

    def __init__(self, backend: OnnxBackend, capacity: int, max_new_tokens: int) -> None:
        self._backend, self.capacity, self._max_new = backend, capacity, max_new_tokens
        self._gen: Any = None
        self._rows: list[int] = []
        self._released: set[int] = set()

    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        b = self._backend
        self._rows = list(prompts)
        width = max(len(p) for p in prompts.values())
        ids = np.full((len(self._rows), width), b.pad_id, dtype=np.int32)
        for row, slot in enumerate(self._rows):
            ids[row, :len(prompts[slot])] = prompts[slot]
        # a prompt that leaves no room fails here with the context length in the message
        self._gen = b._generator(max(width + 1, min(width + self._max_new, b.context_length)), len(self._rows))
        self._gen.append_tokens(ids if self.capacity > 1 else ids[0])
        return self._logits(prompts)

    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        if self.capacity == 1:
            self._gen.append_tokens(np.asarray([tokens[self._rows[0]]], dtype=np.int32))
            return self._logits(tokens)
        current = self._gen.get_logits()
        forced = np.full(current.shape, -1e4, dtype=current.dtype)
        for row, slot in enumerate(self._rows):  # a finished row takes the pad id (the generator has ended it too)
            forced.reshape(len(self._rows), -1)[row, tokens.get(slot, self._backend.pad_id)] = 0
        self._gen.set_logits(forced)
        self._gen.generate_next_token()
        return self._logits(tokens)

    def release(self, slot: int) -> None:
        self._released.add(slot)
        if self._released >= set(self._rows):
            self._gen, self._rows, self._released = None, [], set()

    def _logits(self, wanted: Mapping[int, Any]) -> dict[int, np.ndarray]:
        # get_logits runs the model on what was appended and gives each row's last real position
        rows = self._gen.get_logits().reshape(len(self._rows), -1).astype(np.float32)
        return {s: rows[row] for row, s in enumerate(self._rows) if s in wanted}
