"""The stand-in model ``tiny-fcj``: a small Llama 3.1-shaped model with a Llama 3-style tokenizer and FIM tokens.

It ships with kizami so the whole pipeline (and its tests) runs offline in minutes. ``kizami standin train``
re-creates it from the built-in corpus (see ``kizami.standin.train``).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from kizami.errors import KizamiError

__all__ = ["STANDIN_NAME", "standin_path", "resolve_model"]

STANDIN_NAME = "tiny-fcj"


def standin_path() -> Path:
    path = Path(str(resources.files("kizami.standin") / STANDIN_NAME))
    if not (path / "model.safetensors").is_file():
        raise KizamiError(f"the stand-in model is missing from {path}; re-create it with `kizami standin train`")
    return path


def resolve_model(spec: str | Path) -> Path:
    """``tiny-fcj`` names the shipped stand-in; anything else is a local path."""
    return standin_path() if str(spec) == STANDIN_NAME else Path(spec)
