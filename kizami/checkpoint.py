"""Open local Hugging Face checkpoints safely: local files only, no checkpoint code, safetensors only."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kizami.errors import KizamiError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Llama-family causal LMs: what kizami's converters and checks are written for.
SUPPORTED_MODEL_TYPES = ("llama", "mistral", "qwen2", "qwen3")

__all__ = ["SUPPORTED_MODEL_TYPES", "quiet_transformers", "check_hf_dir", "read_config", "load_tokenizer", "tokenizer_digest"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # kizami never fetches weights at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_transformers() -> None:
    """transformers' own progress bars and advice would interleave with kizami's progress display."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def check_hf_dir(path: Path, *, allow_pickle: bool = False) -> Path:
    """Return ``path`` if it is a local HF checkpoint with safetensors weights, else raise a clear error."""
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
            raise KizamiError(f"{path} has only pickle weights ({pickled[0]}); kizami loads safetensors only. "
                              "Convert them with a tool you trust, or pass --allow-pickle to load with weights_only")
        if not pickled:
            raise KizamiError(f"{path} has no *.safetensors weights")
    model_type = read_config(path).get("model_type")
    if model_type not in SUPPORTED_MODEL_TYPES:
        raise KizamiError(f"{path}: model_type {model_type!r} is not supported; kizami handles Llama-family causal LMs "
                          f"({', '.join(SUPPORTED_MODEL_TYPES)})")
    return path


def read_config(path: Path) -> dict[str, Any]:
    try:
        data = json.loads((Path(path) / "config.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise KizamiError(f"{path}/config.json is unreadable ({exc}); the checkpoint is damaged") from None
    if not isinstance(data, dict):
        raise KizamiError(f"{path}/config.json is not a JSON object")
    return data


def load_tokenizer(path: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    quiet_transformers()
    path = Path(path)
    if not (path / "tokenizer.json").is_file() and not (path / "tokenizer_config.json").is_file():
        raise KizamiError(f"{path} has no tokenizer (tokenizer.json); point --tokenizer at the source checkpoint")
    try:
        return AutoTokenizer.from_pretrained(str(path), trust_remote_code=False, local_files_only=True)
    except (OSError, ValueError) as exc:
        raise KizamiError(f"could not load the tokenizer in {path}: {exc}") from None


def tokenizer_digest(path: Path) -> str:
    from kizami.manifest import sha256_file

    tok = Path(path) / "tokenizer.json"
    return sha256_file(tok) if tok.is_file() else ""
