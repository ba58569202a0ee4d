"""Size on disk and bits per weight."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from kizami.core.manifest import MANIFEST_NAME, WEIGHT_SUFFIXES
from kizami.runtime.metrics import Metric, MetricContext, cell, dig, num
from kizami.runtime.result import EvalResult

__all__ = ["size", "size_bytes", "bits_per_weight", "SIZE"]


def size(build: Path, n_params: int) -> dict[str, Any]:
    """Bytes on disk and bits per weight; for a mixed-precision build also its budget and the type of each tensor
    (from its manifest), which the report draws as a per-layer map."""
    weight_bytes = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    total = sum(p.stat().st_size for p in Path(build).rglob("*") if p.is_file())
    out: dict[str, Any] = {"bytes": total, "weight_bytes": weight_bytes, "params": n_params,
           "bits_per_weight": 8 * weight_bytes / n_params if n_params else None}
    manifest_file = Path(build) / MANIFEST_NAME
    if manifest_file.is_file():
        params = json.loads(manifest_file.read_text(encoding="utf-8")).get("parameters", {})
        if "budget_bpw" in params:
            out["mixed"] = {k: params.get(k) for k in ("budget_bpw", "bpw", "predicted_kld", "sensitivity", "tensor_types")}
    return out


def size_bytes(result: EvalResult) -> int | None:
    size = dig(result.section("size"), "bytes")
    return None if size is None else int(size)


def bits_per_weight(result: EvalResult) -> float | None:
    return num(dig(result.section("size"), "bits_per_weight"))


class Size(Metric):
    """Bytes on disk and bits per weight (and a mixed-precision build's type per tensor, which the reports map)."""

    name: ClassVar[str] = "size"
    columns: ClassVar[tuple[str, ...]] = ("size MiB", "bits/w")

    def run(self, ctx: MetricContext) -> dict[str, Any]:
        return size(ctx.build, ctx.n_params)

    def cells(self, result: EvalResult) -> list[str]:
        b = size_bytes(result)
        return [cell(b / 2**20 if b else None, ".1f"), cell(bits_per_weight(result), ".2f")]

    def summary(self, result: EvalResult) -> list[tuple[str, str]]:
        s = result.section("size")
        return [("size", f"{s['bytes'] / 2**20:.1f} MiB · {s['bits_per_weight']:.2f} bits/weight")] if s else []


SIZE = Size()
