"""FIM dialects: how each code-model family writes a fill-in-the-middle prompt, one small registered unit each.

A dialect is data: which special tokens play which role, in which order they go around the prefix and the suffix
(PSM and, where the authors publish one, SPM), how the text pieces are encoded, and where generation stops.
``prompt_ids`` builds token ids from special-token *ids* plus text pieces encoded by a callable, so the same code serves
Hugging Face, llama.cpp and onnxruntime-genai tokenizers, and a model whose vocabulary lacks the tokens is refused
(``check``) instead of being prompted with text that only looks like them.

Sources (read, not copied):
- ``llama3-fim``: the Llama 3.1 Future Code Ja model card as summarised in DESIGN.md and today's
  ``kizami.runtime.metrics.fim.fim_prompt_text`` (``<|begin_of_text|>`` opens the prefix content; one leading newline
  dropped from the suffix; tokenized with ``add_special_tokens=False``).
- ``codellama``: facebookresearch/codellama ``llama/generation.py`` ``infilling_prompt_tokens`` (PSM = BOS, PRE,
  prefix, SUF, suffix, MID; SPM = BOS, PRE, SUF, suffix, MID, prefix; the prefix encoded normally, the suffix
  "without an implicit leading space") and ``llama/tokenizer.py`` (pieces ``▁<PRE>`` ``▁<SUF>`` ``▁<MID>`` ``▁<EOT>``;
  ``encode_infilling`` drops the encoding of a sentinel character put in front; text infilling stops at EOT).
  Hugging Face's Code Llama ``tokenizer_config.json`` lists the same ``▁``-prefixed tokens (ids 32007-32010).
- ``starcoder``: bigcode-project/Megatron-LM ``megatron/data/gpt_dataset.py`` ``permute`` (PSM: ``<fim_prefix>``
  prefix ``<fim_suffix>`` suffix ``<fim_middle>``; SPM: ``<fim_prefix><fim_suffix>`` suffix ``<fim_middle>`` prefix);
  no BOS; documents end with ``<|endoftext|>``.
- ``qwen-coder``: QwenLM/Qwen2.5-Coder ``examples/Qwen2.5-Coder.md`` (PSM only, no BOS; ``<|repo_name|>`` and
  ``<|file_sep|>`` for repository context; its stop list: ``<|endoftext|>``, ``<|im_end|>`` and the FIM/repo tokens).
- ``deepseek-coder``: deepseek-ai/DeepSeek-Coder ``README.md`` "Code Insertion" (``<｜fim▁begin｜>`` prefix
  ``<｜fim▁hole｜>`` suffix ``<｜fim▁end｜>``, tokenized with the tokenizer's BOS in front; PSM only).
- ``codestral``: mistral-common ``InstructTokenizerV3.encode_fim`` (BOS, ``[SUFFIX]``, suffix, ``[PREFIX]``, prefix:
  suffix first, so kizami names its one format ``spm``; the suffix encoded without the implicit leading space).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Union

from kizami.core.errors import KizamiError, UnknownName

__all__ = ["Dialect", "DIALECTS", "MODES", "GGUF_KEYS", "TokenLookup", "check", "detect", "encode_without_space", "get",
           "names", "for_model"]

MODES = ("psm", "spm")
PREFIX, SUFFIX = "{prefix}", "{suffix}"
# role -> GGUF metadata key llama.cpp reads for it.
GGUF_KEYS = {"pre": "tokenizer.ggml.fim_pre_token_id", "suf": "tokenizer.ggml.fim_suf_token_id",
             "mid": "tokenizer.ggml.fim_mid_token_id", "pad": "tokenizer.ggml.fim_pad_token_id",
             "rep": "tokenizer.ggml.fim_rep_token_id", "sep": "tokenizer.ggml.fim_sep_token_id"}
# A character SentencePiece vocabularies do not merge with its neighbours: encoding it in front of a text and
# dropping its ids removes the implicit leading space (Code Llama's reference does the same with this character).
_SENTINEL = "\u263a"

Tokenize = Callable[[str], Sequence[int]]
# A token's text -> its id, or None when the vocabulary lacks it. A mapping (e.g. ``tokenizer.get_vocab()``) works too.
TokenLookup = Union[Callable[[str], "int | None"], Mapping[str, int]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """One FIM format. Token roles hold alternative spellings; the first one the vocabulary has is used."""

    name: str
    family: str
    pre: tuple[str, ...]
    suf: tuple[str, ...]
    mid: tuple[str, ...] = ()
    bos: tuple[str, ...] = ()  # sequence start the format puts first (not the tokenizer's automatic BOS)
    lead: tuple[str, ...] = ()  # a token that opens the prefix *content* (llama3-fim's <|begin_of_text|>)
    pad: tuple[str, ...] = ()
    rep: tuple[str, ...] = ()
    sep: tuple[str, ...] = ()
    stop: tuple[str, ...]
    psm: tuple[str, ...] = ()  # layout: role names and the PREFIX / SUFFIX placeholders
    spm: tuple[str, ...] = ()
    required: tuple[str, ...] = ()  # roles outside the layouts that identify the family (e.g. qwen's repo tokens)
    drop_suffix_newline: bool = False
    suffix_without_space: bool = False  # SentencePiece: no implicit leading space on the suffix

    def __post_init__(self) -> None:
        if not (self.psm or self.spm):
            raise ValueError(f"dialect {self.name!r} needs a psm or an spm layout")
        for layout in (self.psm, self.spm):
            for part in layout:
                if part not in (PREFIX, SUFFIX) and not getattr(self, part):
                    raise ValueError(f"dialect {self.name!r}: layout role {part!r} has no token")

    @property
    def modes(self) -> tuple[str, ...]:
        return tuple(m for m in MODES if self.layout(m))

    @property
    def stop_tokens(self) -> tuple[str, ...]:
        return self.stop

    def layout(self, mode: str) -> tuple[str, ...]:
        if mode not in MODES:
            raise KizamiError(f"FIM mode must be one of {', '.join(MODES)}, got {mode!r}")
        return self.psm if mode == "psm" else self.spm

    def required_roles(self) -> tuple[str, ...]:
        roles = [p for p in (*self.psm, *self.spm) if p not in (PREFIX, SUFFIX)]
        return tuple(dict.fromkeys([*roles, *self.required]))

    def resolve(self, token_id: TokenLookup) -> dict[str, int]:
        """Role -> id for every role whose token the vocabulary has."""
        look = _lookup(token_id)
        out: dict[str, int] = {}
        for role in ("pre", "suf", "mid", "bos", "lead", "pad", "rep", "sep"):
            for spelling in getattr(self, role):
                if (i := look(spelling)) is not None:
                    out[role] = i
                    break
        return out

    def stop_ids(self, token_id: TokenLookup) -> list[int]:
        look = _lookup(token_id)
        return [i for t in self.stop if (i := look(t)) is not None]

    def prompt_ids(self, tokenize: Tokenize, token_id: TokenLookup, prefix: str, suffix: str, mode: str) -> list[int]:
        """The prompt as ids. ``tokenize`` encodes plain text with no special tokens added (no BOS)."""
        layout = self.layout(mode)
        if not layout:
            raise KizamiError(f"FIM dialect {self.name!r} has no {mode.upper()} format (its authors publish only "
                              f"{', '.join(m.upper() for m in self.modes)}); evaluate it in mode {self.modes[0]!r}")
        ids = check(self, token_id)
        if self.drop_suffix_newline and suffix.startswith("\n"):
            suffix = suffix[1:]  # middles never start with a newline in training
        out: list[int] = []
        for part in layout:
            if part == PREFIX:
                out += tokenize(prefix)
            elif part == SUFFIX:
                out += encode_without_space(tokenize, suffix) if self.suffix_without_space else tokenize(suffix)
            else:
                out.append(ids[part])
        return out

    def gguf_keys(self, token_id: TokenLookup) -> dict[str, int]:
        """``tokenizer.ggml.fim_*_token_id`` metadata for the roles this model has tokens for."""
        ids = self.resolve(token_id)
        return {key: ids[role] for role, key in GGUF_KEYS.items() if role in ids}

    def template(self, mode: str) -> str:
        return "".join(p if p in (PREFIX, SUFFIX) else getattr(self, p)[0] for p in self.layout(mode))

    def card_text(self) -> str:
        """A short model-card paragraph: the dialect, its prompt template(s) and its stop tokens."""
        lines = [f"Fill-in-the-middle dialect `{self.name}` ({self.family}); prompt ids are built from the "
                 "special-token ids below, never by tokenizing their text."]
        lines += [f"- {m.upper()}: `{self.template(m)}`" for m in self.modes]
        notes = []
        if self.drop_suffix_newline:
            notes.append("one leading newline is removed from the suffix")
        if self.suffix_without_space:
            notes.append("the suffix is encoded without SentencePiece's implicit leading space")
        if notes:
            lines.append(f"- Note: {'; '.join(notes)}.")
        lines.append(f"- Generation stops at {', '.join(f'`{t}`' for t in self.stop)}.")
        return "\n".join(lines)


def _lookup(token_id: TokenLookup) -> Callable[[str], int | None]:
    return token_id.get if isinstance(token_id, Mapping) else token_id


def encode_without_space(tokenize: Tokenize, text: str) -> list[int]:
    """``text`` encoded as it reads after other tokens: without SentencePiece's implicit leading space."""
    if not text:
        return []
    head, full = list(tokenize(_SENTINEL)), list(tokenize(_SENTINEL + text))
    if full[:len(head)] != head:  # the sentinel merged into the text: the trick does not apply to this vocabulary
        raise KizamiError(f"cannot encode the FIM suffix without a leading space: {_SENTINEL!r} merges with "
                          f"{text[:10]!r} in this tokenizer")
    return full[len(head):]


_LLAMA3 = Dialect(
    name="llama3-fim", family="Llama 3.1 Future Code Ja and Llama 3 models with <|fim_*|> tokens",
    pre=("<|fim_prefix|>",), suf=("<|fim_suffix|>",), mid=("<|fim_middle|>",), lead=("<|begin_of_text|>",),
    stop=("<|eot_id|>", "<|end_of_text|>"), drop_suffix_newline=True,
    psm=("pre", "lead", PREFIX, "suf", SUFFIX, "mid"), spm=("pre", "suf", SUFFIX, "mid", "lead", PREFIX))
_CODELLAMA = Dialect(
    name="codellama", family="Code Llama 7B/13B base and instruct",
    pre=("▁<PRE>", "<PRE>"), suf=("▁<SUF>", "<SUF>"), mid=("▁<MID>", "<MID>"), bos=("<s>",),
    stop=("▁<EOT>", "<EOT>", "</s>"), suffix_without_space=True,
    psm=("bos", "pre", PREFIX, "suf", SUFFIX, "mid"), spm=("bos", "pre", "suf", SUFFIX, "mid", PREFIX))
_STARCODER = Dialect(
    name="starcoder", family="StarCoder, StarCoder2, SantaCoder and other BigCode models",
    pre=("<fim_prefix>", "<fim-prefix>"), suf=("<fim_suffix>", "<fim-suffix>"), mid=("<fim_middle>", "<fim-middle>"),
    pad=("<fim_pad>", "<fim-pad>"), rep=("<reponame>", "<repo_name>"), sep=("<file_sep>",),
    stop=("<|endoftext|>", "<file_sep>"),
    psm=("pre", PREFIX, "suf", SUFFIX, "mid"), spm=("pre", "suf", SUFFIX, "mid", PREFIX))
_QWEN = Dialect(
    name="qwen-coder", family="Qwen2.5-Coder and CodeQwen",
    pre=("<|fim_prefix|>",), suf=("<|fim_suffix|>",), mid=("<|fim_middle|>",), pad=("<|fim_pad|>",),
    rep=("<|repo_name|>",), sep=("<|file_sep|>",), required=("pad", "rep", "sep"),
    stop=("<|endoftext|>", "<|im_end|>", "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>", "<|fim_prefix|>",
          "<|fim_suffix|>", "<|fim_middle|>"),
    psm=("pre", PREFIX, "suf", SUFFIX, "mid"))
_DEEPSEEK = Dialect(
    name="deepseek-coder", family="DeepSeek-Coder base models",
    pre=("<｜fim▁begin｜>",), suf=("<｜fim▁hole｜>",), mid=("<｜fim▁end｜>",), bos=("<｜begin▁of▁sentence｜>",),
    stop=("<｜end▁of▁sentence｜>", "<|EOT|>"),
    psm=("bos", "pre", PREFIX, "suf", SUFFIX, "mid"))
_CODESTRAL = Dialect(
    name="codestral", family="Codestral and Mistral models with [SUFFIX]/[PREFIX] control tokens",
    pre=("[PREFIX]",), suf=("[SUFFIX]",), mid=("[MIDDLE]",), bos=("<s>",), stop=("</s>",),
    suffix_without_space=True, spm=("bos", "suf", SUFFIX, "pre", PREFIX))

DIALECTS: dict[str, Dialect] = {d.name: d for d in (_LLAMA3, _CODELLAMA, _STARCODER, _QWEN, _DEEPSEEK, _CODESTRAL)}


def names() -> list[str]:
    return list(DIALECTS)


def get(name: str) -> Dialect:
    if name not in DIALECTS:
        close = difflib.get_close_matches(name, DIALECTS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise UnknownName(f"unknown FIM dialect {name!r}.{hint} Available: {', '.join(DIALECTS)}")
    return DIALECTS[name]


def _has(vocab: TokenLookup | Collection[str]) -> Callable[[str], bool]:
    if isinstance(vocab, Mapping) or callable(vocab):
        look = _lookup(vocab)
        return lambda t: look(t) is not None
    tokens = set(vocab)
    return lambda t: t in tokens


def _missing(dialect: Dialect, has: Callable[[str], bool]) -> list[str]:
    lacking = [getattr(dialect, r)[0] for r in dialect.required_roles() if not any(map(has, getattr(dialect, r)))]
    if not any(map(has, dialect.stop)):
        lacking.append(" or ".join(dialect.stop))
    return lacking


def detect(vocab: TokenLookup | Collection[str]) -> Dialect | None:
    """The dialect whose tokens the vocabulary all has; the most specific one (most required tokens) wins.

    ``vocab``: a token -> id mapping (``tokenizer.get_vocab()``), a lookup callable, or the special tokens' texts.
    """
    has = _has(vocab)
    found = [d for d in DIALECTS.values() if not _missing(d, has)]
    return max(found, key=lambda d: len(d.required_roles()), default=None)


def check(dialect: Dialect, token_id: TokenLookup) -> dict[str, int]:
    """Role -> id for ``dialect``, or a ``KizamiError`` saying what the tokenizer lacks and what would fit."""
    has = _has(token_id)
    lacking = _missing(dialect, has)
    if not lacking:
        return dialect.resolve(token_id)
    if not any(has(t) for d in DIALECTS.values() for r in ("pre", "suf", "mid") for t in getattr(d, r)):
        raise KizamiError(f"model has no FIM tokens (none of the {', '.join(DIALECTS)} dialects' tokens are in its "
                          "vocabulary): FIM evaluation needs a model trained for infilling; drop the fim task")
    other = detect(token_id)
    fix = f"use --fim-dialect {other.name}" if other else f"known dialects: {', '.join(DIALECTS)}"
    raise KizamiError(f"the tokenizer lacks FIM dialect {dialect.name!r}'s tokens {', '.join(lacking)}; {fix}")


def for_model(name: str, vocab: TokenLookup | Collection[str]) -> Dialect | None:
    """The dialect to prompt a model with: ``name`` (``--fim-dialect``), checked against the vocabulary, or the one
    detected from it; None when the model has no FIM tokens and none was asked for."""
    if not name:
        return detect(vocab)
    dialect = get(name)
    if isinstance(vocab, Collection) and not isinstance(vocab, Mapping):
        vocab = {t: i for i, t in enumerate(vocab)}
    check(dialect, vocab)
    return dialect
