"""Load a checkpoint's tokenizer safely (local files only, no checkpoint code) and fingerprint it.

Neutral ground: the calibration builder, the runtime and the converters all tokenize with the source's tokenizer.
"""

from __future__ import annotations

import hashlib
import logging
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING

from kizami.core.errors import KizamiError

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

__all__ = ["quiet_transformers", "load_tokenizer", "tokenizer_digest"]

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # kizami never fetches weights at run time
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def quiet_transformers() -> None:
    """transformers' own progress bars and advice would interleave with kizami's progress display."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    # the engines' own deprecation notices are for their developers, not kizami's users
    for category in (FutureWarning, DeprecationWarning):
        warnings.filterwarnings("ignore", category=category, module=r"(transformers|torch|torchao|gptqmodel|optimum)\.")
    # transformers imports torchao, which warns about GPU kernels a CPU machine cannot have, and torch about its enums
    for name in ("torchao", "torch.utils._pytree"):
        logging.getLogger(name).setLevel(logging.ERROR)


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
    """sha256 of ``tokenizer.json`` ("" when the folder has none): two sets packed with it hold the same ids."""
    tok = Path(path) / "tokenizer.json"
    return hashlib.sha256(tok.read_bytes()).hexdigest() if tok.is_file() else ""
