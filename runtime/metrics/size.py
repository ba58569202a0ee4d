"""Size on disk and bits per weight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kizami.errors import KizamiError

__all__ = ["count_parameters", "size"]

_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".onnx.data", ".data")


def count_parameters(model_dir: Path) -> int:
    """Parameters of a safetensors checkpoint, read from the file headers only (no tensor data is loaded)."""
    from kizami.checkpoint import safetensors_header

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


def size(build: Path, n_params: int) -> dict[str, Any]:
    weight_bytes = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file() and p.name.endswith(_WEIGHT_SUFFIXES))
    total = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file())
    return {"bytes": total, "weight_bytes": weight_bytes, "params": n_params,
            "bits_per_weight": 8 * weight_bytes / n_params if n_params else None}
