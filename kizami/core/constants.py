"""Tables every layer reads: GGUF tensor types and their bits, llama.cpp's file types, the per-layer weight kinds.

Data only, and it imports nothing from kizami (as gguf-py's ``constants.py``): the GGUF reader, the converter side,
the mixed-precision chooser and the reports all take their tables from here, so drawing a report never has to reach
a converter for a table.
"""

from __future__ import annotations

__all__ = ["GGML_TYPES", "TENSOR_TYPES", "FILE_TYPE_BITS", "LAYER_KINDS", "HF_LAYER_KINDS"]

# ggml type id -> (name, weights per block, bytes per block), for the types kizami writes (ggml.h, ggml.c type traits)
GGML_TYPES: dict[int, tuple[str, int, int]] = {
    0: ("f32", 1, 4), 1: ("f16", 1, 2), 2: ("q4_0", 32, 18), 3: ("q4_1", 32, 20), 6: ("q5_0", 32, 22),
    7: ("q5_1", 32, 24), 8: ("q8_0", 32, 34), 10: ("q2_k", 256, 84), 11: ("q3_k", 256, 110), 12: ("q4_k", 256, 144),
    13: ("q5_k", 256, 176), 14: ("q6_k", 256, 210), 20: ("iq4_nl", 32, 18), 23: ("iq4_xs", 256, 136), 30: ("bf16", 1, 2)}

# The ggml types one tensor can be given (llama-quantize --tensor-type) -> bits per weight, from the table above
TENSOR_TYPES: dict[str, float] = {name: 8 * size / block for name, block, size in GGML_TYPES.values()
                                  if name in ("q2_k", "q3_k", "iq4_xs", "q4_0", "q4_k", "q5_0", "q5_k", "q6_k", "q8_0", "f16")}

# llama.cpp's whole-file types -> bits per weight over the file, approximately (a K-quant mix gives a few tensors more
# bits than its name says); for estimates before any work, never for a reported size
FILE_TYPE_BITS = {"f32": 32.0, "f16": 16.0, "bf16": 16.0, "q8_0": 8.5, "q6_k": 6.6, "q5_k_m": 5.7, "q4_k_m": 4.9,
                  "q4_0": 4.5, "iq4_xs": 4.3, "q3_k_m": 3.9, "q2_k": 3.0}

# The 2-D weights of one decoder layer, by their GGUF names, and the transformers modules they come from
LAYER_KINDS = ("attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down")
HF_LAYER_KINDS = {"attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                  "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                  "ffn_down": "mlp.down_proj"}
