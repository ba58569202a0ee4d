"""The stand-in models shipped with kizami, so the whole pipeline (and its tests) runs offline in minutes.

- ``tiny-fcj``: a small Llama 3.1-shaped model with a Llama 3-style tokenizer and FIM tokens (the default).
- ``tiny-codellama``: a small Code Llama-shaped model: Llama 2-style SentencePiece tokenizer with Code Llama's
  ``▁<PRE> ▁<SUF> ▁<MID> ▁<EOT>``, rope θ 1e6, 16k positions, trained with PSM + SPM FIM up to 4k tokens.

``kizami standin train`` re-creates them from the built-in corpus (see ``kizami.standin.train``).
"""

from __future__ import annotations

import difflib
from importlib import resources
from pathlib import Path

from kizami.core.errors import KizamiError, UnknownName

__all__ = ["STANDIN_NAME", "STANDIN_NAMES", "standin_path", "resolve_model"]

STANDIN_NAME = "tiny-fcj"
STANDIN_NAMES = ("tiny-fcj", "tiny-codellama")


def standin_path(name: str = STANDIN_NAME) -> Path:
    if name not in STANDIN_NAMES:
        close = difflib.get_close_matches(name, STANDIN_NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownName(f"unknown stand-in {name!r}.{hint} Available: {', '.join(STANDIN_NAMES)}")
    path = Path(str(resources.files("kizami.standin") / name))
    if not (path / "model.safetensors").is_file():
        how = "kizami standin train" if name == STANDIN_NAME else f"kizami standin train --model {name}"
        raise KizamiError(f"the stand-in model {name} is missing from {path}; re-create it with `{how}`")
    return path


def resolve_model(spec: str | Path) -> Path:
    """A stand-in's name (``tiny-fcj``, ``tiny-codellama``) names the shipped model; anything else is a local path."""
    return standin_path(str(spec)) if str(spec) in STANDIN_NAMES else Path(spec)
