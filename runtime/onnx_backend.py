"""The onnxruntime-genai backend for ONNX builds made by its model builder.

Scoring appends a whole window to a fresh generator and reads ``get_output("logits")``, which after a multi-token
append holds every position's logits (1, n, vocab); generation appends one token at a time and reads the last row.
Each call gets its own generator sized to what it needs, as the KV cache is allocated for ``max_length`` up front.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from kizami.errors import BackendUnavailable, KizamiError
from kizami.fim_dialects import detect
from kizami.runtime.backend import STOP_TOKENS, Caps, Generation, GenRequest, TokenScores
from kizami.runtime.decoding import run_generation
from kizami.runtime.memory import peak_rss_mib, reset_peak_rss

__all__ = ["OnnxBackend"]


class OnnxBackend:
    name = "onnx"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, provider: str | None = None) -> None:
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
        self.caps = Caps(full_logits=True, fim=detect(self.token_id) is not None,
                         device="cpu" if self.provider == "cpu" else self.provider)

    def _generator(self, max_length: int) -> Any:
        if max_length > self.context_length:
            raise KizamiError(f"{max_length} tokens exceed this ONNX build's context length ({self.context_length})")
        params = self._og.GeneratorParams(self.model)
        params.set_search_options(max_length=max_length, batch_size=1)
        return self._og.Generator(self.model, params)

    def token_id(self, token: str) -> int | None:
        i = int(self.tokenizer.to_token_id(token))
        return i if i >= 0 else None  # og answers -1 for text that is not one token

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer.encode(t).tolist() for t in texts]

    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: np.ndarray | None = None) -> TokenScores:
        gen = self._generator(len(ids))
        gen.append_tokens(np.asarray(ids, dtype=np.int32))
        logits = gen.get_output("logits")[0, :-1].astype(np.float32)  # cuda builds give fp16
        if logits.shape[0] != len(ids) - 1:
            raise KizamiError(f"onnxruntime-genai returned {logits.shape[0] + 1} rows of logits for {len(ids)} tokens")
        return TokenScores.from_logits(logits, ids, top_k=top_k, gather=gather)

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        stop_ids = {i for t in STOP_TOKENS if (i := self.token_id(t)) is not None} | self.eos_ids
        return [self._generate_one(r, stop_ids) for r in reqs]

    def _generate_one(self, req: GenRequest, stop_ids: set[int]) -> Generation:
        state: dict[str, Any] = {}

        def last_logits() -> np.ndarray:
            return state["gen"].get_output("logits")[0, -1].astype(np.float32)

        def start(prompt: list[int]) -> np.ndarray:
            # a prompt that leaves no room fails here with the context length in the message
            state["gen"] = self._generator(max(len(prompt) + 1, min(len(prompt) + req.max_new_tokens, self.context_length)))
            state["gen"].append_tokens(np.asarray(prompt, dtype=np.int32))
            return last_logits()

        def step(token: int) -> np.ndarray:
            state["gen"].append_tokens(np.asarray([token], dtype=np.int32))
            return last_logits()

        def decode(ids: list[int]) -> str:
            return self.tokenizer.decode(np.asarray(ids, dtype=np.int32))

        return run_generation(req, start=start, step=step, decode=decode, stop_ids=stop_ids)

    def reset_memory(self) -> None:
        reset_peak_rss()

    def memory(self) -> dict[str, float]:
        return {"peak_rss_mib": peak_rss_mib()}

    def close(self) -> None:
        self.tokenizer = self.model = None

