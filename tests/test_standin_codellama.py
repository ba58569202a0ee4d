"""The shipped stand-in ``tiny-codellama``: Code Llama's shape, its FIM dialect, and a model that learned something."""

from __future__ import annotations

import json
import math
from collections import Counter
from pathlib import Path

import pytest

from kizami.core import fim_dialects
from kizami.standin import resolve_model, standin_path

UNIFORM = math.log(32016)  # nats per token of a model that knows nothing (10.37)


@pytest.fixture(scope="module")
def folder() -> Path:
    path = standin_path("tiny-codellama")
    assert resolve_model("tiny-codellama") == path
    return path


@pytest.fixture(scope="module")
def tokenizer(folder: Path):  # noqa: ANN201
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


def _heldout_code(n: int) -> list[str]:
    from kizami.calib_data.build import load_documents
    from kizami.calib_data.recipe import load_recipe

    recipe = load_recipe("default")
    code = {s.name for s in recipe.sources if s.domain == "code"}
    _calib, heldout, _ = load_documents(recipe)
    return [d.text for name in sorted(code) for d in heldout[name]][:n]


def test_config_is_code_llama_shaped(folder: Path) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["architectures"] == ["LlamaForCausalLM"] and cfg["dtype"] == "bfloat16"
    assert cfg["rope_theta"] == 1_000_000.0 and cfg["rope_scaling"] is None
    assert cfg["rope_parameters"] == {"rope_type": "default", "rope_theta": 1_000_000.0}
    assert cfg["max_position_embeddings"] == 16384 and cfg["vocab_size"] == 32016
    assert cfg["tie_word_embeddings"] is False and cfg["hidden_size"] % 256 == 0 and cfg["intermediate_size"] % 256 == 0
    assert json.loads((folder / "tokenizer_config.json").read_text())["tokenizer_class"] == "PreTrainedTokenizerFast"
    training = json.loads((folder / "TRAINING.json").read_text())
    assert training["tokenizer_source"]["file"] == "mistral_common/data/tokenizer.model.v1"
    assert training["tokenizer_source"]["license"].startswith("Apache-2.0")
    assert training["config"]["long_len"] == 4096
    assert not list(folder.glob("*.bin")) and not list(folder.glob("*.pt"))  # safetensors only


def test_tokenizer_has_code_llama_fim_tokens(tokenizer) -> None:  # noqa: ANN001
    vocab = tokenizer.get_vocab()
    assert fim_dialects.detect(vocab) is fim_dialects.get("codellama")
    assert [vocab[t] for t in ("▁<PRE>", "▁<SUF>", "▁<MID>", "▁<EOT>")] == [32007, 32008, 32009, 32010]
    assert (tokenizer.bos_token_id, tokenizer.eos_token_id, len(tokenizer)) == (1, 2, 32016)


def test_tokenizer_json_matches_tokenizer_model(folder: Path, tokenizer) -> None:  # noqa: ANN001
    """The HF tokenizer gives SentencePiece's own ids (llama.cpp's converter reads tokenizer.model)."""
    import sentencepiece

    sp = sentencepiece.SentencePieceProcessor(model_file=str(folder / "tokenizer.model"))
    assert sp.get_piece_size() == 32016 and sp.piece_to_id("▁<PRE>") == 32007
    for text in [*_heldout_code(6), "    return x\n", " leading space", "日本語 コメント\n\t\tx = 1  # 注"]:
        assert tokenizer(text, add_special_tokens=False)["input_ids"] == sp.encode(text)


def test_heldout_code_loss_well_below_uniform(folder: Path, tokenizer) -> None:  # noqa: ANN001
    """Held-out code (never trained on): far below uniform, and better than a unigram model of the training split."""
    import torch
    from transformers import AutoModelForCausalLM

    from kizami.calib_data.build import load_documents
    from kizami.calib_data.recipe import load_recipe

    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    assert model.config.rope_parameters["rope_theta"] == 1_000_000.0
    encode = lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
    counts = Counter(i for docs in load_documents(load_recipe("default"))[0].values() for d in docs for i in encode(d.text))
    total = sum(counts.values())
    losses, unigram = [], []
    with torch.no_grad():
        for text in _heldout_code(8):
            ids = [1, *encode(text)[:1023]]
            x = torch.tensor([ids])
            losses.append(model(input_ids=x, labels=x).loss.item())
            unigram.append(-sum(math.log((counts[i] + 0.5) / (total + 0.5 * 32016)) for i in ids[1:]) / (len(ids) - 1))
    mean, base = sum(losses) / len(losses), sum(unigram) / len(unigram)
    # Measured at release: 6.22 nats/token; unigram 6.89; uniform 10.37 (a few minutes of training on ~100k tokens).
    assert mean < 0.65 * UNIFORM, f"held-out code loss {mean:.2f} nats/token vs uniform {UNIFORM:.2f}"
    assert mean < base - 0.4, f"held-out code loss {mean:.2f} does not beat a unigram model ({base:.2f})"
