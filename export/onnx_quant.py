"""Carry a GPTQ/AWQ build's integers into onnxruntime's MatMulNBits exactly.

onnxruntime-genai's builder reads a GPTQ/AWQ folder by dequantizing every layer and quantizing it again with the
same scales (``loaders/base.py`` ``dequant_weight`` then ``quant_weight``), which could move a weight to the next
integer (measured: it does not, with fp16 scales), and it rounds the float ``lm_head`` to int4 at ``block_size``
unless told not to. This module reads the source's packed tensors through their files (``config.json``
``quantization_config`` + safetensors, no quantization library), unpacks them to one canonical form (integers
``q[N, K]``, scales ``s[N, G]``, zero points ``z[N, G]``, the group of each input column), checks the builder's
MatMulNBits nodes against them layer by layer, and can write them into those nodes without any arithmetic on the
weights.

Representable: GPTQ (``checkpoint_format`` gptq or gptq_v2) with 4 or 8 bits, AWQ ``gemm`` with 4 bits; group size a
multiple of 16 (or -1, one group per row) whose MatMulNBits block (16-256, a power of two) divides it; act-order
(``desc_act``) GPTQ carries its ``g_idx`` into MatMulNBits' ``g_idx`` input.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kizami.core.checkpoint import read_config
from kizami.core.errors import KizamiError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["REPRESENTABLE", "QuantLinear", "SourceQuant", "check_source", "dequantize", "read_source",
           "LayerDiff", "compare_layers", "pack_matmulnbits", "unpack_matmulnbits", "onnx_layers",
           "write_source_weights"]

MATMULNBITS_BLOCKS = (256, 128, 64, 32, 16)  # block sizes MatMulNBits takes, largest first
REPRESENTABLE = ("GPTQ 4 or 8 bits (checkpoint_format gptq or gptq_v2, act-order allowed), AWQ gemm 4 bits; "
                 "group size -1 or a multiple of 16")
_METHOD_BITS = {"gptq": (4, 8), "awq": (4,)}
_AWQ_ORDER = (0, 2, 4, 6, 1, 3, 5, 7)  # AWQ gemm: nibble i of a packed word holds column order[i]
# The builder's fused MatMul nodes for Llama-family models, and the source projections they concatenate along N.
_NODE_SOURCES = {"attn/qkv_proj": ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"),
                 "attn/q_proj": ("self_attn.q_proj",), "attn/k_proj": ("self_attn.k_proj",),
                 "attn/v_proj": ("self_attn.v_proj",), "attn/o_proj": ("self_attn.o_proj",),
                 "mlp/gate_up_proj": ("mlp.gate_proj", "mlp.up_proj"), "mlp/gate_proj": ("mlp.gate_proj",),
                 "mlp/up_proj": ("mlp.up_proj",), "mlp/down_proj": ("mlp.down_proj",)}
_NODE_RE = re.compile(r"^/model/layers\.(\d+)/(attn|mlp)/(\w+)/MatMulNBits$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceQuant:
    """What a GPTQ/AWQ folder's ``quantization_config`` says about its packed tensors."""

    method: str  # gptq | awq
    bits: int
    group_size: int  # -1: one group per row
    zero_offset: int  # GPTQ v1 stores zero points minus one
    desc_act: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QuantLinear:
    """One quantized linear layer in canonical form: ``w[n, k] = (q[n, k] - z[n, g[k]]) * s[n, g[k]]``."""

    q: npt.NDArray[np.uint8]  # [N, K]
    scales: npt.NDArray[np.float32]  # [N, G], exactly the source's values
    zeros: npt.NDArray[np.uint8]  # [N, G]
    g_idx: npt.NDArray[np.int32]  # [K]: the group of each input column
    bits: int

    @property
    def trivial_groups(self) -> bool:
        k, g = self.q.shape[1], self.scales.shape[1]
        return k % g == 0 and bool(np.array_equal(self.g_idx, np.arange(k) // (k // g)))


def check_source(path: Path) -> SourceQuant:
    """Read and check ``path``'s quantization config; raise naming what MatMulNBits can represent."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise KizamiError(f"--from-build {path}: no config.json; give a GPTQ or AWQ build folder ({REPRESENTABLE})")
    qc = read_config(path).get("quantization_config")
    if not isinstance(qc, dict):
        raise KizamiError(f"--from-build {path}: config.json has no quantization_config; is it a GPTQ or AWQ build? "
                          f"The ONNX export can carry: {REPRESENTABLE}")
    method = str(qc.get("quant_method", "")).lower()
    fmt = str(qc.get("checkpoint_format", qc.get("format", qc.get("version", "")))).lower()
    bits, group = qc.get("bits"), qc.get("group_size", -1)
    problem = ""
    if method not in _METHOD_BITS:
        problem = f"quant_method {method!r}"
    elif method == "gptq" and fmt not in ("gptq", "gptq_v2", ""):
        problem = f"GPTQ checkpoint_format {fmt!r}"
    elif method == "awq" and fmt not in ("gemm", ""):
        problem = f"AWQ format {fmt!r}"
    elif bits not in _METHOD_BITS[method]:
        problem = f"{method.upper()} {bits}-bit"
    elif not isinstance(group, int) or not (group == -1 or (group > 0 and group % 16 == 0)):
        problem = f"group size {group!r}"
    elif qc.get("dynamic"):
        problem = "per-layer overrides (dynamic)"
    if problem:
        raise KizamiError(f"--from-build {path}: {problem} cannot be carried into ONNX MatMulNBits; it can represent "
                          f"{REPRESENTABLE}. Re-quantize with one of those, or export from the checkpoint instead")
    return SourceQuant(method=method, bits=int(bits or 0), group_size=int(group or 0),
                       zero_offset=1 if method == "gptq" and fmt != "gptq_v2" else 0,
                       desc_act=bool(qc.get("desc_act", False)))


def _unpack_rows(packed: npt.NDArray[np.int32], bits: int) -> npt.NDArray[np.uint8]:
    """int32 words packed along axis 0 (GPTQ qweight) → one value per row, low bits first."""
    per, mask = 32 // bits, (1 << bits) - 1
    words = packed.view(np.uint32)
    out = np.stack([(words >> (bits * i)) & mask for i in range(per)], axis=1)  # [rows, per, cols]
    return out.reshape(-1, packed.shape[1]).astype(np.uint8)


def _unpack_cols(packed: npt.NDArray[np.int32], bits: int, order: tuple[int, ...] | None = None) -> npt.NDArray[np.uint8]:
    """int32 words packed along axis 1 (GPTQ qzeros, AWQ qweight/qzeros) → one value per column."""
    per, mask = 32 // bits, (1 << bits) - 1
    words = packed.view(np.uint32)
    nibbles = np.stack([(words >> (bits * i)) & mask for i in range(per)], axis=2)  # [rows, cols, per]
    if order is not None:
        nibbles = nibbles[:, :, np.argsort(order)]  # position p holds column order[p]
    return nibbles.reshape(packed.shape[0], -1).astype(np.uint8)


class _Tensors:
    """The source's safetensors, read lazily by name (torch is only the reader: AWQ may store bf16 scales)."""

    def __init__(self, folder: Path) -> None:
        from safetensors import safe_open

        self._files = {}
        for file in sorted(folder.glob("*.safetensors")):
            with safe_open(str(file), "pt") as fh:
                for key in fh.keys():  # noqa: SIM118 - safe_open has no iterator
                    self._files[key] = file

    def __contains__(self, name: str) -> bool:
        return name in self._files

    def get(self, name: str) -> npt.NDArray[Any]:
        import torch
        from safetensors import safe_open

        with safe_open(str(self._files[name]), "pt") as fh:
            t = fh.get_tensor(name)
        return (t.float() if t.is_floating_point() else t.to(torch.int32)).numpy()

    def prefixes(self) -> list[str]:
        return sorted(k.removesuffix(".qweight") for k in self._files if k.endswith(".qweight"))


def _read_linear(t: _Tensors, prefix: str, src: SourceQuant) -> QuantLinear:
    scales = np.ascontiguousarray(t.get(f"{prefix}.scales").T, dtype=np.float32)  # [G, N] → [N, G]
    if src.method == "gptq":
        q = _unpack_rows(t.get(f"{prefix}.qweight"), src.bits).T  # [K, N] → [N, K]
        zeros = (_unpack_cols(t.get(f"{prefix}.qzeros"), src.bits).astype(np.int32) + src.zero_offset) & ((1 << src.bits) - 1)
        g_idx = t.get(f"{prefix}.g_idx") if f"{prefix}.g_idx" in t else None
    else:
        q = _unpack_cols(t.get(f"{prefix}.qweight"), src.bits, _AWQ_ORDER).T
        zeros = _unpack_cols(t.get(f"{prefix}.qzeros"), src.bits, _AWQ_ORDER).astype(np.int32)
        g_idx = None
    n, k = q.shape
    groups = scales.shape[1]
    if zeros.shape[1] < n or scales.shape[0] != n:
        raise KizamiError(f"{prefix}: qzeros/scales do not match qweight ({n} outputs); the source build is damaged, "
                          "re-quantize it")
    if g_idx is None:
        g_idx = np.arange(k) // (k // groups)
    return QuantLinear(q=np.ascontiguousarray(q), scales=scales, zeros=np.ascontiguousarray(zeros[:, :n].T, np.uint8),
                       g_idx=np.asarray(g_idx, np.int32), bits=src.bits)


def read_source(folder: Path) -> tuple[SourceQuant, dict[str, QuantLinear]]:
    """Every quantized linear layer of a GPTQ/AWQ folder, by its module name (``model.layers.0.self_attn.q_proj``)."""
    src = check_source(folder)
    t = _Tensors(Path(folder))
    return src, {p: _read_linear(t, p, src) for p in t.prefixes()}


def dequantize(layer: QuantLinear) -> npt.NDArray[np.float32]:
    """``w[N, K]`` in float32; exact (a ≤ 8-bit integer times an fp16/bf16 scale fits float32's mantissa)."""
    cols = layer.g_idx
    return ((layer.q.astype(np.float32) - layer.zeros[:, cols].astype(np.float32)) * layer.scales[:, cols]).astype(np.float32)


def _block_for(layer: QuantLinear) -> int:
    k, g = layer.q.shape[1], layer.scales.shape[1]
    span = k // g if k % g == 0 else 0  # inputs per group (act-order too: MatMulNBits' g_idx keeps each column's group)
    for block in MATMULNBITS_BLOCKS:
        if span and span % block == 0 and k % block == 0:
            return block
    raise KizamiError(f"a layer with {k} inputs in {g} groups has no MatMulNBits block size (16-256, a power of two) "
                      f"that divides its groups; it can represent {REPRESENTABLE}")


def pack_matmulnbits(layer: QuantLinear) -> dict[str, Any]:
    """The MatMulNBits initializers and attributes for ``layer``: no arithmetic on the weights, only re-packing.

    Returns ``qweight`` (uint8 [N, K/block, block*bits/8]), ``scales`` (float32 [N*K/block]), ``qzeros`` (uint8),
    ``g_idx`` (int32 [K] or None) and ``block_size``.
    """
    n, k = layer.q.shape
    block = _block_for(layer)
    blocks = k // block
    g_idx = None
    if layer.trivial_groups:
        rep = (k // layer.scales.shape[1]) // block  # a source group spans `rep` MatMulNBits blocks: repeat its scale
        scales, zeros = np.repeat(layer.scales, rep, axis=1), np.repeat(layer.zeros, rep, axis=1)
    else:
        scales, zeros, g_idx = layer.scales, layer.zeros, layer.g_idx
        if scales.shape[1] != blocks:
            raise KizamiError(f"act-order layer with {scales.shape[1]} groups over {k} inputs: MatMulNBits needs one "
                              f"group per {block} inputs; it can represent {REPRESENTABLE}")
    q = layer.q.reshape(n, blocks, block)
    if layer.bits == 4:
        packed = (q[..., 0::2] | (q[..., 1::2] << 4)).astype(np.uint8)
        zpad = np.pad(zeros, ((0, 0), (0, blocks % 2)))
        qzeros = (zpad[:, 0::2] | (zpad[:, 1::2] << 4)).astype(np.uint8).reshape(-1)
    else:
        packed, qzeros = q.astype(np.uint8), zeros.astype(np.uint8).reshape(-1)
    return {"qweight": np.ascontiguousarray(packed), "scales": np.ascontiguousarray(scales, np.float32).reshape(-1),
            "qzeros": qzeros, "g_idx": g_idx, "block_size": block}


def unpack_matmulnbits(qweight: npt.NDArray[np.uint8], scales: npt.NDArray[Any], qzeros: npt.NDArray[np.uint8] | None,
                       g_idx: npt.NDArray[np.int32] | None, *, k: int, n: int, bits: int, block: int) -> QuantLinear:
    """A MatMulNBits node's initializers back in canonical form (for comparing a build with its source)."""
    blocks = -(-k // block)
    raw = qweight.reshape(n, blocks, -1)
    if bits == 4:
        q = np.stack([raw & 0xF, raw >> 4], axis=-1).reshape(n, -1)[:, :k]
    else:
        q = raw.reshape(n, -1)[:, :k]
    s = np.asarray(scales, np.float32).reshape(n, -1)
    groups = s.shape[1]
    if qzeros is None:
        z = np.full((n, groups), 1 << (bits - 1), np.uint8)
    elif bits == 4:
        zz = qzeros.reshape(n, -1)
        z = np.stack([zz & 0xF, zz >> 4], axis=-1).reshape(n, -1)[:, :groups]  # type: ignore[assignment]
    else:
        z = qzeros.reshape(n, groups)
    gi = np.arange(k, dtype=np.int32) // block if g_idx is None else np.asarray(g_idx, np.int32)
    return QuantLinear(q=q.astype(np.uint8), scales=s, zeros=z.astype(np.uint8), g_idx=gi, bits=bits)


def _node_sources(node_name: str) -> tuple[int, tuple[str, ...]] | None:
    m = _NODE_RE.match(node_name)
    if not m:
        return None
    sources = _NODE_SOURCES.get(f"{m.group(2)}/{m.group(3)}")
    return (int(m.group(1)), sources) if sources else None


def _concat(parts: list[QuantLinear]) -> QuantLinear:
    if len(parts) == 1:
        return parts[0]
    if any(not np.array_equal(p.g_idx, parts[0].g_idx) for p in parts):
        raise KizamiError("fused projections (q/k/v or gate/up) have different act-order permutations; MatMulNBits "
                          "fuses them into one node with one g_idx: re-quantize with desc_act off")
    return QuantLinear(q=np.concatenate([p.q for p in parts]), scales=np.concatenate([p.scales for p in parts]),
                       zeros=np.concatenate([p.zeros for p in parts]), g_idx=parts[0].g_idx, bits=parts[0].bits)


def onnx_layers(model_file: Path) -> Iterator[tuple[str, QuantLinear, int]]:
    """Every MatMulNBits node of an ONNX build, unpacked one at a time: (node name, layer, block size)."""
    import onnx_ir as ir

    model = ir.load(str(model_file))
    for node in model.graph:
        if node.op_type != "MatMulNBits":
            continue
        attrs = {name: a.value for name, a in node.attributes.items()}
        vals = [None if v is None or v.const_value is None else v.const_value.numpy() for v in node.inputs]
        vals += [None] * (5 - len(vals))
        if vals[1] is None or vals[2] is None:
            raise KizamiError(f"{model_file}: MatMulNBits node {node.name} has no constant weights or scales")
        layer = unpack_matmulnbits(vals[1], vals[2], vals[3], vals[4], k=int(attrs["K"]), n=int(attrs["N"]),
                                   bits=int(attrs["bits"]), block=int(attrs["block_size"]))
        yield str(node.name), layer, int(attrs["block_size"])


@dataclass(frozen=True, slots=True, kw_only=True)
class LayerDiff:
    """One MatMulNBits node against the source layers it was made from (dequantized, float32)."""

    node: str
    shape: tuple[int, int]
    block_size: int
    mismatched: float  # fraction of weights whose dequantized value differs
    max_abs: float
    rel_err: float  # ‖w_onnx − w_source‖ / ‖w_source‖


def compare_layers(source: Path, model_file: Path) -> Iterator[LayerDiff | tuple[str, int]]:
    """Dequantize each decoder MatMulNBits node and its source layers and compare; nodes without a source (an
    int4/int8 ``lm_head``) come back as ``(node name, block size)``."""
    src = check_source(source)
    t = _Tensors(Path(source))
    for name, layer, block in onnx_layers(model_file):
        found = _node_sources(name)
        if found is None:
            yield name, block
            continue
        ref = _concat([_read_linear(t, f"model.layers.{found[0]}.{n}", src) for n in found[1]])
        a, b = dequantize(ref), dequantize(layer)
        if a.shape != b.shape:
            raise KizamiError(f"ONNX node {name} has shape {b.shape}, its source layers {a.shape}")
        d = np.abs(a - b)
        yield LayerDiff(node=name, shape=(int(a.shape[0]), int(a.shape[1])), block_size=block,
                        mismatched=float((d > 0).mean()), max_abs=float(d.max()),
                        rel_err=float(np.linalg.norm(a - b) / max(float(np.linalg.norm(a)), 1e-30)))


def write_source_weights(stage: Path, source: Path, *, model_name: str = "model.onnx") -> int:
    """Replace every decoder MatMulNBits node's initializers in ``stage/model_name`` with the integers, scales and
    zero points of the GPTQ/AWQ folder ``source``, read one layer at a time.

    Every node the builder made from a decoder projection must find its source layers; returns how many nodes it
    rewrote. The model is written next to the old one and renamed over it (the builder's external data file too).
    """
    import onnx_ir as ir

    src = check_source(source)
    t = _Tensors(Path(source))
    path = stage / model_name
    model = ir.load(str(path))
    rewritten = 0
    for node in model.graph:
        if node.op_type != "MatMulNBits":
            continue
        found = _node_sources(str(node.name))
        if found is None:
            continue
        layer_id, names = found
        prefixes = [f"model.layers.{layer_id}.{n}" for n in names]
        missing = [p for p in prefixes if f"{p}.qweight" not in t]
        if missing:
            raise KizamiError(f"ONNX node {node.name} needs {', '.join(missing)}, which the --from-build folder does "
                              "not quantize; re-quantize without skipping those layers")
        layer = _concat([_read_linear(t, p, src) for p in prefixes])
        n, k = layer.q.shape
        if (int(node.attributes["N"].value), int(node.attributes["K"].value)) != (n, k):
            raise KizamiError(f"ONNX node {node.name} is {node.attributes['N'].value}x{node.attributes['K'].value} but "
                              f"its source layers are {n}x{k}; the --from-build folder is not from this model")
        packed = pack_matmulnbits(layer)
        _set_inputs(model, node, packed)
        node.attributes["block_size"] = ir.AttrInt64("block_size", packed["block_size"])
        node.attributes["bits"] = ir.AttrInt64("bits", layer.bits)
        rewritten += 1
    _save(model, path)
    return rewritten


def _set_inputs(model: Any, node: Any, packed: Mapping[str, Any]) -> None:
    """Point ``node``'s weight inputs (1: qweight, 2: scales, 3: qzeros, 4: g_idx) at ``packed``'s arrays."""
    import onnx_ir as ir

    old_scales = node.inputs[2].const_value
    scale_dtype = old_scales.dtype.numpy() if old_scales is not None else np.float32  # the build's I/O precision
    base = node.name[1:].replace("/", ".")
    arrays = [np.asarray(packed["qweight"], np.uint8), np.asarray(packed["scales"], scale_dtype),
              np.asarray(packed["qzeros"], np.uint8)]
    if packed["g_idx"] is not None:
        arrays.append(np.asarray(packed["g_idx"], np.int32))
    values = []
    for key, array in zip(("qweight", "scales", "qzeros", "g_idx"), arrays, strict=False):
        name = f"{base}.kizami.{key}"
        model.graph.initializers.pop(name, None)
        value = ir.Value(name=name, shape=ir.Shape(array.shape), type=ir.TensorType(ir.DataType.from_numpy(array.dtype)),
                         const_value=ir.tensor(array, name=name))
        model.graph.register_initializer(value)
        values.append(value)
    stale = [v for v in node.inputs[1:] if v is not None]
    node.resize_inputs(1 + len(values))
    for i, value in enumerate(values, start=1):
        node.replace_input_with(i, value)
    for v in stale:  # drop the builder's arrays once nothing uses them
        if not v.uses() and v.name in model.graph.initializers:
            model.graph.initializers.pop(v.name)


def _save(model: Any, path: Path) -> None:
    """Write ``model`` beside ``path`` under the same file names, then move it over (the old data file stays mapped
    until then)."""
    import onnx_ir as ir

    tmp = path.parent / ".kizami-rewrite"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    data = path.name + ".data"
    ir.save(model, str(tmp / path.name), external_data=data)
    os.replace(tmp / data, path.parent / data)
    os.replace(tmp / path.name, path)
    shutil.rmtree(tmp, ignore_errors=True)
