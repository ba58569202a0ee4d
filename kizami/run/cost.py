"""What each step of a run costs at a model's size: the memory that must fit and the wall time, from the cost model
that ``bench/scale.py`` fitted on this project's 2-core, 24 GiB CPU machine (``bench/results/scale.json``,
docs/scale.md). A Ray run asks for this memory per task, so that two steps that together do not fit never share a
node; the wall times give the whole run's ETA before a step of that kind has finished, and the makespan prediction.

The fit is ``cost = fixed + per_layer * N`` on synthetic checkpoints of the 8B's exact width (hidden 4096, FFN 14336,
32/8 heads, 128,256-token vocabulary) with N = 1, 2, 4 layers. For another model, the layer term is scaled by the
parameters of one decoder layer and the fixed term, less a process's floor (``FLOOR_GIB``: Python, torch and a
tokenizer, the calibration step's whole RSS), by the parameters of the embedding tables, which is what the fixed part
holds at that width (the ONNX export quantizes the 128k-row lm_head in fp32; GGUF quantizes both tables in every
type). Memory is anonymous memory where it was measured (what must be in RAM; a memory-mapped checkpoint's pages are
not counted, the kernel drops them), RSS elsewhere. It is a scheduling promise, not a limit: a step that needs more
is not stopped by Ray. Below 3 B parameters kizami computes the bf16 reference and evaluates bf16 in fp32 on a CPU
(``runtime/backends/torch.py``): those two steps then also count 4 bytes per parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FLOOR_GIB", "STEPS", "Shape", "Need", "model_shape", "need", "build_kind", "eval_kind", "for_model"]

GIB = 1 << 30
FLOOR_GIB = 0.6
_FLOOR_S = 5.0

# (memory GiB fixed, per layer), (wall s fixed, per layer), fitted at the 8B's width; the source rows of
# bench/results/scale.json (the second sweep) are named in the comments
STEPS: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "calib": ((0.606, 0.0), (6.2, 0.18)),  # calib (RSS)
    "gptq": ((3.984, 0.0564), (10.2, 117.6)),  # gptq (anonymous)
    "awq": ((4.442, 0.0011), (54.1, 156.5)),  # awq
    "gguf": ((3.528, 0.0), (211.9, 27.75)),  # gguf: f16 + imatrix + three types
    "onnx": ((6.4, 0.1655), (52.9, 9.57)),  # onnx int4 cpu
    "reference": ((0.725, 0.0062), (12.5, 3.63)),  # reference-bf16
    "eval-torch": ((0.647, 0.1537), (40.5, 23.1)),  # eval-gptq (GPTQ, AWQ and other transformers builds)
    "eval-gguf": ((0.769, 0.0887), (22.2, 9.39)),  # eval-gguf-q4_k_m
    "eval-onnx": ((1.204, 0.1883), (42.4, 13.2)),  # eval-onnx
    "eval-bf16": ((0.725, 0.0062), (40.5, 23.1)),  # the reference's memory, a torch evaluation's time
}
_UPCAST = {"reference", "eval-bf16"}
_UPCAST_BELOW = 3e9  # parameters: kizami's fp32 upcast on a 24 GiB CPU machine
# the 8B's shape, which the fit was measured at
_LAYER_8B = 2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336
_EMBED_8B = 2 * 128256 * 4096


@dataclass(frozen=True, slots=True)
class Shape:
    layers: int
    layer_params: int
    embed_params: int

    @property
    def params(self) -> int:
        return self.layers * self.layer_params + self.embed_params


@dataclass(frozen=True, slots=True)
class Need:
    memory_bytes: int
    wall_s: float


def model_shape(config: dict[str, Any]) -> Shape:
    """Layers and parameters per layer and in the embedding tables, from a Llama-family ``config.json``."""
    h = int(config["hidden_size"])
    heads = int(config.get("num_attention_heads") or 1)
    kv = int(config.get("num_key_value_heads") or heads)
    head_dim = int(config.get("head_dim") or h // heads)
    ffn = int(config.get("intermediate_size") or 4 * h)
    layer = h * heads * head_dim * 2 + h * kv * head_dim * 2 + 3 * h * ffn
    tables = 1 if config.get("tie_word_embeddings") else 2
    return Shape(layers=int(config["num_hidden_layers"]), layer_params=layer,
                 embed_params=tables * int(config["vocab_size"]) * h)


def need(kind: str, shape: Shape) -> Need:
    """The memory (bytes) and wall time (s) of one step of ``kind`` (a key of ``STEPS``) for a model of ``shape``."""
    (m_fixed, m_layer), (w_fixed, w_layer) = STEPS[kind]
    layer_scale = shape.layers * shape.layer_params / _LAYER_8B
    embed_scale = shape.embed_params / _EMBED_8B
    gib = FLOOR_GIB + max(m_fixed - FLOOR_GIB, 0.0) * embed_scale + m_layer * layer_scale
    if kind in _UPCAST and shape.params < _UPCAST_BELOW:
        gib += 4 * shape.params / GIB
    wall = _FLOOR_S + max(w_fixed - _FLOOR_S, 0.0) * embed_scale + w_layer * layer_scale
    return Need(memory_bytes=int(max(gib, FLOOR_GIB) * GIB), wall_s=round(wall, 1))


def build_kind(format_name: str) -> str:
    """The cost-model step of a build format; a format the model does not know is costed as the hungriest build."""
    return format_name if format_name in STEPS else "onnx"


def eval_kind(backend: str) -> str:
    """The cost-model step of evaluating a build opened by ``backend`` (a ``Format.backend``)."""
    return {"llama-cpp": "eval-gguf", "onnx": "eval-onnx"}.get(backend, "eval-torch")


def for_model(model: Path) -> Shape:
    from kizami.core.checkpoint import read_config

    return model_shape(read_config(model))
