"""The per-layer map of a mixed-precision build's chosen types, as the reports draw it (rows: layers, columns: the
weight kinds). Reads only ``kizami.core.constants``: drawing a report imports no converter."""

from __future__ import annotations

from collections.abc import Mapping

from kizami.core.constants import LAYER_KINDS, TENSOR_TYPES

__all__ = ["layer_of", "type_grid", "type_bits"]


def layer_of(name: str) -> tuple[str, str]:
    """(row, column) of a tensor in the per-layer heat map: ("3", "attn_q"), ("", "token_embd")."""
    parts = name.split(".")
    return (parts[1], parts[2]) if parts[0] == "blk" else ("", parts[0])


def type_grid(tensor_types: Mapping[str, str]) -> tuple[list[str], list[tuple[str, list[str]]]]:
    """The chosen types as a table: columns (tensor kinds), rows (layer label, type per column; "" where none) —
    the embeddings and the output matrix in rows of their own."""
    columns = list(LAYER_KINDS)
    layers: dict[str, dict[str, str]] = {}
    for name, gtype in tensor_types.items():
        row, col = layer_of(name)
        layers.setdefault(row or col, {})[col if row else columns[0]] = gtype
    ordered = sorted(layers, key=lambda r: (not r.isdigit(), int(r) if r.isdigit() else 0, r != "token_embd"))
    rows = [(f"layer {r}" if r.isdigit() else r, [layers[r].get(c, "") for c in columns]) for r in ordered]
    return columns, rows


def type_bits(gtype: str) -> float:
    """Bits per weight of a per-tensor type: a GGUF type's block size, or a GPTQ width ``w3`` (codes only)."""
    return float(gtype[1:]) if gtype.startswith("w") and gtype[1:].isdigit() else TENSOR_TYPES.get(gtype, float("nan"))
