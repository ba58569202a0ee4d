"""FIM dialects: each one's prompt ids, for a fixed prefix and suffix, against ids written out from a real vocabulary.

Expected prompts are lists of token *strings* looked up in the tokenizer's vocabulary (plus a few literal ids), so
they check the layout and the text encoding independently of the code under test.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kizami.core import fim_dialects as fd
from kizami.core.errors import KizamiError, UnknownName
from tests.engines import require

PREFIX = "def add(a, b):\n    return"
SUFFIX = "\nprint(add(1, 2))\n"
FCJ = Path(__file__).resolve().parents[1] / "kizami" / "standin" / "tiny-fcj" / "tokenizer.json"
# GPT-2 byte-level pieces of PREFIX and of SUFFIX without its first newline, the same in Llama 3 and tiny-fcj.
LLAMA3_PREFIX = ["def", "Ġadd", "(a", ",", "Ġb", "):Ċ", "ĠĠĠ", "Ġreturn"]
# SentencePiece pieces (Llama 2 / Mistral style): the prefix with the implicit leading space, the suffix without.
SP_PREFIX = ["▁def", "▁add", "(", "a", ",", "▁b", "):", "<0x0A>", "▁▁▁", "▁return"]
SP_SUFFIX_NO_SPACE = ["<0x0A>", "print", "(", "add", "(", "1", ",", "▁", "2", "))", "<0x0A>"]


def _hf(path: Path):  # noqa: ANN202 - a tokenizers.Tokenizer
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(path))
    return (lambda s: tok.encode(s, add_special_tokens=False).ids), tok.get_vocab(with_added_tokens=True)


def _sp(name: str):  # noqa: ANN202 - (tokenize, lookup, processor)
    require("mistral_common")
    from importlib import resources

    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(resources.files("mistral_common") / "data" / name))

    def lookup(t: str) -> int | None:
        i = sp.piece_to_id(t)
        return None if i == sp.unk_id() else i

    return sp.encode, lookup, sp


@pytest.fixture(scope="module")
def codellama_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require("mistral_common")
    from kizami.standin.train import build_codellama_tokenizer

    return build_codellama_tokenizer(tmp_path_factory.mktemp("codellama-tok"))


# --- llama3-fim ---------------------------------------------------------------------------------------------------
def test_llama3_fim_tiny_fcj_psm_spm() -> None:
    tokenize, vocab = _hf(FCJ)
    d = fd.get("llama3-fim")
    suffix = ["print", "(", "add", "(", "1", ",", "Ġ", "2", "))Ċ"]  # one leading newline dropped
    psm = ["<|fim_prefix|>", "<|begin_of_text|>", *LLAMA3_PREFIX, "<|fim_suffix|>", *suffix, "<|fim_middle|>"]
    spm = ["<|fim_prefix|>", "<|fim_suffix|>", *suffix, "<|fim_middle|>", "<|begin_of_text|>", *LLAMA3_PREFIX]
    assert d.prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "psm") == [vocab[t] for t in psm]
    assert d.prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "spm") == [vocab[t] for t in spm]
    assert [vocab[t] for t in ("<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>")] == [7947, 7948, 7949]
    assert d.stop_ids(vocab) == [vocab["<|eot_id|>"], vocab["<|end_of_text|>"]]


def test_llama3_fim_matches_the_model_cards_text_prompt() -> None:
    """The dialect's ids equal the model card's prompt text tokenized with add_special_tokens=False."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(FCJ))
    tokenize, vocab = _hf(FCJ)
    suffix = SUFFIX[1:] if SUFFIX.startswith("\n") else SUFFIX  # one leading newline dropped
    texts = {"psm": f"<|fim_prefix|><|begin_of_text|>{PREFIX}<|fim_suffix|>{suffix}<|fim_middle|>",
             "spm": f"<|fim_prefix|><|fim_suffix|>{suffix}<|fim_middle|><|begin_of_text|>{PREFIX}"}
    for mode, text in texts.items():
        assert fd.get("llama3-fim").prompt_ids(tokenize, vocab, PREFIX, SUFFIX, mode) == \
            tok.encode(text, add_special_tokens=False).ids


def test_llama3_fim_real_llama3_vocabulary(tmp_path: Path) -> None:
    require("quicktok")
    from kizami.standin.real_vocab import build_llama3_tokenizer

    tokenize, vocab = _hf(build_llama3_tokenizer(tmp_path) / "tokenizer.json")
    ids = fd.get("llama3-fim").prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "psm")
    # Llama 3.1 ids: FIM tokens in reserved slots 128011-128013, <|begin_of_text|> 128000; text from its 128k ranks.
    assert ids == [128011, 128000, 755, 923, 2948, 11, 293, 997, 262, 471, 128013,
                   1374, 26995, 7, 16, 11, 220, 17, 1192, 128012]
    assert fd.detect(vocab) is fd.get("llama3-fim")
    assert fd.get("llama3-fim").gguf_keys(vocab) == {"tokenizer.ggml.fim_pre_token_id": 128011,
                                                    "tokenizer.ggml.fim_suf_token_id": 128013,
                                                    "tokenizer.ggml.fim_mid_token_id": 128012}


# --- codellama ----------------------------------------------------------------------------------------------------
def test_codellama_psm_spm_sentencepiece(codellama_dir: Path) -> None:
    tokenize, lookup, sp = _sp("tokenizer.model.v1")
    added = {"▁<PRE>": 32007, "▁<SUF>": 32008, "▁<MID>": 32009, "▁<EOT>": 32010}  # Code Llama's ids
    vocab = {**{sp.id_to_piece(i): i for i in range(sp.get_piece_size())}, **added}
    d = fd.get("codellama")
    pre, suf = [vocab[p] for p in SP_PREFIX], [vocab[p] for p in SP_SUFFIX_NO_SPACE]
    assert d.prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "psm") == [1, 32007, *pre, 32008, *suf, 32009]
    assert d.prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "spm") == [1, 32007, 32008, *suf, 32009, *pre]
    # The suffix drops exactly SentencePiece's dummy-prefix piece, as the reference's sentinel trick does.
    assert sp.encode(SUFFIX)[0] == vocab["▁"] and sp.encode(SUFFIX)[1:] == suf
    assert d.stop_ids(vocab) == [32010, 2]
    # The stand-in's HF tokenizer (tokenizer.json) gives the same prompt as SentencePiece itself.
    hf_tokenize, hf_vocab = _hf(codellama_dir / "tokenizer.json")
    assert d.prompt_ids(hf_tokenize, hf_vocab, PREFIX, SUFFIX, "psm") == [1, 32007, *pre, 32008, *suf, 32009]
    assert fd.detect(hf_vocab) is d
    assert d.gguf_keys(hf_vocab) == {"tokenizer.ggml.fim_pre_token_id": 32007, "tokenizer.ggml.fim_suf_token_id": 32008,
                                     "tokenizer.ggml.fim_mid_token_id": 32009}


def test_codellama_empty_suffix_and_prefix() -> None:
    tokenize, _lookup, _sp_ = _sp("tokenizer.model.v1")
    vocab = {"<s>": 1, "</s>": 2, "▁<PRE>": 32007, "▁<SUF>": 32008, "▁<MID>": 32009, "▁<EOT>": 32010}
    assert fd.get("codellama").prompt_ids(tokenize, vocab, "", "", "psm") == [1, 32007, 32008, 32009]


# --- codestral ----------------------------------------------------------------------------------------------------
def test_codestral_matches_mistral_common() -> None:
    v3 = "mistral_instruct_tokenizer_240323.model.v3"
    tokenize, lookup, sp = _sp(v3)
    d = fd.get("codestral")
    pre = [sp.piece_to_id(p) for p in SP_PREFIX]
    suf = [sp.piece_to_id(p) for p in SP_SUFFIX_NO_SPACE]
    ids = d.prompt_ids(tokenize, lookup, PREFIX, SUFFIX, "spm")
    assert ids == [1, 13, *suf, 11, *pre]  # <s> [SUFFIX] suffix [PREFIX] prefix; [PREFIX]=11, [SUFFIX]=13 in v3
    from importlib import resources

    from mistral_common.protocol.fim.request import FIMRequest
    from mistral_common.tokens.tokenizers.mistral import MistralTokenizer

    ref = MistralTokenizer.from_file(str(resources.files("mistral_common") / "data" / v3))
    assert ref.encode_fim(FIMRequest(prompt=PREFIX, suffix=SUFFIX)).tokens == ids
    assert d.modes == ("spm",)
    with pytest.raises(KizamiError, match="no PSM format"):
        d.prompt_ids(tokenize, lookup, PREFIX, SUFFIX, "psm")
    assert d.gguf_keys(lookup) == {"tokenizer.ggml.fim_pre_token_id": 11, "tokenizer.ggml.fim_suf_token_id": 13,
                                   "tokenizer.ggml.fim_mid_token_id": 12}
    assert fd.detect(lookup) is d


# --- starcoder, qwen-coder, deepseek-coder: small word-level tokenizers with each family's special tokens --------
WORDS = ["def", "add", "(", "a", ",", "b", ")", ":", "return", "print", "1", "2"]  # ids 1-12; specials from 13


def _word_tokenizer(specials: list[str]):  # noqa: ANN202 - (tokenize, vocab)
    from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

    tok = Tokenizer(models.WordLevel(vocab={w: i for i, w in enumerate(["<unk>", *WORDS])}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in specials])
    return (lambda s: tok.encode(s, add_special_tokens=False).ids), tok.get_vocab(with_added_tokens=True)


def _words(text: str, vocab: dict[str, int]) -> list[int]:
    return [vocab[w] for w in text.split()]


def test_starcoder_psm_spm() -> None:
    specials = ["<|endoftext|>", "<fim_prefix>", "<fim_middle>", "<fim_suffix>", "<fim_pad>", "<reponame>", "<file_sep>"]
    tokenize, v = _word_tokenizer(specials)
    pre, suf = _words("def add ( a , b ) : return", v), _words("print ( add ( 1 , 2 ) )", v)
    assert [v[t] for t in specials] == list(range(13, 20))
    d = fd.get("starcoder")
    assert d.prompt_ids(tokenize, v, PREFIX, SUFFIX, "psm") == [14, *pre, 16, *suf, 15]
    assert d.prompt_ids(tokenize, v, PREFIX, SUFFIX, "spm") == [14, 16, *suf, 15, *pre]  # BigCode's SPM variant
    assert fd.detect(v) is d and d.stop_ids(v) == [13, 19]
    assert d.gguf_keys(v) == {"tokenizer.ggml.fim_pre_token_id": 14, "tokenizer.ggml.fim_suf_token_id": 16,
                              "tokenizer.ggml.fim_mid_token_id": 15, "tokenizer.ggml.fim_pad_token_id": 17,
                              "tokenizer.ggml.fim_rep_token_id": 18, "tokenizer.ggml.fim_sep_token_id": 19}


def test_qwen_coder_psm_and_six_gguf_keys() -> None:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>",
                "<|fim_pad|>", "<|repo_name|>", "<|file_sep|>"]
    tokenize, v = _word_tokenizer(specials)
    pre, suf = _words("def add ( a , b ) : return", v), _words("print ( add ( 1 , 2 ) )", v)
    d = fd.get("qwen-coder")
    assert d.prompt_ids(tokenize, v, PREFIX, SUFFIX, "psm") == [16, *pre, 18, *suf, 17]
    assert d.modes == ("psm",)
    # Qwen has <|fim_*|> like llama3-fim, but not <|begin_of_text|>; its repo tokens make it the specific match.
    assert fd.detect(v) is d
    assert set(d.gguf_keys(v).values()) == {16, 17, 18, 19, 20, 21}
    assert d.stop_ids(v)[:2] == [13, 15]


def test_deepseek_coder_psm_with_bos() -> None:
    specials = ["<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>", "<｜fim▁hole｜>", "<｜fim▁begin｜>", "<｜fim▁end｜>"]
    tokenize, v = _word_tokenizer(specials)
    pre, suf = _words("def add ( a , b ) : return", v), _words("print ( add ( 1 , 2 ) )", v)
    d = fd.get("deepseek-coder")
    assert d.prompt_ids(tokenize, v, PREFIX, SUFFIX, "psm") == [13, 16, *pre, 15, *suf, 17]
    assert fd.detect(v) is d and d.stop_ids(v) == [14]
    with pytest.raises(KizamiError, match="no SPM format"):
        d.prompt_ids(tokenize, v, PREFIX, SUFFIX, "spm")


# --- detection, names, missing tokens -----------------------------------------------------------------------------
def test_detect_from_special_token_texts() -> None:
    assert fd.detect(["<|begin_of_text|>", "<|end_of_text|>", "<|fim_prefix|>", "<|fim_middle|>",
                      "<|fim_suffix|>"]).name == "llama3-fim"
    assert fd.detect(["<s>", "</s>", "▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>"]).name == "codellama"
    assert fd.detect(["<|endoftext|>", "<fim_prefix>", "<fim_suffix>", "<fim_middle>"]).name == "starcoder"
    assert fd.detect(["<|endoftext|>", "<|fim_prefix|>", "<|fim_suffix|>"]) is None  # incomplete: no middle token
    assert fd.detect(["<s>", "</s>", "<unk>"]) is None


def test_unknown_dialect_name_suggests() -> None:
    with pytest.raises(UnknownName, match=r"unknown FIM dialect 'codelama'\. Did you mean 'codellama'\?.*Available"):
        fd.get("codelama")
    assert fd.names() == ["llama3-fim", "codellama", "starcoder", "qwen-coder", "deepseek-coder", "codestral"]


def test_model_without_fim_tokens_is_refused() -> None:
    tokenize, lookup, _sp_ = _sp("tokenizer.model.v1")  # Mistral 7B v0.1's tokenizer: no FIM tokens at all
    assert fd.detect(lookup) is None
    for name in fd.names():
        with pytest.raises(KizamiError, match="model has no FIM tokens"):
            fd.get(name).prompt_ids(tokenize, lookup, PREFIX, SUFFIX, fd.get(name).modes[0])


def test_wrong_dialect_names_missing_tokens_and_the_fit() -> None:
    tokenize, vocab = _hf(FCJ)
    with pytest.raises(KizamiError, match=r"lacks FIM dialect 'codellama'.*▁<PRE>.*use --fim-dialect llama3-fim"):
        fd.get("codellama").prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "psm")
    # Text that only looks like a token is never used: the vocabulary decides, whatever the tokenizer would do.
    with pytest.raises(KizamiError, match="qwen-coder"):
        fd.check(fd.get("qwen-coder"), vocab)
    with pytest.raises(KizamiError, match="FIM mode must be one of"):
        fd.get("llama3-fim").prompt_ids(tokenize, vocab, PREFIX, SUFFIX, "pms")


def test_card_text_shows_templates_and_stops() -> None:
    text = fd.get("codellama").card_text()
    assert "`codellama`" in text and "PSM: `<s>▁<PRE>{prefix}▁<SUF>{suffix}▁<MID>`" in text
    assert "SPM: `<s>▁<PRE>▁<SUF>{suffix}▁<MID>{prefix}`" in text and "`▁<EOT>`" in text
    assert "leading newline" in fd.get("llama3-fim").card_text()
    assert "SPM: `<s>[SUFFIX]{suffix}[PREFIX]{prefix}`" in fd.get("codestral").card_text()


def test_module_imports_no_engine() -> None:
    heavy = {"torch", "transformers", "llama_cpp", "onnxruntime", "onnxruntime_genai"}
    assert not heavy & set(vars(fd))  # no engine bound at module level
    src = Path(fd.__file__).read_text(encoding="utf-8")
    assert not any(f"import {m}" in src for m in heavy) and sys.modules.get("kizami.core.fim_dialects") is fd
