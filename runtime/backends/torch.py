"""The torch/transformers backend: the bf16 reference, fp32, and any checkpoint transformers loads (GPTQ, AWQ)."""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kizami.core.checkpoint import check_hf_dir, read_config
from kizami.core.errors import KizamiError
from kizami.core.fim_dialects import detect
from kizami.core.tokenizer import load_tokenizer, quiet_transformers
from kizami.runtime.backend import Caps, Generation, GenRequest, TokenScores
from kizami.runtime.backends.base import EngineBackend, distinct_prompts
from kizami.runtime.decoding import BatchRetry, run_generations

__all__ = ["TorchBackend"]

_DTYPES = {"auto": None, "bf16": torch.bfloat16, "bfloat16": torch.bfloat16, "fp16": torch.float16,
           "float16": torch.float16, "fp32": torch.float32, "float32": torch.float32}


def _cpu_float_dtype(path: Path) -> Any:
    """fp32 on CPU while the upcast weights fit in half the machine's RAM; else the stored dtype ("auto"): an 8B's
    bf16 weights are 16 GiB, upcast 32 GiB, more than a 24 GiB machine holds (the reference records the dtype used)."""
    import os

    stored = sum(f.stat().st_size for f in Path(path).glob("*.safetensors"))
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    dtype = str(read_config(path).get("torch_dtype") or read_config(path).get("dtype") or "")
    upcast = stored * (2 if dtype in ("bfloat16", "float16") else 1)
    return torch.float32 if upcast <= ram // 2 else "auto"


class TorchBackend(EngineBackend):
    name = "torch"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, dtype: str = "auto",
                 allow_pickle: bool = False, batch_size: int = 0) -> None:
        from transformers import AutoModelForCausalLM

        if dtype not in _DTYPES:
            raise KizamiError(f"unknown dtype {dtype!r}; use one of {', '.join(_DTYPES)}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise KizamiError(f"device {device!r} asked but torch sees no CUDA GPU; use --device cpu")
        if threads:
            torch.set_num_threads(threads)
        quiet_transformers()
        self.path = check_hf_dir(path, allow_pickle=allow_pickle)
        self.device = torch.device(device)
        self.tokenizer = load_tokenizer(self.path)
        # CPUs without native bf16 emulate it slowly; bf16 weights upcast to fp32 exactly, so on CPU the reference is
        # computed in fp32 (more precise, same weights). On CUDA the stored dtype is used. GPTQ/AWQ kernels take
        # fp16 or bf16 only: fp16 (10 mantissa bits, and the dtype their scales are stored in).
        quantized = "quantization_config" in read_config(self.path)
        torch_dtype = _DTYPES[dtype] or ("auto" if self.device.type == "cuda" else
                                         torch.float16 if quantized else _cpu_float_dtype(self.path))
        # gptqmodel (transformers' GPTQ/AWQ loader) prints its kernel choices to stdout; keep kizami's output readable
        quiet = contextlib.redirect_stdout(io.StringIO()) if quantized else contextlib.nullcontext()
        # transformers' GPTQ loader ignores gptqmodel's per-module bits (`dynamic`, as in mixed-precision builds) and
        # fails on their shapes; gptqmodel's own loader reads them
        per_module = any(k.startswith("+:") for k in (read_config(self.path).get("quantization_config") or {}).get("dynamic") or {})
        try:
            with quiet:
                if per_module:
                    self.model = _load_with_gptqmodel(self.path, device, torch_dtype)
                else:
                    self.model = AutoModelForCausalLM.from_pretrained(
                        str(self.path), dtype=torch_dtype, trust_remote_code=False, use_safetensors=not allow_pickle,
                        local_files_only=True).to(self.device).eval()  # type: ignore[arg-type]  # transformers' stub
        except pickle.UnpicklingError:
            raise KizamiError(f"{self.path}: the pickle weights hold more than tensors (code to run on load); torch's "
                              "weights_only loader refused them. Do not use this checkpoint") from None
        except (OSError, ValueError, RuntimeError) as exc:
            raise KizamiError(f"transformers could not load {self.path}: {str(exc).splitlines()[0]}") from None
        vocab = self.tokenizer.get_vocab()
        self.caps = Caps(full_logits=True, fim=detect(vocab) is not None, device=str(self.device))
        self._anchor = vocab.get("a")
        self._anchor_text = str(self.tokenizer.decode([self._anchor])) if self._anchor is not None else ""
        self.dtype = str(self.model.dtype).removeprefix("torch.")
        self.threads = torch.get_num_threads()
        self.batch_size = batch_size
        cfg = self.model.config
        heads = cfg.num_attention_heads
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // heads
        width = self.model.dtype.itemsize
        self._kv_bytes_per_token = 2 * cfg.num_hidden_layers * getattr(cfg, "num_key_value_heads", heads) * head_dim * width
        self._activation_bytes_per_token = 4 * (cfg.intermediate_size + 4 * cfg.hidden_size)
        self._vocab_size = int(cfg.vocab_size)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.tokenizer.eos_token_id
        self._pad_id = int(pad) if pad is not None else 0  # masked out: any id will do

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.get_vocab().get(token)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    def _eos_ids(self) -> set[int]:
        eos = self.tokenizer.eos_token_id
        return set() if eos is None else {int(eos)}

    def _generate(self, reqs: Sequence[GenRequest], capacity: int, stop_ids: set[int]) -> list[Generation]:
        return run_generations(reqs, lambda n: _TorchDecoder(self.model, self.device, n, self._pad_id), capacity,
                               decode=self._decode, stop_ids=stop_ids)

    def _score_token_bytes(self) -> int:
        return self._vocab_size * 4 * 3 + self._activation_bytes_per_token

    @torch.inference_mode()
    def _score_chunk(self, windows: list[Sequence[int]], top_k: int, gathers: list[np.ndarray | None]) -> list[TokenScores]:
        x = torch.tensor([list(w) for w in windows], device=self.device)
        logits = self.model(input_ids=x).logits[:, :-1]
        scores = []
        for row, gather in enumerate(gathers):
            logp = logits[row].float().log_softmax(-1)
            targets = x[row, 1:]
            out = {"target": logp.gather(1, targets[:, None])[:, 0], "argmax": logp.argmax(-1)}
            if top_k:
                vals, idx = logp.topk(top_k, dim=-1)
                out |= {"top_logprobs": vals, "top_ids": idx}
            if gather is not None:
                out["gathered"] = logp.gather(1, torch.as_tensor(gather, device=self.device, dtype=torch.long))
            scores.append(TokenScores(**{k: v.cpu().numpy() for k, v in out.items()}))
        return scores

    def _sequence_bytes(self, tokens: int) -> int:
        return tokens * (self._kv_bytes_per_token + self._activation_bytes_per_token)

    def _free_bytes(self) -> int:
        if self.device.type == "cuda":
            return int(torch.cuda.mem_get_info(self.device)[0])
        return super()._free_bytes()

    def _decode(self, ids: list[int]) -> str:
        # SentencePiece decoders drop the first piece's leading space (a sentence-start convention), but a generated
        # continuation keeps it, as llama.cpp and Code Llama's reference decode infills: decode after an anchor
        # piece and cut the anchor off. Byte-level BPE decodes the same either way.
        if self._anchor is None:
            return str(self.tokenizer.decode(ids, skip_special_tokens=False))
        text = str(self.tokenizer.decode([self._anchor, *ids], skip_special_tokens=False))
        return text[len(self._anchor_text):]

    def reset_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        super().reset_memory()

    def memory(self) -> dict[str, float]:
        if self.device.type == "cuda":
            return {"peak_gpu_mib": torch.cuda.max_memory_allocated(self.device) / 2**20}
        return super().memory()

    def close(self) -> None:
        del self.model


class _TorchDecoder:
    """Up to ``capacity`` sequences in one padded batch: prompts left-padded, an attention mask and per-row positions,
    one forward pass a step. A prompt asked for several times (the n samples of a problem) is prefilled once and its
    cache rows copied. Finished rows leave the batch before the next step."""

    continuous = False

    def __init__(self, model: Any, device: torch.device, capacity: int, pad_id: int) -> None:
        self.model, self.device, self.capacity, self.pad_id = model, device, capacity, pad_id
        self._rows: list[int] = []  # the slot of each cache row
        self._released: set[int] = set()
        self._cache: Any = None
        self._mask = self._pos = torch.empty(0)

    @torch.inference_mode()
    def prefill(self, prompts: Mapping[int, Sequence[int]]) -> dict[int, np.ndarray]:
        slots = list(prompts)
        unique = {prompt: row for row, prompt in enumerate(distinct_prompts(prompts))}  # prompt → its batch row
        width = max(map(len, unique))
        ids = torch.full((len(unique), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(unique), width), dtype=torch.long)
        for prompt, row in unique.items():
            ids[row, width - len(prompt):] = torch.tensor(prompt)
            mask[row, width - len(prompt):] = 1
        pos = (mask.cumsum(-1) - 1).clamp(min=0)
        rows = torch.tensor([unique[tuple(prompts[s])] for s in slots], device=self.device)
        out = self._forward(input_ids=ids.to(self.device), attention_mask=mask.to(self.device),
                            position_ids=pos.to(self.device), use_cache=True, logits_to_keep=1)
        self._cache = out.past_key_values
        if len(unique) < len(slots):
            self._cache.batch_select_indices(rows)
        self._rows, self._mask, self._pos = slots, mask.to(self.device)[rows], pos.to(self.device)[rows, -1] + 1
        return self._split(out.logits[rows, -1])

    @torch.inference_mode()
    def decode(self, tokens: Mapping[int, int]) -> dict[int, np.ndarray]:
        self._compact()
        x = torch.tensor([[tokens[s]] for s in self._rows], device=self.device)
        self._mask = torch.cat([self._mask, self._mask.new_ones((len(self._rows), 1))], dim=1)
        out = self._forward(input_ids=x, attention_mask=self._mask, position_ids=self._pos[:, None],
                            past_key_values=self._cache, use_cache=True)
        self._cache = out.past_key_values
        self._pos = self._pos + 1
        return self._split(out.logits[:, -1])

    def release(self, slot: int) -> None:
        self._released.add(slot)
        if self._released >= set(self._rows):  # the batch is done: drop its cache now
            self._rows, self._cache, self._released = [], None, set()

    def _compact(self) -> None:
        if not self._released:
            return
        keep = [i for i, s in enumerate(self._rows) if s not in self._released]
        index = torch.tensor(keep, device=self.device)
        self._cache.batch_select_indices(index)
        self._mask, self._pos = self._mask[index], self._pos[index]
        self._rows = [self._rows[i] for i in keep]
        self._released = set()

    def _split(self, logits: torch.Tensor) -> dict[int, np.ndarray]:
        rows = logits.float().cpu().numpy()
        return {slot: rows[i] for i, slot in enumerate(self._rows)}

    def _forward(self, **kwargs: Any) -> Any:
        try:
            return self.model(**kwargs)
        except (torch.OutOfMemoryError, MemoryError) as exc:
            raise BatchRetry(f"torch ran out of memory with {kwargs['input_ids'].shape[0]} sequences: {exc}") from None
        except RuntimeError as exc:
            if "can't allocate memory" not in str(exc) and "out of memory" not in str(exc):
                raise
            raise BatchRetry(f"torch ran out of memory with {kwargs['input_ids'].shape[0]} sequences") from None


def _load_with_gptqmodel(path: Path, device: str, dtype: Any) -> Any:
    import os

    os.environ.setdefault("GPTQMODEL_OFFLINE", "1")
    from gptqmodel import BACKEND, GPTQModel

    for name in ("tokenicer", "tokenicer.tokenicer", "gptqmodel"):  # their INFO lines would fill kizami's console
        logging.getLogger(name).setLevel(logging.WARNING)
    wrapper = GPTQModel.load(str(path), backend=BACKEND.TORCH, device=device, dtype=dtype, trust_remote_code=False)
    return wrapper.model.eval()
