"""Synthetic full-width checkpoints: the exact shape, Hub-style shards, a real tokenizer, logits in a sane range."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kizami.core.checkpoint import check_hf_dir, count_parameters
from kizami.core.errors import KizamiError
from kizami.standin.synth import SHAPES, synth, tensor_shapes


def test_one_full_width_layer_loads_and_gives_sane_logits(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM

    # Code Llama 7B's width with one layer: 0.5 B parameters, 0.9 GiB, in shards of at most 256 MiB
    out = synth(tmp_path / "cl", shape="codellama-7b", layers=1, shard_bytes=256 << 20)
    files = sorted(p.name for p in out.glob("*.safetensors"))
    index = json.loads((out / "model.safetensors.index.json").read_text())
    assert files == sorted(set(index["weight_map"].values())) and files[0].endswith(f"-of-{len(files):05d}.safetensors")
    expected = sum(int(torch.tensor(s).prod()) for s in tensor_shapes(SHAPES["codellama-7b"], 1).values())
    assert count_parameters(check_hf_dir(out)) == expected == 2 * 32016 * 4096 + 202_383_360 + 4096
    model = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32)
    ids = torch.tensor([[1, 822, 285, 29898, 29876, 1125, 13, 1678]])
    with torch.no_grad():
        logits = model(ids).logits[0]
    # N(0, 0.02) weights: the final norm makes the hidden state unit-RMS, so logits have std ≈ 0.02·√4096 ≈ 1.3
    assert 0.8 < float(logits.std()) < 2.0 and torch.isfinite(logits).all()


def test_bad_input_fails_before_writing(tmp_path: Path) -> None:
    with pytest.raises(KizamiError, match="between 1 and 128"):
        synth(tmp_path / "a", layers=0)
    with pytest.raises(KizamiError, match="Did you mean 'llama-3.1-8b'"):
        synth(tmp_path / "b", shape="llama-3.1-8")
    assert not any(tmp_path.iterdir())
