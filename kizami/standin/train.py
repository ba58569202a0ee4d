"""Train the stand-in models from scratch on the built-in corpus (calibration split only): ``tiny-fcj`` and
``tiny-codellama`` (see ``train_codellama``; ``train_named`` picks one by name).

What it copies from Llama 3.1 Future Code Ja 8B: the Llama 3.1 config (GQA, ``llama3`` rope scaling, rope θ 500000,
untied embeddings, bf16 weights), a byte-level BPE tokenizer with Llama 3's pre-tokenizer regex and special tokens,
the three FIM tokens, a chat template, and FIM training in both PSM and SPM order with ``<|begin_of_text|>`` at the
start of the prefix. Hidden sizes are multiples of 256 so every GGUF K-quant applies.

Held-out documents of the default recipe are never trained on, so evaluation on them is honest.
"""

from __future__ import annotations

import json
import logging
import math
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kizami.calib_data.build import load_documents
from kizami.calib_data.recipe import load_recipe

log = logging.getLogger(__name__)

__all__ = ["LLAMA3_PATTERN", "ROPE_PARAMETERS", "SPECIAL_TOKENS", "TrainConfig", "CodeLlamaTrainConfig",
           "CODELLAMA_PIECES", "STANDINS", "build_codellama_tokenizer", "save_bf16_llama", "train_tokenizer", "train_standin",
           "train_codellama", "train_named"]

LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
# Llama 3's special-token block (256 tokens after the BPE vocabulary), with the FIM tokens in reserved slots.
_NAMED = {0: "<|begin_of_text|>", 1: "<|end_of_text|>", 4: "<|finetune_right_pad_id|>", 6: "<|start_header_id|>",
          7: "<|end_header_id|>", 8: "<|eom_id|>", 9: "<|eot_id|>", 10: "<|python_tag|>",
          11: "<|fim_prefix|>", 12: "<|fim_middle|>", 13: "<|fim_suffix|>"}
SPECIAL_TOKENS = [_NAMED.get(i, "") for i in range(256)]
_reserved = iter(range(256))
SPECIAL_TOKENS = [t or f"<|reserved_special_token_{next(_reserved)}|>" for t in SPECIAL_TOKENS]
# Llama 3.1's rope: θ 500000 with ``llama3`` scaling from an 8k original context.
ROPE_PARAMETERS = {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 8.0, "low_freq_factor": 1.0,
                   "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}

CHAT_TEMPLATE = (
    "{{- bos_token }}"
    "{%- for message in messages %}"
    "{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n' + message['content'] | trim + '<|eot_id|>' }}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrainConfig:
    vocab_size: int = 8192  # BPE merges + 256 special tokens
    hidden_size: int = 256
    intermediate_size: int = 768
    layers: int = 4
    heads: int = 8
    kv_heads: int = 2
    seq_len: int = 256
    batch_size: int = 8
    steps: int = 2000
    lr: float = 2e-3
    fim_rate: float = 0.5
    seed: int = 0
    threads: int = 2
    extra_code: str = ""  # optional folder of extra code to train on (e.g. Python's own library sources)
    extra_code_bytes: int = 1_000_000


def train_tokenizer(texts: list[str], vocab_size: int, out: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size - len(SPECIAL_TOKENS), show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), min_frequency=2)
    tok.train_from_iterator(texts, trainer)
    tok.add_special_tokens(SPECIAL_TOKENS)
    bos = SPECIAL_TOKENS[0]
    tok.post_processor = processors.TemplateProcessing(
        single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, tok.token_to_id(bos))])
    out.mkdir(parents=True, exist_ok=True)
    tok.save(str(out / "tokenizer.json"))
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>",
        "pad_token": "<|finetune_right_pad_id|>", "clean_up_tokenization_spaces": False,
        "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 131072, "chat_template": CHAT_TEMPLATE,
    }, indent=2, ensure_ascii=False) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "pad_token": "<|finetune_right_pad_id|>"}, indent=2) + "\n")


def save_bf16_llama(model, out: Path) -> None:
    """Write ``model`` to ``out`` in bf16: config.json, model.safetensors (no pickle) and generation_config.json.

    config.json carries both transformers 5's ``rope_parameters`` and the top-level ``rope_theta`` / ``rope_scaling``
    that older consumers (transformers 4.x, llama.cpp's converter, vLLM) read.
    """
    import torch
    from safetensors.torch import save_file

    model = model.to(torch.bfloat16)
    config = model.config
    config_dict = config.to_dict()
    config.save_pretrained(out)
    data = json.loads((out / "config.json").read_text())
    rope = dict(data.get("rope_parameters") or config_dict.get("rope_parameters"))
    data["rope_theta"] = rope.pop("rope_theta")
    # Plain rope (Llama 2 / Code Llama) is written as no scaling at all, as those models' own configs do.
    data["rope_scaling"] = None if rope.get("rope_type", "default") == "default" else rope
    data["dtype"] = "bfloat16"
    (out / "config.json").write_text(json.dumps(data, indent=2) + "\n")
    state = {k: v.contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "model.safetensors"), metadata={"format": "pt"})
    (out / "generation_config.json").write_text(json.dumps({
        "bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id, "do_sample": True,
        "temperature": 0.2, "top_p": 0.95}, indent=2) + "\n")


def _fim_example(text: str, rng: random.Random, tok_ids: Callable[[str], list[int]], sp: dict[str, int]) -> list[int]:
    """One FIM training sequence, PSM or SPM, middle a whole line half the time (as in single-line evaluation)."""
    lines = text.split("\n")
    if len(lines) > 3 and rng.random() < 0.5:
        i = rng.randrange(1, len(lines) - 1)
        prefix, middle, suffix = "\n".join(lines[:i]) + "\n", lines[i] + "\n", "\n".join(lines[i + 1:])
    else:
        a, b = sorted(rng.sample(range(len(text) + 1), 2))
        prefix, middle, suffix = text[:a], text[a:b], text[b:]
    # Middles never start with a newline: move it to the end of the prefix.
    while middle.startswith("\n"):
        prefix, middle = prefix + "\n", middle[1:]
    pre = [sp["<|begin_of_text|>"], *tok_ids(prefix)]
    suf, mid = tok_ids(suffix), tok_ids(middle)
    if rng.random() < 0.5:  # PSM
        seq = [sp["<|fim_prefix|>"], *pre, sp["<|fim_suffix|>"], *suf, sp["<|fim_middle|>"], *mid]
    else:  # SPM
        seq = [sp["<|fim_prefix|>"], sp["<|fim_suffix|>"], *suf, sp["<|fim_middle|>"], *pre, *mid]
    return [*seq, sp["<|end_of_text|>"]]


def _chunks(text: str, max_chars: int) -> list[str]:
    out, cur = [], ""
    for line in text.split("\n"):
        if cur and len(cur) + len(line) + 1 > max_chars:
            out.append(cur)
            cur = ""
        cur += line + "\n"
    if cur.strip():
        out.append(cur)
    return out


def _extra_code(folder: str, budget: int, rng: random.Random) -> list[str]:
    files = sorted(Path(folder).rglob("*.py"))
    rng.shuffle(files)
    texts, used = [], 0
    for f in files:
        if used >= budget or "test" in f.parts:
            continue
        try:
            t = f.read_text(encoding="utf-8")
        except (UnicodeDecodeError, OSError):
            continue
        texts.append(t)
        used += len(t)
    return texts


def _fit(model: Any, source: Iterator[list[int]], *, steps: int, lr: float, shape: Callable[[int], tuple[int, int]],
         progress: Callable[[int, int, float], None] | None) -> tuple[float, int]:
    """AdamW with warm-up and cosine decay on packed rows of ``source``; ``shape(step)`` = (rows, tokens per row).
    Returns the last loss and the tokens seen."""
    import torch

    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.1)
    warmup = max(1, steps // 20)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / steps))))
    buf: list[int] = []
    loss, seen, start = float("nan"), 0, time.time()
    model.train()
    for step in range(steps):
        n_rows, seq_len = shape(step)
        rows = []
        for _ in range(n_rows):
            while len(buf) < seq_len:
                buf.extend(next(source))
            rows.append(buf[:seq_len])
            buf = buf[seq_len:]
        batch = torch.tensor(rows)
        seen += batch.numel()
        loss_t = model(input_ids=batch, labels=batch).loss
        loss_t.backward()
        loss = loss_t.item()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if progress:
            progress(step + 1, steps, loss)
        if step % 20 == 0:
            log.info("step %d/%d len %d loss %.3f (%.0fs)", step, steps, seq_len, loss, time.time() - start)
    return loss, seen


def train_standin(out: Path, cfg: TrainConfig = TrainConfig(), progress: Callable[[int, int, float], None] | None = None) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    calib_docs, _heldout, _ = load_documents(load_recipe("default"))
    texts = [d.text for docs in calib_docs.values() for d in docs]
    if cfg.extra_code:
        texts += _extra_code(cfg.extra_code, cfg.extra_code_bytes, rng)
    out = Path(out)
    train_tokenizer(texts, cfg.vocab_size, out)
    tok = PreTrainedTokenizerFast(tokenizer_file=str(out / "tokenizer.json"))
    sp: dict[str, int] = {t: int(tok.convert_tokens_to_ids(t)) for t in SPECIAL_TOKENS[:14]}  # type: ignore[arg-type]

    def ids(s: str) -> list[int]:
        return list(tok(s, add_special_tokens=False)["input_ids"])

    pieces = [c for t in texts for c in _chunks(t, 900)]
    config = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.hidden_size // cfg.heads, max_position_embeddings=131072, rms_norm_eps=1e-5, hidden_act="silu",
        rope_parameters=dict(ROPE_PARAMETERS),
        tie_word_embeddings=False, bos_token_id=sp["<|begin_of_text|>"], eos_token_id=[sp["<|end_of_text|>"], sp["<|eom_id|>"], sp["<|eot_id|>"]],
        attention_bias=False, mlp_bias=False, architectures=["LlamaForCausalLM"],
    )
    model = LlamaForCausalLM(config)

    def stream() -> Iterator[list[int]]:
        while True:
            rng.shuffle(pieces)
            for p in pieces:
                if rng.random() < cfg.fim_rate:
                    yield _fim_example(p, rng, ids, sp)
                else:
                    yield [sp["<|begin_of_text|>"], *ids(p), sp["<|end_of_text|>"]]

    start = time.time()
    loss, _seen = _fit(model, stream(), steps=cfg.steps, lr=cfg.lr, shape=lambda _step: (cfg.batch_size, cfg.seq_len),
                       progress=progress)

    save_bf16_llama(model, out)
    (out / "TRAINING.json").write_text(json.dumps({"config": asdict(cfg), "final_loss": round(loss, 4),
                                                   "seconds": round(time.time() - start),
                                                   "command": "kizami standin train -o DIR"}, indent=2) + "\n")
    return out


# --- tiny-codellama ---------------------------------------------------------------------------------------------
# Code Llama's tokenizer is Llama 2's 32,000 SentencePiece pieces plus 16 more (vocabulary 32,016), the infilling
# pieces at 32007-32010 (its HF tokenizer_config lists them as special tokens); the other 12 are fillers here.
CODELLAMA_PIECES = {32007: "▁<PRE>", 32008: "▁<SUF>", 32009: "▁<MID>", 32010: "▁<EOT>"}
CODELLAMA_EOT = 32010
_CODELLAMA_VOCAB = 32016
# A Llama-2-style SentencePiece BPE model (32,000 pieces, byte fallback) from the mistral-common package, Apache-2.0.
SP_SOURCE = ("mistral_common", "data/tokenizer.model.v1")


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeLlamaTrainConfig:
    hidden_size: int = 256  # the vocabulary dominates the size (2 x 32,016 x 256 untied); keep the rest small
    intermediate_size: int = 768
    layers: int = 2
    heads: int = 4
    kv_heads: int = 4  # Code Llama 7B/13B use plain multi-head attention
    rope_theta: float = 1_000_000.0
    max_position_embeddings: int = 16384
    # One 1,024-token window a step, then one 4,096-token window a step for the last ``long_fraction`` of the steps
    # (Code Llama's long-context phase also comes last). On one core, more small steps beat fewer big ones.
    tokens_per_step: int = 1024
    short_len: int = 1024
    long_len: int = 4096
    long_fraction: float = 0.05
    steps: int = 400
    lr: float = 3e-3
    fim_rate: float = 0.5  # of documents; each FIM example is PSM or SPM with equal odds
    seed: int = 0
    threads: int = 1

    def __post_init__(self) -> None:
        if self.tokens_per_step % self.short_len:
            raise ValueError(f"tokens_per_step {self.tokens_per_step} must be a multiple of short_len {self.short_len}")
        if self.long_len > self.max_position_embeddings:
            raise ValueError(f"long_len {self.long_len} exceeds max_position_embeddings {self.max_position_embeddings}")


def _sp_source_info() -> dict[str, str]:
    import hashlib
    from importlib import metadata, resources

    data = (resources.files(SP_SOURCE[0]) / SP_SOURCE[1]).read_bytes()
    return {"package": f"mistral-common {metadata.version('mistral-common')}", "file": f"{SP_SOURCE[0]}/{SP_SOURCE[1]}",
            "license": "Apache-2.0 (the package's licenses/LICENSE file)", "sha256": hashlib.sha256(data).hexdigest()}


def _sp_tokenizer_json(proto: Any) -> Any:
    """A ``tokenizers`` twin of a SentencePiece BPE model that gives the same ids on plain text.

    Merges are every split of a piece into two pieces, ranked by the merged piece's score as SentencePiece ranks
    them (its whitespace runs score -1e9, so they merge last; ranking by id instead splits ``"    return"`` wrongly).
    The normalizer always prepends ``▁`` as SentencePiece's dummy prefix does, even before a leading space.
    """
    from sentencepiece import sentencepiece_model_pb2

    sp_pb2: Any = sentencepiece_model_pb2  # generated protobuf code: no type information
    from tokenizers import AddedToken, Tokenizer, decoders, models, normalizers, processors

    kind = sp_pb2.ModelProto.SentencePiece
    vocab = {p.piece: i for i, p in enumerate(proto.pieces)}
    normal = {p.piece: (-p.score, i) for i, p in enumerate(proto.pieces) if p.type == kind.NORMAL}
    merges = [(piece[:k], piece[k:]) for piece, _ in sorted(normal.items(), key=lambda kv: kv[1])
              for k in range(1, len(piece)) if piece[:k] in normal and piece[k:] in normal]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", byte_fallback=True, fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(p.piece, special=True, normalized=False)
                            for p in proto.pieces if p.type in (kind.CONTROL, kind.UNKNOWN)])
    tok.post_processor = processors.TemplateProcessing(single="<s>:0 $A:0", pair="<s>:0 $A:0 <s>:1 $B:1",
                                                       special_tokens=[("<s>", 1)])
    return tok


def build_codellama_tokenizer(out: Path) -> Path:
    """tokenizer.model (32,016 pieces) + tokenizer.json and configs, laid out as Code Llama's tokenizer."""
    from importlib import resources

    from sentencepiece import sentencepiece_model_pb2

    sp_pb2: Any = sentencepiece_model_pb2  # generated protobuf code: no type information

    proto = sp_pb2.ModelProto()
    proto.ParseFromString((resources.files(SP_SOURCE[0]) / SP_SOURCE[1]).read_bytes())
    if len(proto.pieces) != 32000:
        raise RuntimeError(f"{SP_SOURCE[1]} has {len(proto.pieces)} pieces, expected Llama 2's 32,000")
    for i in range(32000, _CODELLAMA_VOCAB):
        piece = proto.pieces.add()
        piece.piece, piece.score = CODELLAMA_PIECES.get(i, f"<unused_{i - 32000}>"), 0.0
        piece.type = sp_pb2.ModelProto.SentencePiece.CONTROL  # never produced from text; looked up by id
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "tokenizer.model").write_bytes(proto.SerializeToString())
    _sp_tokenizer_json(proto).save(str(out / "tokenizer.json"))
    specials = list(CODELLAMA_PIECES.values())
    (out / "tokenizer_config.json").write_text(json.dumps({
        "tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
        "additional_special_tokens": specials, "clean_up_tokenization_spaces": False, "add_bos_token": True,
        "add_eos_token": False, "model_input_names": ["input_ids", "attention_mask"], "model_max_length": 16384,
    }, indent=2, ensure_ascii=False) + "\n")
    (out / "special_tokens_map.json").write_text(json.dumps({
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "additional_special_tokens": specials},
        indent=2, ensure_ascii=False) + "\n")
    return out


def _codellama_example(text: str, rng: random.Random, enc: Callable[[str], list[int]],
                       lookup: Callable[[str], int | None], eot: int) -> list[int]:
    """One FIM sequence in the ``codellama`` dialect (PSM or SPM), the middle without a leading space, then EOT."""
    from kizami.core.fim_dialects import MODES, encode_without_space, get

    lines = text.split("\n")
    if len(lines) > 3 and rng.random() < 0.5:  # a whole line as the middle, as single-line infilling asks
        i = rng.randrange(1, len(lines) - 1)
        prefix, middle, suffix = "\n".join(lines[:i]) + "\n", lines[i] + "\n", "\n".join(lines[i + 1:])
    else:
        a, b = sorted(rng.sample(range(len(text) + 1), 2))
        prefix, middle, suffix = text[:a], text[a:b], text[b:]
    prompt = get("codellama").prompt_ids(enc, lookup, prefix, suffix, rng.choice(MODES))
    return [*prompt, *encode_without_space(enc, middle), eot]


def train_codellama(out: Path, cfg: CodeLlamaTrainConfig = CodeLlamaTrainConfig(),
                    progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Train ``tiny-codellama``: Code Llama's shape (rope θ 1e6, 16k positions, 32,016-token SentencePiece
    vocabulary with its infilling tokens) at toy size, on the calibration split, with PSM + SPM FIM up to 4k tokens."""
    import torch
    from sentencepiece import SentencePieceProcessor
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = random.Random(cfg.seed)
    calib_docs, _heldout, _ = load_documents(load_recipe("default"))
    texts = [d.text for docs in calib_docs.values() for d in docs]
    out = build_codellama_tokenizer(Path(out))
    sp = SentencePieceProcessor(model_file=str(out / "tokenizer.model"))

    def lookup(token: str) -> int | None:
        i = sp.piece_to_id(token)
        return None if i == sp.unk_id() and token != "<unk>" else i

    enc: Callable[[str], list[int]] = sp.encode
    bos, eos, eot = sp.bos_id(), sp.eos_id(), CODELLAMA_EOT
    config = LlamaConfig(
        vocab_size=_CODELLAMA_VOCAB, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers, num_attention_heads=cfg.heads, num_key_value_heads=cfg.kv_heads,
        head_dim=cfg.hidden_size // cfg.heads, max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=1e-5, hidden_act="silu", rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        tie_word_embeddings=False, bos_token_id=bos, eos_token_id=eos, attention_bias=False, mlp_bias=False,
        architectures=["LlamaForCausalLM"],
    )
    model = LlamaForCausalLM(config)

    def stream() -> Iterator[list[int]]:
        while True:
            rng.shuffle(texts)
            for t in texts:
                if rng.random() < cfg.fim_rate:
                    yield _codellama_example(t, rng, enc, lookup, eot)
                else:
                    yield [bos, *enc(t), eos]

    long_from = cfg.steps - int(cfg.steps * cfg.long_fraction)

    def shape(step: int) -> tuple[int, int]:  # the last steps see long windows: long-context fine-tuning in small
        seq_len = cfg.long_len if step >= long_from else cfg.short_len
        return max(1, cfg.tokens_per_step // seq_len), seq_len

    start = time.time()
    loss, seen = _fit(model, stream(), steps=cfg.steps, lr=cfg.lr, shape=shape, progress=progress)

    save_bf16_llama(model, out)
    (out / "generation_config.json").write_text(json.dumps({  # HF generate stops at </s> and at <EOT> (infilling)
        "bos_token_id": bos, "eos_token_id": [eos, eot], "do_sample": True, "temperature": 0.2, "top_p": 0.95},
        indent=2) + "\n")
    (out / "TRAINING.json").write_text(json.dumps({
        "model": "tiny-codellama", "config": asdict(cfg), "final_loss": round(loss, 4),
        "seconds": round(time.time() - start), "tokens_seen": seen,
        "tokenizer_source": _sp_source_info(), "added_pieces": {str(k): v for k, v in CODELLAMA_PIECES.items()},
        "fim": "codellama dialect (kizami.core.fim_dialects), PSM and SPM with equal odds",
        "command": "kizami standin train --model tiny-codellama -o DIR"}, indent=2, ensure_ascii=False) + "\n")
    return out


STANDINS: dict[str, Callable[..., Path]] = {"tiny-fcj": train_standin, "tiny-codellama": train_codellama}


def train_named(name: str, out: Path, *, steps: int | None = None, extra_code: str = "",
                progress: Callable[[int, int, float], None] | None = None) -> Path:
    """Train the stand-in called ``name`` into ``out``; ``steps`` overrides its default number of steps."""
    from kizami.core.errors import UnknownName

    if name == "tiny-fcj":
        cfg = TrainConfig(extra_code=extra_code, **({"steps": steps} if steps else {}))
        return train_standin(out, cfg, progress)
    if name == "tiny-codellama":
        return train_codellama(out, CodeLlamaTrainConfig(**({"steps": steps} if steps else {})), progress)
    raise UnknownName(f"unknown stand-in {name!r}. Available: {', '.join(STANDINS)}")
