"""The real Llama 3.1 vocabulary rebuilt from quicktok-v1's data, and the random-weight tiny Llama that uses it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.engines import require

quicktok = require("quicktok")

from kizami.standin.real_vocab import FIM_IDS, build_llama3_tokenizer, make_random_llama  # noqa: E402

TEXTS = [
    "Hello, world! This is a plain English sentence.",
    "日本語のテキスト",
    "def f(x):\n    if x:\n\treturn x  # tab\n        pass\n",
    "12345678 and 3.14159, 1,000,000",
    "emoji 🙂🚀 and ZWJ 👩‍💻",
    "mixed  \t whitespace \n\n\r\n   end   ",
    "I've 'RE 're don't WE'LL",
    "class Foo<T> { std::vector<int> v{1, 2}; }; // C++",
    "Grüße, naïve café — «quotes»",
    "  leading spaces\n\n\n\ttrailing\t",
]
FIM_PSM = "<|fim_prefix|><|begin_of_text|>def f():\n<|fim_suffix|>    return 1\n<|fim_middle|>"


@pytest.fixture(scope="module")
def tok_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_llama3_tokenizer(tmp_path_factory.mktemp("llama3-tok"))


@pytest.fixture(scope="module")
def tok(tok_dir: Path):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(tok_dir), local_files_only=True)


@pytest.mark.parametrize("text", TEXTS)
def test_matches_quicktok(tok, text: str) -> None:
    assert tok(text, add_special_tokens=False).input_ids == quicktok.get_encoding("llama3").encode_ordinary(text)


def test_matches_tiktoken_where_quicktok_does_not(tok) -> None:
    # "しない" is one of the 678 Llama 3 tokens that BPE never reaches from smaller parts. tiktoken (Meta's reference)
    # and the HF merges give 存在 | し + 0xE3 0x81 | 0xAA | い; quicktok 0.4.0 gives 存在 | しない ([48706, 113878]).
    assert tok("存在しない", add_special_tokens=False).input_ids == [48706, 21105, 103, 16995]


def test_special_tokens(tok) -> None:
    assert len(tok) == 128256
    assert tok.convert_tokens_to_ids("<|begin_of_text|>") == 128000 == tok.bos_token_id
    assert tok.convert_tokens_to_ids("<|eot_id|>") == 128009 == tok.eos_token_id
    assert tok.convert_tokens_to_ids("<|finetune_right_pad_id|>") == 128004 == tok.pad_token_id
    for name, i in FIM_IDS.items():
        assert tok(name, add_special_tokens=False).input_ids == [i]
    assert FIM_IDS == {"<|fim_prefix|>": 128011, "<|fim_middle|>": 128012, "<|fim_suffix|>": 128013}
    assert tok("x").input_ids[0] == 128000  # the post-processor adds <|begin_of_text|>


def test_fim_prompt_round_trip(tok) -> None:
    ids = tok(FIM_PSM, add_special_tokens=False).input_ids
    assert ids[:2] == [FIM_IDS["<|fim_prefix|>"], 128000]
    assert FIM_IDS["<|fim_suffix|>"] in ids and ids[-1] == FIM_IDS["<|fim_middle|>"]
    assert tok.decode(ids) == FIM_PSM


def test_random_llama_loads(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = make_random_llama(tmp_path / "tiny-llama3")
    assert not list(out.glob("*.bin"))
    model = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True, trust_remote_code=False)
    tok = AutoTokenizer.from_pretrained(str(out), local_files_only=True)
    assert model.config.rope_parameters["rope_type"] == "llama3" and model.dtype == torch.bfloat16
    ids = tok("def hello():\n    return 'こんにちは'", return_tensors="pt").input_ids
    with torch.no_grad():
        logits = model(input_ids=ids).logits
    assert logits.shape == (1, ids.shape[1], 128256)
    assert torch.isfinite(logits.float()).all()
