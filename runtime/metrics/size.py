"""Size on disk and bits per weight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["size"]

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".onnx.data", ".data")


def size(build: Path, n_params: int) -> dict[str, Any]:
    weight_bytes = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    total = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file())
    return {"bytes": total, "weight_bytes": weight_bytes, "params": n_params,
            "bits_per_weight": 8 * weight_bytes / n_params if n_params else None}
