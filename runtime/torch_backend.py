"""The torch/transformers backend: the bf16 reference, fp32, and any checkpoint transformers loads (GPTQ, AWQ)."""

from __future__ import annotations

import contextlib
import io
import logging
import pickle
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from kizami.checkpoint import check_hf_dir, read_config
from kizami.errors import KizamiError
from kizami.fim_dialects import detect
from kizami.runtime.backend import STOP_TOKENS, Caps, Generation, GenRequest, TokenScores
from kizami.runtime.decoding import run_generation
from kizami.runtime.memory import peak_rss_mib, reset_peak_rss
from kizami.tokenizer import load_tokenizer, quiet_transformers

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


class TorchBackend:
    name = "torch"

    def __init__(self, path: Path, *, device: str = "cpu", threads: int | None = None, dtype: str = "auto",
                 allow_pickle: bool = False) -> None:
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

    def token_id(self, token: str) -> int | None:
        return self.tokenizer.get_vocab().get(token)

    def tokenize(self, texts: Sequence[str]) -> list[list[int]]:
        return [self.tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]

    @torch.inference_mode()
    def score(self, ids: Sequence[int], *, top_k: int = 0, gather: np.ndarray | None = None) -> TokenScores:
        x = torch.tensor([list(ids)], device=self.device)
        logp = self.model(input_ids=x).logits[0, :-1].float().log_softmax(-1)
        targets = x[0, 1:]
        out = {"target": logp.gather(1, targets[:, None])[:, 0], "argmax": logp.argmax(-1)}
        if top_k:
            vals, idx = logp.topk(top_k, dim=-1)
            out |= {"top_logprobs": vals, "top_ids": idx}
        if gather is not None:
            out["gathered"] = logp.gather(1, torch.as_tensor(gather, device=self.device, dtype=torch.long))
        return TokenScores(**{k: v.cpu().numpy() for k, v in out.items()})

    def generate(self, reqs: Sequence[GenRequest]) -> list[Generation]:
        stop_ids = {i for t in STOP_TOKENS if (i := self.token_id(t)) is not None}
        if self.tokenizer.eos_token_id is not None:
            stop_ids.add(int(self.tokenizer.eos_token_id))
        return [run_generation(r, start=self._start, step=self._step, stop_ids=stop_ids,
                               decode=self._decode) for r in reqs]

    def _decode(self, ids: list[int]) -> str:
        # SentencePiece decoders drop the first piece's leading space (a sentence-start convention), but a generated
        # continuation keeps it, as llama.cpp and Code Llama's reference decode infills: decode after an anchor
        # piece and cut the anchor off. Byte-level BPE decodes the same either way.
        if self._anchor is None:
            return str(self.tokenizer.decode(ids, skip_special_tokens=False))
        text = str(self.tokenizer.decode([self._anchor, *ids], skip_special_tokens=False))
        return text[len(self._anchor_text):]

    @torch.inference_mode()
    def _start(self, prompt: list[int]) -> np.ndarray:
        out = self.model(input_ids=torch.tensor([prompt], device=self.device), use_cache=True, logits_to_keep=1)
        self._past = out.past_key_values
        return out.logits[0, -1].float().cpu().numpy()

    @torch.inference_mode()
    def _step(self, token: int) -> np.ndarray:
        out = self.model(input_ids=torch.tensor([[token]], device=self.device), past_key_values=self._past, use_cache=True)
        self._past = out.past_key_values
        return out.logits[0, -1].float().cpu().numpy()

    def reset_memory(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(self.device)
        reset_peak_rss()

    def memory(self) -> dict[str, float]:
        if self.device.type == "cuda":
            return {"peak_gpu_mib": torch.cuda.max_memory_allocated(self.device) / 2**20}
        return {"peak_rss_mib": peak_rss_mib()}

    def close(self) -> None:
        del self.model



def _load_with_gptqmodel(path: Path, device: str, dtype: Any) -> Any:
    import os

    os.environ.setdefault("GPTQMODEL_OFFLINE", "1")
    from gptqmodel import BACKEND, GPTQModel

    for name in ("tokenicer", "tokenicer.tokenicer", "gptqmodel"):  # their INFO lines would fill kizami's console
        logging.getLogger(name).setLevel(logging.WARNING)
    wrapper = GPTQModel.load(str(path), backend=BACKEND.TORCH, device=device, dtype=dtype, trust_remote_code=False)
    return wrapper.model.eval()
