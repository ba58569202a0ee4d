"""Open local Hugging Face checkpoints safely: local files only, no checkpoint code, safetensors only."""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from kizami.core.errors import KizamiError

# Llama-family causal LMs: what kizami's converters and checks are written for.
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")

__all__ = ["SUPPORTED_MODEL_TYPES", "check_hf_dir", "read_config", "safetensors_header", "count_parameters", "chat_template",
           "render_chat"]

# The dtypes an unquantized Llama checkpoint stores its weights in.
_FLOAT_DTYPES = {"F16", "BF16", "F32"}
_DTYPE_BYTES = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "U32": 4, "I16": 2, "U16": 2, "I8": 1,
                "U8": 1, "BOOL": 1, "F8_E4M3": 1, "F8_E5M2": 1}





def check_hf_dir(path: Path, *, allow_pickle: bool = False) -> Path:
    """Return ``path`` (absolute) if it is a local HF checkpoint with safetensors weights, else raise a clear error."""
    path = Path(path)
    if not path.exists():
        raise KizamiError(f"{path} does not exist; give a local Hugging Face checkpoint folder (config.json + *.safetensors)")
    if not path.is_dir():
        raise KizamiError(f"{path} is not a folder; give a local Hugging Face checkpoint folder (config.json + *.safetensors)")
    if not (path / "config.json").is_file():
        raise KizamiError(f"{path} has no config.json; is it a Hugging Face checkpoint folder?")
    if not any(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        if pickled and not allow_pickle:
            raise KizamiError(f"{path} has only pickle weights ({pickled[0]}), which can run code when loaded; kizami "
                              "reads safetensors only: convert them with a tool you trust (the Python API's "
                              "open_build(path, allow_pickle=True) loads them with torch's weights_only)")
        if not pickled:
            raise KizamiError(f"{path} has no *.safetensors weights")
    config = read_config(path)
    model_type = config.get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise KizamiError(f"{path}: model_type {model_type!r} is not supported; kizami handles Llama-family causal LMs "
                          f"({', '.join(SUPPORTED_MODEL_TYPES)})")
    _check_weights(path, config)
    template = chat_template(path)
    if template:
        render_chat(template, path=path)  # refuses a template that reaches outside the sandbox
    return path.absolute()  # engines run in their own working folders


def safetensors_header(file: Path) -> dict[str, Any]:
    """The tensor table of a safetensors file (name -> dtype, shape, data_offsets), read without loading any data.

    Raises if the header is malformed or a tensor's bytes lie past the end of the file (a truncated download).
    """
    file = Path(file)
    try:
        size = file.stat().st_size
        with open(file, "rb") as fh:
            (n,) = struct.unpack("<Q", fh.read(8))
            if n > size - 8:
                raise ValueError("header longer than the file")
            header = json.loads(fh.read(n))
        if not isinstance(header, dict):
            raise ValueError("header is not a JSON object")
        header.pop("__metadata__", None)
        for name, info in header.items():
            begin, end = info["data_offsets"]
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
            if not 0 <= int(begin) <= int(end) or int(end) - int(begin) != count * _DTYPE_BYTES.get(info["dtype"], 0):
                raise ValueError(f"tensor {name!r}: {info['dtype']} {info['shape']} does not fit offsets {begin}..{end}")
            if 8 + n + int(end) > size:
                raise ValueError(f"tensor {name!r} ends past the end of the file (truncated: {size} bytes)")
    except (OSError, struct.error, ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError) as exc:
        raise KizamiError(f"{file} is not a readable safetensors file ({exc}); the checkpoint is damaged or "
                          "truncated: download or convert it again") from None
    return header


def count_parameters(model_dir: Path) -> int:
    """Parameters of a safetensors checkpoint, read from the file headers only (no tensor data is loaded)."""
    files = sorted(Path(model_dir).glob("*.safetensors"))
    if not files:
        raise KizamiError(f"{model_dir}: no *.safetensors to count parameters from")
    total = 0
    for f in files:
        for info in safetensors_header(f).values():
            count = 1
            for dim in info["shape"]:
                count *= int(dim)
            total += count
    return total


def _check_weights(path: Path, config: dict[str, Any]) -> None:
    """Header-only checks that catch a truncated, mis-typed or mismatched checkpoint before hours of work start."""
    tensors: dict[str, Any] = {}
    for file in sorted(path.glob("*.safetensors")):
        tensors |= safetensors_header(file)
    if "quantization_config" in config:
        return  # GPTQ/AWQ builds store packed integer weights
    odd = next(((n, t["dtype"]) for n, t in tensors.items() if t["dtype"] not in _FLOAT_DTYPES), None)
    if odd:
        raise KizamiError(f"{path}: tensor {odd[0]} is {odd[1]}, not F16/BF16/F32; give the unquantized checkpoint "
                          "(a quantized one needs its quantization_config in config.json)")
    embed = next((t for n, t in tensors.items() if n.endswith("embed_tokens.weight")), None)
    want = [config.get("vocab_size"), config.get("hidden_size")]
    if embed is not None and None not in want and list(embed["shape"]) != want:
        raise KizamiError(f"{path}: embed_tokens is {embed['shape']} but config.json says vocab_size x hidden_size = "
                          f"{want}; the weights and config.json belong to different models")


def chat_template(path: Path) -> str:
    """The checkpoint's chat template (chat_template.jinja, else tokenizer_config.json), or "" when it has none."""
    path = Path(path)
    if (path / "chat_template.jinja").is_file():
        return (path / "chat_template.jinja").read_text(encoding="utf-8", errors="replace")
    try:
        cfg = json.loads((path / "tokenizer_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ""
    template = cfg.get("chat_template") if isinstance(cfg, dict) else None
    return template if isinstance(template, str) else ""


_SAMPLE_CHAT = ({"role": "user", "content": "def fib(n): を説明して"},)


def render_chat(template: str, messages: Sequence[Mapping[str, str]] = _SAMPLE_CHAT, *, path: Path | None = None,
                **variables: Any) -> str:
    """Render a chat template from a checkpoint in jinja2's immutable sandbox (never plain jinja2: it runs Python).

    A template that reaches for attributes the sandbox forbids is refused; one that merely fails on this conversation
    (many raise on purpose for unexpected roles) renders as "".
    """
    import datetime

    from jinja2 import TemplateError
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    def raise_exception(message: str) -> None:
        raise TemplateError(message)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=["jinja2.ext.loopcontrols"])
    env.globals |= {"raise_exception": raise_exception,
                    "strftime_now": lambda fmt: datetime.datetime.now().strftime(str(fmt))}
    where = f"{path}: " if path else ""
    try:
        return env.from_string(template).render(messages=list(messages), add_generation_prompt=True,
                                                bos_token="<|begin_of_text|>", eos_token="<|eot_id|>", **variables)
    except SecurityError as exc:
        raise KizamiError(f"{where}the chat template tries an unsafe operation ({exc}); kizami refuses to carry it "
                          "into builds: remove or fix chat_template in tokenizer_config.json") from None
    except (TemplateError, TypeError, ValueError, KeyError, IndexError, AttributeError, ZeroDivisionError):
        return ""


def read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KizamiError(f"{path}/config.json is unreadable ({exc}); the checkpoint is damaged") from None
    if not isinstance(data, dict):
        raise KizamiError(f"{path}/config.json is not a JSON object")
    return data



